"""What every task status and every known task name means (the dms://glossary resource).

Task names are open-ended: these are the ones documented or seen; never treat the list as complete.
"""

from __future__ import annotations

import functools
from typing import Any

# Task names with what they do and what their params mean.
TASK_NAMES: dict[str, dict[str, Any]] = {
    "bindInstancePublicIp": {
        "does": "Enables public access: binds elastic IPs to the brokers. Started without a job_id: find it by name.",
        "params": {"public_ip_id": "EIP id(s)", "public_ip_address": "the address(es)", "enable_public_ip": "true"},
    },
    "unbindInstancePublicIp": {
        "does": "Disables public access: unbinds the elastic IPs. Started without a job_id.",
        "params": {"public_ip_id": "EIP id(s) released", "enable_public_ip": "false"},
    },
    "modifyAutoTopic": {
        "does": "Turns automatic topic creation on or off. Started without a job_id.",
        "params": {"old_auto_status": "previous setting", "new_auto_status": "requested setting"},
    },
    "changeRetentionPolicy": {
        "does": "Changes what Kafka does when the disk fills up (delete old messages or reject producers).",
        "params": {"new_retention_policy": "requested policy", "origin_retention_policy": "previous policy"},
    },
    "kafkaConfigModify": {
        "does": "Changes instance configuration parameters; some need a restart.",
        "params": {"configs": "list of {name, value} pairs (often an encoded JSON string)"},
    },
    "kafkaResetConsumerOffset": {
        "does": "Resets the offsets of a consumer group (to earliest, latest or a timestamp). "
        "Started without a job_id.",
        "params": {"group": "consumer group", "topic": "topic", "partition": "-1 for all", "timestamp": "ms epoch"},
    },
    "rabbitmqPluginModify": {
        "does": "Enables or disables RabbitMQ plugins.",
        "params": {"enable": "true to enable, false to disable", "plugins": "comma-separated plugin names"},
    },
    "createInstance": {
        "does": "Creates the instance.",
        "params": {"engine_version": "engine version", "specification": "flavor", "storage_space": "GB"},
    },
    "restartInstance": {"does": "Restarts the brokers of the instance.", "params": {}},
    "resizeInstance": {
        "does": "Specification change: adds brokers, storage or a bigger flavor (the progress endpoint answers).",
        "params": {"new_spec_code": "target flavor", "new_storage_space": "GB", "new_broker_num": "brokers"},
    },
    "sslSwitch": {"does": "Turns SSL/SASL on or off for client connections.", "params": {"ssl_enable": "bool"}},
    "partitionReassign": {
        "does": "Reassigns topic partitions across brokers.",
        "params": {"reassignments": "list of topic/brokers/replication factor", "throttle": "bytes/s"},
    },
    "smartConnectSwitch": {"does": "Turns Smart Connect (connectors) on or off.", "params": {"enable": "bool"}},
    "batchDeleteTopics": {"does": "Deletes several topics at once.", "params": {"topics": "names"}},
    "batchDeleteGroups": {"does": "Deletes several consumer groups at once.", "params": {"group_ids": "names"}},
    "modifyUserPassword": {
        "does": "Resets the password of an instance user (SASL/PLAIN). The password itself is masked.",
        "params": {"user_name": "instance user", "new_password": "masked"},
    },
}

STATUSES: dict[str, dict[str, Any]] = {
    "CREATED": {"meaning": "Accepted, not started yet.", "terminal": False},
    "EXECUTING": {"meaning": "Running.", "terminal": False},
    "SUCCESS": {"meaning": "Finished successfully.", "terminal": True},
    "FAILED": {"meaning": "Finished with an error: the change was not (fully) applied.", "terminal": True},
    "DELETED": {"meaning": "The task record was deleted; the change did not complete.", "terminal": True},
    "CANCELLED": {"meaning": "A scheduled task that was cancelled before it ran.", "terminal": True},
}


# operations that return no job_id: their task is found by name, newest first
FOUND_BY_NAME = [
    "bindInstancePublicIp",
    "unbindInstancePublicIp",
    "modifyAutoTopic",
    "kafkaResetConsumerOffset",
]


@functools.cache
def glossary() -> dict[str, Any]:
    return {
        "statuses": STATUSES,
        "unknown_status": "Any other status is passed through verbatim and treated as still running.",
        "task_names": TASK_NAMES,
        "unknown_names": "Task names are open-ended; a name not listed here is still a valid task.",
        "found_by_name": [
            "bindInstancePublicIp",
            "unbindInstancePublicIp",
            "modifyAutoTopic",
            "kafkaResetConsumerOffset",
        ],
        "params": "params is the task's JSON parameters, decoded; values of secret-looking keys show as '***'.",
    }
