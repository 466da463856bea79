"""The official SDKs as an independent reader of the simulator: ``huaweicloudsdkkafka``, ``huaweicloudsdkrabbitmq``
and ``huaweicloudsdkrocketmq`` call every operation bgtask-mcp calls (show and list tasks, progress, scheduled
tasks, list instances) against the simulator over real HTTP, signed by the SDK's own signer.

For every answer, every field the simulator sent must be one the SDK's model declares (nothing dropped), with
the JSON type the model declares (``str`` a string, ``int`` a number, a model an object, lists recursively).
For every error, the SDK's exception handler must read the same status, code and message as our client.
A field the SDK models lack but a public source documents is listed in ``NOT_IN_SDK_MODELS`` with its source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkkafka.v2 import KafkaClient
from huaweicloudsdkkafka.v2 import model as kafka
from huaweicloudsdkrabbitmq.v2 import RabbitMQClient
from huaweicloudsdkrabbitmq.v2 import model as rabbitmq
from huaweicloudsdkrocketmq.v2 import RocketMQClient
from huaweicloudsdkrocketmq.v2 import model as rocketmq

from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.dms.errors import APIError
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env

# Fields the simulator sends that the SDK's models lack, each with the public source that documents it.
NOT_IN_SDK_MODELS = {
    "task": "chnsz/golangsdk (vendored by huaweicloud/terraform-provider-huaweicloud): openstack/dms/v2/kafka/"
    "instances/results.go and .../rabbitmq/instances/results.go, Task{name, status, created_at}; the provider's "
    "resource_huaweicloud_dms_kafka_permissions.go reads task.name",
}
PRIMITIVES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}


@dataclass
class Recorder:
    """The raw bodies the SDK received, in order (the SDK's response handler sees every answer)."""

    bodies: list[tuple[int, dict[str, str], str]]

    def __call__(self, response: Any, **_: Any) -> None:
        self.bodies.append((response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text))

    def last_json(self) -> Any:
        return json.loads(self.bodies[-1][2])


def sdk_client(
    kind: Callable[[], Any], simulator: Simulator, region: str = "eu-de", secret: str = data.SIM_SECRET_KEY
) -> tuple[Any, Recorder]:
    recorder = Recorder([])
    project = data.region_of(region).project_id
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    client = (
        kind()
        .with_credentials(BasicCredentials(data.SIM_ACCESS_KEY, secret, project))
        .with_endpoints([simulator.urls[region]])
        .with_http_config(config)
        .with_http_handler(HttpHandler().add_response_handler(recorder))
        .build()
    )
    return client, recorder


def unread(raw: Any, value: Any, declared: str, where: str) -> Iterator[str]:
    """Every way ``raw`` (the JSON the simulator sent) is not read by the SDK as ``declared`` into ``value``."""
    if raw is None:
        return
    if declared.startswith("list["):
        if not isinstance(raw, list) or not isinstance(value, list) or len(raw) != len(value):
            yield f"{where}: {type(raw).__name__} where the SDK declares {declared}"
            return
        for i, (item, read) in enumerate(zip(raw, value, strict=True)):
            yield from unread(item, read, declared[5:-1], f"{where}[{i}]")
    elif declared in PRIMITIVES:
        if (isinstance(raw, bool) and declared != "bool") or not isinstance(raw, PRIMITIVES[declared]):
            yield f"{where}: {type(raw).__name__} {raw!r} where the SDK declares {declared}"
    elif not isinstance(raw, dict):
        yield f"{where}: {type(raw).__name__} where the SDK declares the model {declared}"
    else:
        yield from unread_model(raw, value, where)


def unread_model(raw: dict[str, Any], model: Any, where: str) -> Iterator[str]:
    by_key = {key: attr for attr, key in model.attribute_map.items()}
    for key, item in raw.items():
        attr = by_key.get(key)
        if attr is None:
            if key not in NOT_IN_SDK_MODELS:
                yield f"{where}.{key}: dropped (not in {type(model).__name__})"
            continue
        yield from unread(item, getattr(model, attr), model.openapi_types[attr], f"{where}.{key}")


def assert_read_whole(response: Any, recorder: Recorder) -> dict[str, Any]:
    raw = recorder.last_json()
    problems = list(unread_model(raw, response, type(response).__name__))
    assert not problems, problems
    return raw  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Engine:
    name: str
    client: Callable[[], Any]
    model: Any
    instance: data.Instance
    task: str  # a task of that instance
    scheduled: data.Instance  # an instance with scheduled tasks
    progress_task: str | None  # a task with progress steps (None: the engine has no progress endpoint)
    list_instances: str  # the SDK's name of ListInstances
    engine_param: str  # what the SDK sends as engine


KAFKA = Engine("kafka", KafkaClient.new_builder, kafka, data.KAFKA, data.EXAMPLE_TASK_ID, data.KAFKA,
               data.LIVE_RESIZE_ID, "ListInstancesRequest", "kafka")  # fmt: skip
RABBITMQ = Engine("rabbitmq", RabbitMQClient.new_builder, rabbitmq, data.RABBITMQ, data.task_id("orders-mq/plugins"),
                  data.RABBITMQ, None, "ListInstancesDetailsRequest", "rabbitmq")  # fmt: skip
ROCKETMQ = Engine("rocketmq", RocketMQClient.new_builder, rocketmq, data.ROCKETMQ, data.ROCKET_RESIZE_ID,
                  data.NL_ROCKET, data.ROCKET_RESIZE_ID, "ListInstancesRequest", "reliability")  # fmt: skip
ENGINES = [KAFKA, RABBITMQ, ROCKETMQ]


@pytest.fixture(params=ENGINES, ids=lambda e: e.name)
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.param  # type: ignore[no-any-return]


def test_show_background_task(simulator: Simulator, engine: Engine) -> None:
    client, recorder = sdk_client(engine.client, simulator)
    request = engine.model.ShowBackgroundTaskRequest(instance_id=engine.instance.id, task_id=engine.task)
    response = client.show_background_task(request)
    raw = assert_read_whole(response, recorder)
    assert raw["tasks"][0]["id"] == engine.task and response.tasks[0].id == engine.task


def test_list_background_tasks(simulator: Simulator, engine: Engine) -> None:
    client, recorder = sdk_client(engine.client, simulator)
    request = engine.model.ListBackgroundTasksRequest(instance_id=engine.instance.id, start=1, limit=50)
    response = client.list_background_tasks(request)
    raw = assert_read_whole(response, recorder)
    assert len(raw["tasks"]) == len(response.tasks) > 0 and isinstance(raw["task_count"], str)


def test_list_scheduled_tasks(simulator: Simulator, engine: Engine) -> None:
    region = data.region_of(engine.scheduled.region).name
    client, recorder = sdk_client(engine.client, simulator, region)
    response = client.list_scheduled_tasks(
        engine.model.ListScheduledTasksRequest(instance_id=engine.scheduled.id, start="1", limit="10")
    )
    raw = assert_read_whole(response, recorder)
    assert raw["job_count"] == response.job_count == len(response.jobs) > 0
    assert all(job.schedule_at for job in response.jobs)


def test_show_background_task_progress(simulator: Simulator, engine: Engine) -> None:
    if engine.progress_task is None:
        assert not hasattr(engine.model, "ShowBackgroundTaskProgressRequest")  # RabbitMQ: no such operation
        return
    client, recorder = sdk_client(engine.client, simulator)
    request = engine.model.ShowBackgroundTaskProgressRequest(
        instance_id=engine.instance.id, task_id=engine.progress_task
    )
    response = client.show_background_task_progress(request)
    raw = assert_read_whole(response, recorder)
    assert [step.statue for step in response.step_list] == [s["statue"] for s in raw["step_list"]]
    assert len(response.step_list) == len(data.SCALE_OUT_STEPS)


def test_list_instances(simulator: Simulator, engine: Engine) -> None:
    client, recorder = sdk_client(engine.client, simulator)
    request = getattr(engine.model, engine.list_instances)(engine=engine.engine_param, include_failure="true", limit=50)
    method = "list_instances_details" if engine.list_instances == "ListInstancesDetailsRequest" else "list_instances"
    response = getattr(client, method)(request)
    raw = assert_read_whole(response, recorder)
    assert response.instance_num == len(response.instances) > 0
    assert {i["instance_id"] for i in raw["instances"]} >= {engine.instance.id}


# -- errors: the SDK and our client read every simulator error the same way --------------------------------


def sdk_error(call: Callable[[], Any]) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call()
    return caught.value


def our_client(simulator: Simulator, **extra: str) -> DMSClient:
    settings = fast_settings(sim_env(simulator, **extra))
    return DMSClient(settings.default_cloud, settings.limits, overrides=dict(settings.endpoint_overrides))


async def our_error(simulator: Simulator, call: Callable[[DMSClient], Any]) -> APIError:
    async with our_client(simulator) as client:
        with pytest.raises(APIError) as caught:
            await call(client)
    return caught.value


P = data.SIM_PROJECT_ID
NOWHERE = "00000000-0000-4000-8000-000000000000"
ERRORS: dict[str, tuple[Callable[[Any], Any], Callable[[DMSClient], Any]]] = {
    "instance not found": (
        lambda c: c.show_background_task(kafka.ShowBackgroundTaskRequest(instance_id=NOWHERE, task_id="a" * 32)),
        lambda c: c.show_task("eu-de", P, NOWHERE, "a" * 32),
    ),
    "page too large": (
        lambda c: c.list_background_tasks(kafka.ListBackgroundTasksRequest(instance_id=data.KAFKA.id, limit=101)),
        lambda c: c.list_tasks("eu-de", P, data.KAFKA.id, limit=101),
    ),
    "offset past the end": (
        lambda c: c.list_instances(kafka.ListInstancesRequest(engine="kafka", offset="60", limit=50)),
        lambda c: c.list_instances("eu-de", P, "kafka", offset=60),
    ),
    "no progress for this task": (
        lambda c: c.show_background_task_progress(
            kafka.ShowBackgroundTaskProgressRequest(instance_id=data.KAFKA.id, task_id=data.EXAMPLE_TASK_ID)
        ),
        lambda c: c._get(
            "ShowBackgroundTaskProgress",
            "eu-de",
            data.KAFKA.id,
            f"/v2/{P}/instances/{data.KAFKA.id}/tasks/{data.EXAMPLE_TASK_ID}/progress",
            [],
            P,
        ),
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(ERRORS))
async def test_errors_read_the_same_by_the_sdk_and_by_us(simulator: Simulator, case: str) -> None:
    theirs_call, ours_call = ERRORS[case]
    client, recorder = sdk_client(KafkaClient.new_builder, simulator)
    theirs = sdk_error(lambda: theirs_call(client))
    ours = await our_error(simulator, ours_call)
    assert (theirs.status_code, theirs.error_code, theirs.error_msg) == (ours.status, ours.error_code, ours.error_msg)
    assert theirs.request_id == recorder.bodies[-1][1]["x-request-id"]


@pytest.mark.anyio
async def test_a_refused_signature_reads_the_same(simulator: Simulator) -> None:
    client, _ = sdk_client(KafkaClient.new_builder, simulator, secret="WRONG-FAKE-SECRET-KEY-00000000000000000000")
    theirs = sdk_error(
        lambda: client.show_background_task(
            kafka.ShowBackgroundTaskRequest(instance_id=data.KAFKA.id, task_id=data.EXAMPLE_TASK_ID)
        )
    )
    simulator.reset()  # one failure: far from the lockout
    async with our_client(simulator, BGTASK_SECRET_KEY="WRONG-FAKE-SECRET-KEY-00000000000000000000") as ours_client:
        with pytest.raises(APIError) as caught:
            await ours_client.show_task("eu-de", P, data.KAFKA.id, data.EXAMPLE_TASK_ID)
    ours = caught.value
    assert (theirs.status_code, theirs.error_code) == (ours.status, ours.error_code) == (401, "APIG.0301")
    assert theirs.error_msg == ours.error_msg


# The official SDK's name of each DMS operation in facts/dms_operations.csv (RabbitMQ lists its instances under
# another name); RabbitMQ has no progress endpoint.
SDK_OPERATIONS = {
    "ShowBackgroundTask": "show_background_task",
    "ListBackgroundTasks": "list_background_tasks",
    "ShowBackgroundTaskProgress": "show_background_task_progress",
    "DeleteBackgroundTask": "delete_background_task",
    "ListScheduledTasks": "list_scheduled_tasks",
    "ListInstances": "list_instances",
}


def test_the_operations_table_is_the_sdks(engine: Engine) -> None:
    """Every DMS operation of the one table the client and the simulator's routes are made from has the method and
    path the official SDK of each engine sends (read from the SDK's own request description)."""
    from bgtask_mcp import facts

    sdk = engine.client.__self__  # type: ignore[attr-defined]  # the SDK client class (new_builder is its classmethod)
    checked = []
    for name, operation in facts.operations().items():
        if operation.service != "dms":
            continue
        method = SDK_OPERATIONS[name]
        if engine.name == "rabbitmq" and name == "ListInstances":
            method = "list_instances_details"
        info = getattr(sdk, f"_{method}_http_info", None)
        if info is None:
            assert engine.name == "rabbitmq" and name == "ShowBackgroundTaskProgress", (engine.name, name)
            continue
        request = getattr(engine.model, "".join(part.capitalize() for part in method.split("_")) + "Request")()
        described = info(request)
        assert (described["method"], described["resource_path"]) == (operation.method, operation.path), name
        checked.append(name)
    assert len(checked) >= 5
