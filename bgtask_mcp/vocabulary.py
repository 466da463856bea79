"""The words of DMS in one place: task statuses (terminal or not), task names, engines, instance statuses.

Models, the glossary resource, the server instructions and the tool descriptions all read from here, so a
status or a task name is explained the same way everywhere. Task names are open-ended: the table lists the
ones documented or seen, never all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Status:
    name: str
    meaning: str
    terminal: bool
    succeeded: bool = False


STATUSES: Final = {
    s.name: s
    for s in (
        Status("CREATED", "Accepted, not started yet.", terminal=False),
        Status("EXECUTING", "Running.", terminal=False),
        Status("SUCCESS", "Finished successfully.", terminal=True, succeeded=True),
        Status("FAILED", "Finished with an error: the change was not (fully) applied.", terminal=True),
        Status("DELETED", "The task record was deleted; the change did not complete.", terminal=True),
        Status("CANCELLED", "A scheduled task that was cancelled before it ran.", terminal=True),
    )
}
RUNNING_ALIAS: Final = "RUNNING"  # in filters: every status that is still running
RUNNING_STATUSES: Final = frozenset(name for name, s in STATUSES.items() if not s.terminal)
UNKNOWN_STATUS: Final = "Any other status is passed through verbatim and treated as still running."


def is_terminal(status: str) -> bool:
    known = STATUSES.get(status)
    return known is not None and known.terminal


def succeeded(status: str) -> bool:
    known = STATUSES.get(status)
    return known is not None and known.succeeded


def status_summary() -> str:
    """One line for descriptions and instructions: which status means what."""
    running = "/".join(n for n, s in STATUSES.items() if not s.terminal)
    done = "/".join(n for n, s in STATUSES.items() if s.succeeded)
    failed = "/".join(n for n, s in STATUSES.items() if s.terminal and not s.succeeded and n != "CANCELLED")
    return (
        f"{running} = still running; {done} = done; {failed} = ended without applying the change; "
        "CANCELLED = a scheduled task that was cancelled"
    )


def status_names() -> str:
    return ", ".join(STATUSES)


# Task names with what they do and what their params mean; started_without_job_id: find them by name.
@dataclass(frozen=True)
class TaskName:
    does: str
    params: dict[str, str]
    started_without_job_id: bool = False


TASK_NAMES: Final = {
    "bindInstancePublicIp": TaskName(
        "Enables public access: binds elastic IPs to the brokers.",
        {"public_ip_id": "EIP id(s)", "public_ip_address": "the address(es)", "enable_public_ip": "true"},
        started_without_job_id=True,
    ),
    "unbindInstancePublicIp": TaskName(
        "Disables public access: unbinds the elastic IPs.",
        {"public_ip_id": "EIP id(s) released", "enable_public_ip": "false"},
        started_without_job_id=True,
    ),
    "modifyAutoTopic": TaskName(
        "Turns automatic topic creation on or off.",
        {"old_auto_status": "previous setting", "new_auto_status": "requested setting"},
        started_without_job_id=True,
    ),
    "changeRetentionPolicy": TaskName(
        "Changes what Kafka does when the disk fills up (delete old messages or reject producers).",
        {"new_retention_policy": "requested policy", "origin_retention_policy": "previous policy"},
    ),
    "kafkaConfigModify": TaskName(
        "Changes instance configuration parameters; some need a restart.",
        {"configs": "list of {name, value} pairs (often an encoded JSON string); secret values are masked"},
    ),
    "kafkaResetConsumerOffset": TaskName(
        "Resets the offsets of a consumer group (to earliest, latest or a timestamp).",
        {"group": "consumer group", "topic": "topic", "partition": "-1 for all", "timestamp": "ms epoch"},
        started_without_job_id=True,
    ),
    "rabbitmqPluginModify": TaskName(
        "Enables or disables RabbitMQ plugins.",
        {"enable": "true to enable, false to disable", "plugins": "comma-separated plugin names"},
    ),
    "createInstance": TaskName(
        "Creates the instance.",
        {"engine_version": "engine version", "specification": "flavor", "storage_space": "GB"},
    ),
    "restartInstance": TaskName("Restarts the brokers of the instance.", {}),
    "resizeInstance": TaskName(
        "Specification change: adds brokers, storage or a bigger flavor (the progress endpoint answers).",
        {"new_spec_code": "target flavor", "new_storage_space": "GB", "new_broker_num": "brokers"},
    ),
    "sslSwitch": TaskName("Turns SSL/SASL on or off for client connections.", {"ssl_enable": "bool"}),
    "partitionReassign": TaskName(
        "Reassigns topic partitions across brokers.",
        {"reassignments": "list of topic/brokers/replication factor", "throttle": "bytes/s"},
    ),
    "smartConnectSwitch": TaskName("Turns Smart Connect (connectors) on or off.", {"enable": "bool"}),
    "batchDeleteTopics": TaskName("Deletes several topics at once.", {"topics": "names"}),
    "batchDeleteGroups": TaskName("Deletes several consumer groups at once.", {"group_ids": "names"}),
    "modifyUserPassword": TaskName(
        "Resets the password of an instance user (SASL/PLAIN). The password itself is masked.",
        {"user_name": "instance user", "new_password": "masked"},
    ),
}
FOUND_BY_NAME: Final = tuple(name for name, t in TASK_NAMES.items() if t.started_without_job_id)

# Message engines as the API names them in ListInstances (RocketMQ also answers as "reliability").
ENGINES: Final = ("kafka", "rabbitmq", "rocketmq")
ENGINE_ALIASES: Final = {"reliability": "rocketmq"}

INSTANCE_STATUSES: Final = {
    "CREATING": "Being created.",
    "RUNNING": "Running and usable.",
    "ERROR": "Faulty.",
    "RESTARTING": "Restarting.",
    "STARTING": "Starting.",
    "CHANGING": "A specification change is running.",
    "EXTENDING": "Being scaled out.",
    "FROZEN": "Frozen (billing or a security hold).",
    "FREEZING": "Being frozen.",
    "UPGRADING": "Being upgraded.",
    "CREATEFAILED": "Creation failed.",
    "ROLLBACK": "A change is being rolled back.",
}


def glossary() -> dict[str, object]:
    """The dms://glossary resource."""
    return {
        "statuses": {n: {"meaning": s.meaning, "terminal": s.terminal} for n, s in STATUSES.items()},
        "unknown_status": UNKNOWN_STATUS,
        "running_alias": f"{RUNNING_ALIAS} in a status filter means {', '.join(sorted(RUNNING_STATUSES))}.",
        "task_names": {n: {"does": t.does, "params": t.params} for n, t in TASK_NAMES.items()},
        "unknown_names": "Task names are open-ended; a name not listed here is still a valid task.",
        "found_by_name": list(FOUND_BY_NAME),
        "params": "params is the task's JSON parameters, decoded; values of secret-looking keys show as '***'.",
        "engines": list(ENGINES),
        "instance_statuses": INSTANCE_STATUSES,
    }
