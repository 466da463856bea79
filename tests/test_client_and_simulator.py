"""The DMS client against the simulator over real loopback HTTP, and the simulator behaving like the cloud:
it verifies signatures exactly (so a wrong signature is caught here, not only in production)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.dms.errors import APIError, TaskNotFound
from bgtask_mcp.dms.signer import AkSkSigner
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env

TASKS = f"/v2/{data.SIM_PROJECT_ID}/instances/{data.KAFKA.id}/tasks"


def signed_get(sim: Simulator, path: str, *, signer: AkSkSigner | None = None, **headers: str) -> httpx2.Response:
    signer = signer or AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    with httpx2.Client(auth=signer, timeout=10) as http:
        return http.get(sim.url + path, headers=headers)


# -- the client ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_show_list_and_progress(simulator: Simulator) -> None:
    async with DMSClient(fast_settings(sim_env(simulator))) as client:
        shown = await client.get_task(data.KAFKA.id, data.EXAMPLE_TASK_ID)
        assert shown.task_count == 1 and shown.tasks[0].name == "bindInstancePublicIp"
        page = await client.list_tasks(data.ARCHIVE.id, start=241, limit=100)
        assert page.task_count == 250 and len(page.tasks) == 10
        live = simulator.create_task(instance_id=data.KAFKA.id, duration_s=10, progress_steps=["a", "b"])
        progress = await client.get_progress(data.KAFKA.id, live)
        assert progress is not None and 0 <= progress < 100
        assert await client.get_progress(data.KAFKA.id, data.EXAMPLE_TASK_ID) is None  # not a scale-out task
        with pytest.raises(TaskNotFound):
            await client.get_task(data.KAFKA.id, "0" * 32)


@pytest.mark.anyio
async def test_temporary_credentials_are_signed_and_sent(simulator: Simulator) -> None:
    env = sim_env(simulator, BGTASK_SECURITY_TOKEN="FAKE-SECURITY-TOKEN-0001")
    async with DMSClient(fast_settings(env)) as client:
        assert (await client.get_task(data.KAFKA.id, data.EXAMPLE_TASK_ID)).tasks


@pytest.mark.anyio
async def test_password_login_gets_a_token_once(simulator: Simulator) -> None:
    env = {
        "BGTASK_ENDPOINT": simulator.url,
        "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID,
        "BGTASK_IAM_USER": data.SIM_IAM_USER,
        "BGTASK_IAM_PASSWORD": data.SIM_IAM_PASSWORD,
        "BGTASK_IAM_DOMAIN": data.SIM_IAM_DOMAIN,
        "BGTASK_IAM_ENDPOINT": simulator.url + "/v3",
    }
    async with DMSClient(fast_settings(env)) as client:
        for _ in range(3):
            assert (await client.get_task(data.KAFKA.id, data.EXAMPLE_TASK_ID)).tasks
    assert simulator.stats()["iam:token"] == 1


@pytest.mark.anyio
async def test_client_errors_are_typed(simulator: Simulator) -> None:
    async with DMSClient(fast_settings(sim_env(simulator))) as client:
        with pytest.raises(APIError) as caught:
            await client.get_task("00000000-0000-4000-8000-000000000000", data.EXAMPLE_TASK_ID)
    err = caught.value
    assert (err.status, err.error_code) == (404, "DMS.00404022")
    assert err.request_id and len(err.request_id) == 32
    assert not err.retryable


# -- the simulator checks requests like the gateway ---------------------------------------------


def test_unsigned_request_is_refused(simulator: Simulator) -> None:
    response = httpx2.get(simulator.url + TASKS, timeout=10)
    assert response.status_code == 401
    assert response.json()["error_code"] == "APIG.0301"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_signed_request_is_accepted_and_marked_simulated(simulator: Simulator) -> None:
    response = signed_get(simulator, TASKS + "?limit=3&start=1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["simulated"] is True and isinstance(body["task_count"], str)
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
        f"/v2/{data.SIM_PROJECT_ID}/instances/not-a-uuid/tasks": (400, "DMS.00400030"),
        f"{TASKS}/bad_task": (400, "DMS.00400070"),
        f"{TASKS}?limit=101": (400, "DMS.00400001"),
        f"/v2/{data.SIM_PROJECT_ID}/instances/00000000-0000-4000-8000-000000000000/tasks": (404, "DMS.00404022"),
        "/v1.0/elsewhere": (404, "APIG.0101"),
    }
    for path, (status, code) in cases.items():
        response = signed_get(simulator, path)
        assert (response.status_code, response.json()["error_code"]) == (status, code), path
        assert response.json()["error_msg"]


def test_project_header_must_match_the_path(simulator: Simulator) -> None:
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id="f" * 32)
    response = signed_get(simulator, TASKS, signer=signer)
    assert response.status_code == 401 and response.json()["error_code"] == "DMS.10240104"


def test_tasks_advance_and_can_be_deleted_when_finished(simulator: Simulator) -> None:
    running = simulator.create_task(instance_id=data.KAFKA.id, duration_s=0.4)
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    with httpx2.Client(auth=signer, timeout=10) as http:
        first = http.get(f"{simulator.url}{TASKS}/{running}").json()["tasks"][0]["status"]
        assert first in ("CREATED", "EXECUTING")
        busy = http.delete(f"{simulator.url}{TASKS}/{running}")
        assert busy.status_code == 400 and busy.json()["error_code"] == "DMS.00400017"
        import time

        time.sleep(0.6)
        assert http.get(f"{simulator.url}{TASKS}/{running}").json()["tasks"][0]["status"] == "SUCCESS"
        gone = http.delete(f"{simulator.url}{TASKS}/{running}")
        assert gone.status_code == 204 and gone.content == b""
        assert http.get(f"{simulator.url}{TASKS}/{running}").json() == {
            "task_count": "0",
            "tasks": [],
            "simulated": True,
        }
