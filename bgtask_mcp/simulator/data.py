"""Seed data of the embedded DMS simulator: three engines, every known task name, every status,
and the awkward ``params`` strings real instances produce.

Times are relative to the simulator's start, so the data always looks recent and time windows
("the last 24 hours") always find something.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bgtask_mcp.glossary import TASK_NAMES

SIM_PROJECT_ID = "0123456789abcdef0123456789abcdef"
SIM_ACCESS_KEY = "SIMULATORAK00000000000"
SIM_SECRET_KEY = "SIMULATORSK0000000000000000000000000000000"  # fake, published on purpose
SIM_IAM_TOKEN = "SIMULATOR-IAM-TOKEN-0000000000000000"
SIM_EXPIRED_IAM_TOKEN = "SIMULATOR-EXPIRED-IAM-TOKEN-000000000"
SIM_IAM_USER = "sim-user"
SIM_IAM_PASSWORD = "sim-password-not-secret"
SIM_IAM_DOMAIN = "sim-domain"


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    engine: str


KAFKA = Instance("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "prod-events", "kafka")
RABBITMQ = Instance("2b4d6f8a-1c3e-4a5b-9d7f-0e2c4a6b8d1f", "orders-mq", "rabbitmq")
ROCKETMQ = Instance("9a8b7c6d-5e4f-4321-8fed-cba987654321", "payments-rocket", "rocketmq")
# a busy instance whose history spans several pages of 100
ARCHIVE = Instance("4c3b2a19-0f8e-4d7c-a6b5-4a3928171605", "audit-archive", "kafka")
INSTANCES: tuple[Instance, ...] = (KAFKA, RABBITMQ, ROCKETMQ, ARCHIVE)

USERS = {
    "paas_dms": "3df5acbc24a54fadb62a043c9000a307",
    "ops-alice": "5a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "ci-deployer": "9e8d7c6b5a4f30211f2e3d4c5b6a7988",
}


@dataclass
class SimTask:
    id: str
    instance_id: str
    name: str
    user_name: str
    params: str
    # seconds relative to the simulator's start (negative = in the past)
    created: float
    # final status, reached at ``created + duration``; ``None`` duration = already final
    final_status: str
    duration: float = 3.0
    live: bool = False
    project_id: str = SIM_PROJECT_ID
    progress_steps: list[str] = field(default_factory=list)


def task_id(seed: str) -> str:
    return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()


def _p(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


HOUR = 3600.0
DAY = 24 * HOUR

# the public API page's example task, verbatim
EXAMPLE_TASK_ID = "8abfa7b272adc5b40172b73130065ae7"
FAILED_TASK_ID = task_id("prod-events/changeRetentionPolicy")
LIVE_RESIZE_ID = task_id("prod-events/resize-live")


def seed_tasks() -> list[SimTask]:
    k, r, q = KAFKA.id, RABBITMQ.id, ROCKETMQ.id
    tasks = [
        SimTask(
            EXAMPLE_TASK_ID,
            k,
            "bindInstancePublicIp",
            "paas_dms",
            '{"public_ip_id":"1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f","public_ip_address":"100.93.2.18",'
            '"enable_public_ip":true}',
            created=-2 * HOUR,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("prod-events/unbind"),
            k,
            "unbindInstancePublicIp",
            "ops-alice",
            '{"public_ip_id":"","enable_public_ip":false}',
            created=-30 * DAY,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("prod-events/modifyAutoTopic"),
            k,
            "modifyAutoTopic",
            "ops-alice",
            '{"old_auto_status":false,"new_auto_status":true}',
            created=-5 * HOUR,
            final_status="SUCCESS",
        ),
        SimTask(
            FAILED_TASK_ID,
            k,
            "changeRetentionPolicy",
            "ci-deployer",
            '{"new_retention_policy":"produce_reject","origin_retention_policy":"time_base"}\n',
            created=-3 * HOUR,
            final_status="FAILED",
            duration=41.5,
        ),
        SimTask(
            task_id("prod-events/kafkaConfigModify"),
            k,
            "kafkaConfigModify",
            "ci-deployer",
            _p(
                {
                    "configs": _p(
                        [{"name": "log.retention.hours", "value": "72"}, {"name": "min.insync.replicas", "value": "2"}]
                    )
                }
            ),
            created=-26 * HOUR,
            final_status="SUCCESS",
            duration=95.0,
        ),
        SimTask(
            task_id("prod-events/resetOffset"),
            k,
            "kafkaResetConsumerOffset",
            "ops-alice",
            '{"group":"billing","topic":"[topic-1]","partition":-1,"timestamp":1718438153606,'
            '"trace_id":123456789012345678901234567890}',
            created=-7 * DAY,
            final_status="DELETED",
        ),
        SimTask(
            task_id("prod-events/password"),
            k,
            "modifyUserPassword",
            "ops-alice",
            '{"user_name":"app-producer","new_password":"Sup3r-S3cret!","sasl.jaas.config":'
            '"org.apache.kafka.common.security.plain.PlainLoginModule required username=\\"app\\" password=\\"x\\";"}',
            created=-50 * HOUR,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("prod-events/scheduledRestart"),
            k,
            "restartInstance",
            "ops-alice",
            "",
            created=-4 * DAY,
            final_status="CANCELLED",
        ),
        SimTask(
            task_id("prod-events/ssl"),
            k,
            "sslSwitch",
            "paas_dms",
            '{"ssl_enable":true,"note":"Änderung für Kunden — テスト"}',
            created=-9 * DAY,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("prod-events/reassign"),
            k,
            "partitionReassign",
            "ci-deployer",
            '{"reassignments":[{"topic":"orders","brokers":[0,1,2],"replication_factor":3}],"throttle":-1}',
            created=-12 * HOUR,
            final_status="ROLLING_BACK",  # a status this product has never seen: kept verbatim
        ),
        SimTask(
            LIVE_RESIZE_ID,
            k,
            "resizeInstance",
            "ops-alice",
            '{"new_spec_code":"dms.instance.kafka.cluster.c3.small.2","new_broker_num":5,"new_storage_space":1200}',
            created=-1.0,
            final_status="SUCCESS",
            duration=20.0,
            live=True,
            progress_steps=["pre_check", "broker_expansion", "disk_expansion", "post_check"],
        ),
        SimTask(
            task_id("orders-mq/plugins"),
            r,
            "rabbitmqPluginModify",
            "paas_dms",
            '{"enable":true,"plugins":"rabbitmq_delayed_message_exchange"}\n',
            created=-6 * HOUR,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("orders-mq/restart"),
            r,
            "restartInstance",
            "ops-alice",
            "{}",
            created=-2 * DAY,
            final_status="FAILED",
            duration=300.0,
        ),
        SimTask(
            task_id("orders-mq/create"),
            r,
            "createInstance",
            "ci-deployer",
            '{"engine_version":"3.8.35","specification":"rabbitmq.2u4g.cluster","storage_space":"300"}',
            created=-60 * DAY,
            final_status="SUCCESS",
            duration=620.0,
        ),
        SimTask(
            task_id("rocket/batchDeleteTopics"),
            q,
            "batchDeleteTopics",
            "ci-deployer",
            '"{\\"topics\\":[\\"tmp-1\\",\\"tmp-2\\"]}"',  # JSON encoded twice
            created=-20 * HOUR,
            final_status="SUCCESS",
        ),
        SimTask(
            task_id("rocket/batchDeleteGroups"),
            q,
            "batchDeleteGroups",
            "ci-deployer",
            '["group-a","group-b"]',
            created=-21 * HOUR,
            final_status="FAILED",
        ),
        SimTask(
            task_id("rocket/smartConnect"),
            q,
            "smartConnectSwitch",
            "ops-alice",
            "not json at all: enable=true",
            created=-2.0,
            final_status="SUCCESS",
            duration=10.0,
            live=True,
        ),
    ]
    names = sorted(TASK_NAMES)
    statuses = ["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "SUCCESS", "CANCELLED"]
    for i in range(250):
        name = names[i % len(names)]
        tasks.append(
            SimTask(
                task_id(f"audit-archive/{i}"),
                ARCHIVE.id,
                name,
                list(USERS)[i % 3],
                _p({"sequence": i, "change": f"change #{i}"}),
                created=-(i + 1) * 1800.0,
                final_status=statuses[i % len(statuses)],
                duration=5.0 + i % 7,
            )
        )
    return tasks
