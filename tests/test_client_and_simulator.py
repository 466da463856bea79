"""The DMS client against the simulator over real loopback HTTP, and the simulator behaving like the cloud: it
verifies signatures exactly (with its own implementation of the algorithm), serves each region on its own
port, and refuses what the gateway refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from bgtask_mcp import facts
from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.dms.errors import APIError, TaskNotFound
from bgtask_mcp.dms.signer import AkSkSigner
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, region_env, sim_env
from .support import ManualClock

TASKS = f"/v2/{data.SIM_PROJECT_ID}/instances/{data.KAFKA.id}/tasks"
P = data.SIM_PROJECT_ID


def signed_get(
    sim: Simulator, path: str, *, url: str | None = None, signer: AkSkSigner | None = None, **headers: str
) -> httpx2.Response:
    signer = signer or AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    with httpx2.Client(auth=signer, timeout=10) as http:
        return http.get((url or sim.url) + path, headers=headers)


def client_of(sim: Simulator, **extra: str) -> DMSClient:
    settings = fast_settings(sim_env(sim, **extra))
    return DMSClient(
        settings.default_cloud, settings.limits, overrides=dict(settings.endpoint_overrides), clock=ManualClock()
    )


# -- the client -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_show_list_and_progress(simulator: Simulator) -> None:
    async with client_of(simulator) as client:
        shown = await client.show_task("eu-de", P, data.KAFKA.id, data.EXAMPLE_TASK_ID)
        assert shown.task_count == 1 and shown.tasks[0].name == "bindInstancePublicIp"
        page = await client.list_tasks("eu-de", P, data.ARCHIVE.id, start=241, limit=100)
        assert page.task_count == 250 and len(page.tasks) == 10
        live = simulator.create_task(instance_id=data.KAFKA.id, manual=True, progress_steps=["a", "b"])
        simulator.steer(live, status="EXECUTING", progress=40)
        progress = await client.task_progress("eu-de", P, data.KAFKA.id, live)
        assert progress is not None and progress.percentage == 40
        assert [(s.name, s.status) for s in progress.steps] == [("a", "IN_PROGRESS"), ("b", "WAITING")]
        assert progress.steps[0].start_ms and progress.steps[0].end_ms == 0 and progress.steps[1].start_ms == 0
        assert await client.task_progress("eu-de", P, data.KAFKA.id, data.EXAMPLE_TASK_ID) is None  # no scale-out
        with pytest.raises(TaskNotFound):
            await client.show_task("eu-de", P, data.KAFKA.id, "0" * 32)


@pytest.mark.anyio
async def test_the_wire_keeps_what_the_api_sent(simulator: Simulator) -> None:
    async with client_of(simulator) as client:
        task = (await client.show_task("eu-de", P, data.KAFKA.id, data.PASSWORD_TASK_ID)).tasks[0]
    assert "Sup3r-S3cret!" in (task.params or "")  # decoding and masking happen above the client


@pytest.mark.anyio
async def test_temporary_credentials_are_signed_and_sent(simulator: Simulator) -> None:
    async with client_of(simulator, BGTASK_SECURITY_TOKEN="FAKE-SECURITY-TOKEN-0001") as client:
        assert (await client.show_task("eu-de", P, data.KAFKA.id, data.EXAMPLE_TASK_ID)).tasks


@pytest.mark.anyio
async def test_each_region_goes_to_its_own_endpoint(simulator: Simulator) -> None:
    async with client_of(simulator) as client:
        nl = await client.project("eu-nl")
        listed = await client.list_instances("eu-nl", nl, "kafka")
    assert {i.name for i in listed.instances} == {"prod-events", "analytics-stream"}
    assert nl == data.EU_NL.project_id
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.EU_NL.project_id)
    wrong = signed_get(simulator, f"/v2/{nl}/instances?engine=kafka", signer=signer)  # eu-nl's project at eu-de
    assert (wrong.status_code, wrong.json()["error_code"]) == (400, "DMS.00400002")


@pytest.mark.anyio
async def test_client_errors_are_typed(simulator: Simulator) -> None:
    async with client_of(simulator) as client:
        with pytest.raises(APIError) as caught:
            await client.show_task("eu-de", P, "00000000-0000-4000-8000-000000000000", data.EXAMPLE_TASK_ID)
    err = caught.value
    assert (err.status, err.error_code) == (404, "DMS.00404022")
    assert err.request_id and len(err.request_id) == 32
    assert not err.retryable


# -- the simulator checks requests like the gateway -----------------------------------------------------------


def test_unsigned_request_is_refused(simulator: Simulator) -> None:
    response = httpx2.get(simulator.url + TASKS, timeout=10)
    assert response.status_code == 401
    assert response.json()["error_code"] == "APIG.0301"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_signed_request_is_accepted_and_marked_simulated(simulator: Simulator) -> None:
    response = signed_get(simulator, TASKS + "?limit=3&start=1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["X-Dms-Simulator"] == "1"  # said in a header: the body holds only the API's fields
    assert set(body) == {"task_count", "tasks"} and isinstance(body["task_count"], str)
    assert len(body["tasks"]) == 3 and isinstance(body["tasks"][0]["params"], str)
    assert response.headers["X-Request-Id"]


def test_tampered_query_fails_verification(simulator: Simulator) -> None:
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    request = httpx2.Request("GET", simulator.url + TASKS + "?limit=3&start=1")
    signer.sign(request)
    request.url = request.url.copy_with(query=b"limit=4&start=1")
    with httpx2.Client(timeout=10) as http:
        response = http.send(request)
    assert response.status_code == 401
    assert "signature" in response.json()["error_msg"]


def test_odd_query_characters_verify(simulator: Simulator) -> None:
    response = signed_get(simulator, TASKS + "?limit=2&start=1&x=a%20b%2Bc&x=%C3%A4~*")
    assert response.status_code == 200, response.text


def test_clock_skew_is_refused(simulator: Simulator) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    response = signed_get(simulator, TASKS, **{"X-Sdk-Date": old})
    assert response.status_code == 401 and "clock skew" in response.json()["error_msg"]


def test_five_failures_lock_the_access_key(simulator: Simulator) -> None:
    wrong = AkSkSigner(data.SIM_ACCESS_KEY, "WRONG-FAKE-SECRET-KEY-0000000000000000", project_id=data.SIM_PROJECT_ID)
    for _ in range(5):
        assert "signature" in signed_get(simulator, TASKS, signer=wrong).json()["error_msg"]
    locked = signed_get(simulator, TASKS)  # even the right key is refused now
    assert locked.status_code == 401 and "locked" in locked.json()["error_msg"]


def test_error_bodies_match_the_api(simulator: Simulator) -> None:
    cases = {
        "/v2/not-a-project/instances/x/tasks": (400, "DMS.00400002"),
        f"/v2/{P}/instances/not-a-uuid/tasks": (400, "DMS.00400030"),
        f"{TASKS}/bad_task": (400, "DMS.00400070"),
        f"{TASKS}?limit=101": (400, "DMS.10240042"),
        f"{TASKS}?start=0": (400, "DMS.00400800"),
        f"{TASKS}?begin_time=2026": (400, "DMS.00400142"),
        f"/v2/{P}/instances/00000000-0000-4000-8000-000000000000/tasks": (404, "DMS.00404022"),
        f"/v2/{P}/instances?limit=10": (400, "DMS.00400800"),  # ListInstances needs its engine
        f"/v2/{P}/instances?engine=kafka&limit=51": (400, "DMS.10240042"),
        f"/v2/{P}/instances?engine=kafka&offset=50": (400, "DMS.40050010"),  # past the end
        f"/v2/{P}/instances/{data.RABBITMQ.id}/tasks/{data.EXAMPLE_TASK_ID}/progress": (404, "DMS.00404001"),
        "/v1.0/elsewhere": (404, "APIG.0101"),
    }
    for path, (status, code) in cases.items():
        response = signed_get(simulator, path)
        assert (response.status_code, response.json()["error_code"]) == (status, code), path
        assert response.json()["error_msg"] == facts.error_codes()[code].message  # the documented text


def test_project_header_must_match_the_path(simulator: Simulator) -> None:
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id="f" * 32)
    response = signed_get(simulator, TASKS, signer=signer)
    assert response.status_code == 401 and response.json()["error_code"] == "DMS.10240104"


def test_a_token_only_opens_its_own_project(simulator: Simulator) -> None:
    path = f"/v2/{data.EU_NL.project_id}/instances?engine=kafka"
    response = httpx2.get(simulator.urls["eu-nl"] + path, headers={"X-Auth-Token": data.SIM_IAM_TOKEN}, timeout=10)
    assert response.status_code == 401 and response.json()["error_code"] == "DMS.10240104"  # scoped to eu-de


def test_iam_lists_projects_by_name_to_signed_requests_only(simulator: Simulator) -> None:
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY)
    with httpx2.Client(auth=signer, timeout=10) as http:
        found = http.get(simulator.url + "/v3/projects", params={"name": "eu-nl"}).json()["projects"]
    assert [p["id"] for p in found] == [data.EU_NL.project_id]
    assert httpx2.get(simulator.url + "/v3/projects?name=eu-nl", timeout=10).status_code == 401


def test_manual_tasks_advance_by_events_and_finished_ones_can_be_deleted(simulator: Simulator) -> None:
    running = simulator.create_task(instance_id=data.KAFKA.id, manual=True)
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    with httpx2.Client(auth=signer, timeout=10) as http:
        assert http.get(f"{simulator.url}{TASKS}/{running}").json()["tasks"][0]["status"] == "CREATED"
        busy = http.delete(f"{simulator.url}{TASKS}/{running}")
        assert busy.status_code == 400 and busy.json()["error_code"] == "DMS.00400017"
        simulator.steer(running, status="SUCCESS")
        assert http.get(f"{simulator.url}{TASKS}/{running}").json()["tasks"][0]["status"] == "SUCCESS"
        gone = http.delete(f"{simulator.url}{TASKS}/{running}")
        assert gone.status_code == 204 and gone.content == b""
        assert http.get(f"{simulator.url}{TASKS}/{running}").json() == {"task_count": "0", "tasks": []}


def test_the_simulator_prints_the_settings_that_point_at_it(simulator_process: Simulator) -> None:
    env = region_env(simulator_process)
    assert set(simulator_process.urls) == {"eu-de", "eu-nl", "eu-ch2"}
    assert env["HUAWEICLOUD_SDK_REGION_KAFKA_EU_NL"] == simulator_process.urls["eu-nl"]
