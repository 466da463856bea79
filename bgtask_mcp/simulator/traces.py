"""The simulator's Cloud Trace Service: the audit trail of DMS, derived from its tasks, plus operations that run
no task. Every trace name is a documented one (``facts/trace_names.csv``).

An asynchronous operation is recorded twice, as CTS does: the request (``extendDMSInstanceSuccess``, its
response naming the ``job_id`` when the operation returns one) and, when the task ends, the result
(``extendDMSInstanceTaskSuccess`` / ``...TaskFailure``). Requests carry the bodies users sent, secrets
included (each a marker of ``data.SEEDED_CTS_SECRETS``). CTS keeps seven days.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Final

from bgtask_mcp.simulator import data

RETENTION_S: Final = 7 * data.DAY
SOURCE_IP: Final = "203.0.113.24"  # a documentation address (RFC 5737): the caller's, as CTS records it
# the person behind a change the service account ran: CTS names who asked, the task names paas_dms
REQUESTED_BY: Final = {"paas_dms": "ops-carol"}


@dataclass(frozen=True)
class Operation:
    """How a task's operation shows in CTS: the base of its trace names, whether the request trace names a
    ``job_id``, and whether a result trace follows (``...TaskSuccess``/``...TaskFailure``)."""

    base: str
    returns_job_id: bool
    result_trace: bool = True
    request_name: str | None = None  # when the request's trace name is not ``<base>Success``


# task name -> the documented trace names of the operation that starts it
OPERATIONS: Final = {
    "resizeInstance": Operation("extendDMSInstance", returns_job_id=True),
    "restartInstance": Operation("restartDMSInstance", returns_job_id=True),
    "kafkaConfigModify": Operation("modifyDMSInstanceInfo", returns_job_id=True),
    "changeRetentionPolicy": Operation("modifyDMSInstanceInfo", returns_job_id=True),
    "sslSwitch": Operation("modifyDMSInstanceInfo", returns_job_id=True),
    "rabbitmqPluginModify": Operation("modifyDMSInstanceInfo", returns_job_id=True),
    "partitionReassign": Operation("kafka_reassignment", returns_job_id=True),
    "smartConnectSwitch": Operation("createConnector", returns_job_id=True, request_name="CreateConnectorSuccess"),
    "bindInstancePublicIp": Operation("modifyDMSInstanceInfo", returns_job_id=False, result_trace=False),
    "unbindInstancePublicIp": Operation("modifyDMSInstanceInfo", returns_job_id=False, result_trace=False),
    "modifyAutoTopic": Operation("enable_auto_topic", returns_job_id=False, result_trace=False),
    "kafkaResetConsumerOffset": Operation("Kafka_reset_consumer_offset", returns_job_id=False, result_trace=False),
    "batchDeleteGroups": Operation("Kafka_batch_delete_group", returns_job_id=False, result_trace=False),
}
_S = data.SEEDED_CTS_SECRETS


@dataclass(frozen=True)
class Standalone:
    """An operation that runs no task: a topic, a user, a password, an offset reset, a consumer group."""

    seed: str
    instance: data.Instance
    name: str  # the documented trace name, outcome included
    user: str
    request: dict[str, Any]
    at: float  # seconds relative to the simulator's start
    code: int = 200


STANDALONE: Final = (
    Standalone("topic-created", data.KAFKA, "Kafka_create_topicSuccess", "ops-alice",
               {"id": "orders-v2", "partition": 6, "replication": 3}, -3.5 * data.HOUR),
    Standalone("topic-deleted", data.KAFKA, "Kafka_delete_topicsSuccess", "ci-deployer",
               {"topics": ["tmp-load-test"]}, -7 * data.HOUR),
    Standalone("user-created", data.KAFKA, "createUserSuccess", "ops-alice",
               {"user_name": "app-consumer", "user_passwd": _S[0], "user_desc": "billing consumer"}, -4 * data.HOUR),
    Standalone("password-reset", data.KAFKA, "resetDMSInstancePasswordSuccess", "ops-alice",
               {"new_password": _S[1]}, -10 * data.HOUR),
    Standalone("offset-reset", data.NL_EVENTS, "Kafka_reset_consumer_offsetSuccess", "ops-alice",
               {"group": "billing", "topic": "orders", "partition": -1, "message_offset": 0}, -2 * data.HOUR),
    Standalone("group-deleted", data.NL_EVENTS, "Kafka_batch_delete_groupSuccess", "ci-deployer",
               {"group_ids": ["legacy-reader"]}, -6 * data.HOUR),
    Standalone("topic-refused", data.NL_EVENTS, "Kafka_create_topicFailure", "ci-deployer",
               {"id": "orders", "partition": 300, "sasl_jaas_config":
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="x" password="{_S[2]}";'},
               -5 * data.HOUR, code=400),
    Standalone("user-refused", data.NL_ANALYTICS, "createUserFailure", "ops-alice",
               {"user_name": "x", "user_passwd": _S[3]}, -8 * data.HOUR, code=400),
)  # fmt: skip
# what users sent when they started the seeded tasks, where it holds a secret
TASK_REQUESTS: Final = {
    data.PASSWORD_TASK_ID: {"user_name": "app-producer", "new_password": _S[4]},
    data.LIVE_RESIZE_ID: {"new_spec_code": "dms.instance.kafka.cluster.c3.small.2", "new_broker_num": 5},
    data.NL_BIND_ID: {"public_ip_id": "6c1e0b7a-52d4-4b0e-9d63-1f7a2c3e4d5f", "enable_public_ip": True},
}


def trace_id(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "bgtask-sim-cts/" + seed))


def _trace(
    seed: str, name: str, instance: data.Instance, at: float, *, user: str | None, request: Any = None,
    response: Any = None, code: int = 200,
) -> dict[str, Any]:  # fmt: skip
    failed = name.endswith("Failure")
    return {
        "trace_id": trace_id(seed),
        "trace_name": name,
        "trace_rating": "warning" if failed else "normal",
        "trace_type": "ConsoleAction" if user else "SystemAction",
        "service_type": "DMS",
        "resource_type": "reliability" if instance.engine == "rocketmq" else instance.engine,
        "resource_id": instance.id,
        "resource_name": instance.name,
        "source_ip": SOURCE_IP if user else None,
        "request": json.dumps(request) if request is not None else None,
        "response": response,
        "code": code,  # a number, as OTC's own example sends it
        "message": None if not failed else {"error_msg": "The request parameters are invalid."},
        "user": {"id": data.USERS.get(user, "0" * 32), "name": user, "domain": {"name": "sim-domain"}}
        if user
        else None,
        "time": int(at * 1000),
        "record_time": int(at * 1000) + 350,
    }


def task_traces(task: data.SimTask, instance: data.Instance, start: float, end: float | None, status: str,
                ) -> list[dict[str, Any]]:  # fmt: skip
    """The request trace of the operation that started ``task`` and, once it ended, its result trace."""
    operation = OPERATIONS.get(task.name)
    if operation is None:
        return []
    user = REQUESTED_BY.get(task.user_name, task.user_name)
    response = {"job_id": task.id} if operation.returns_job_id else None
    request = TASK_REQUESTS.get(task.id, json.loads(task.params) if _is_json_object(task.params) else None)
    name = operation.request_name or f"{operation.base}Success"
    traces = [_trace(task.id + "/request", name, instance, start - 0.4, user=user, request=request,
                     response=response)]  # fmt: skip
    if operation.result_trace and end is not None and status in ("SUCCESS", "FAILED", "DELETED"):
        outcome = "TaskSuccess" if status == "SUCCESS" else "TaskFailure"  # a deleted task ended unapplied
        traces.append(_trace(task.id + "/result", f"{operation.base}{outcome}", instance, end, user=None,
                             code=200 if status == "SUCCESS" else 500))  # fmt: skip
    return traces


def standalone_traces(started: float) -> list[dict[str, Any]]:
    return [
        _trace(op.seed, op.name, op.instance, started + op.at, user=op.user, request=op.request, code=op.code)
        for op in STANDALONE
    ]


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
