"""Seed data of the embedded DMS simulator, as tables: regions with their projects, instances of all three
engines, every known task name and status, the awkward ``params`` strings real instances produce, and
secrets in every shape the masking must catch (each carrying a marker listed in ``SEEDED_SECRETS``).

Times are relative to the simulator's start, so the data always looks recent and time windows ("the last 24
hours") always find something.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bgtask_mcp.vocabulary import TASK_NAMES

SIM_ACCESS_KEY = "SIMULATORAK00000000000"
SIM_SECRET_KEY = "SIMULATORSK0000000000000000000000000000000"  # fake, published on purpose
SIM_IAM_TOKEN = "SIMULATOR-IAM-TOKEN-0000000000000000"  # scoped to the eu-de project
SIM_EXPIRED_IAM_TOKEN = "SIMULATOR-EXPIRED-IAM-TOKEN-000000000"
SIM_IAM_USER = "sim-user"
SIM_IAM_PASSWORD = "sim-password-not-secret"
SIM_IAM_DOMAIN = "sim-domain"
SIM_DOMAIN_ID = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True)
class Region:
    name: str
    project_id: str


EU_DE = Region("eu-de", "0123456789abcdef0123456789abcdef")
EU_NL = Region("eu-nl", "fedcba9876543210fedcba9876543210")
EU_CH2 = Region("eu-ch2", "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2")
REGIONS: tuple[Region, ...] = (EU_DE, EU_NL, EU_CH2)
SIM_PROJECT_ID = EU_DE.project_id  # the default region's project
# IAM's project table: (name, id). Two projects share one name and another region has none: the lookup's
# "several" and "none" answers.
PROJECTS: tuple[tuple[str, str], ...] = (
    *((r.name, r.project_id) for r in REGIONS),
    ("ap-southeast-2", "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a1"),
    ("ap-southeast-2", "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"),
)


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    engine: str
    region: str = "eu-de"
    engine_version: str = "3.x"
    type: str = "cluster"
    specification: str = "100MB"
    status: str = "RUNNING"
    created: float = -90 * DAY  # seconds relative to the simulator's start
    tasks_api: bool = True  # False: /tasks answers 404 DMS.00404001 (OTC documents only scheduled-tasks for RocketMQ)


KAFKA = Instance("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "prod-events", "kafka", specification="300MB")
RABBITMQ = Instance("2b4d6f8a-1c3e-4a5b-9d7f-0e2c4a6b8d1f", "orders-mq", "rabbitmq", "eu-de", "3.8.35", "single",
                    "rabbitmq.2u4g.single")  # fmt: skip
ROCKETMQ = Instance("9a8b7c6d-5e4f-4321-8fed-cba987654321", "payments-rocket", "rocketmq", "eu-de", "4.8.0",
                    specification="c6.4u8g.cluster")  # fmt: skip
ARCHIVE = Instance("4c3b2a19-0f8e-4d7c-a6b5-4a3928171605", "audit-archive", "kafka")  # history of 250 tasks
MIRROR = Instance("5d4c3b2a-1908-4e7d-b6c5-5b4a39281716", "prod-events-mirror", "kafka", status="CREATING",
                  created=-2 * HOUR)  # fmt: skip
LEGACY = Instance("7e6d5c4b-3a29-4f18-87e6-6c5b4a392817", "old-prod-events", "kafka", engine_version="2.7",
                  status="FROZEN", created=-400 * DAY)  # fmt: skip
SCRATCH = Instance("0e1d2c3b-4a59-4867-9d5e-4f3a2b1c0d9e", "scratch-events", "kafka", created=-1 * DAY)  # tests' own
NL_EVENTS = Instance("8f7e6d5c-4b3a-4a29-98f7-7d6c5b4a3928", "prod-events", "kafka", "eu-nl", specification="300MB")
NL_ANALYTICS = Instance("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "analytics-stream", "kafka", "eu-nl")
NL_BILLING = Instance("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "billing-mq", "rabbitmq", "eu-nl", "3.8.35")
# RocketMQ as OTC documents it: scheduled-tasks only, no /tasks API
NL_ROCKET = Instance("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "nl-payments-rocket", "rocketmq", "eu-nl", "4.8.0",
                     specification="c6.4u8g.cluster", tasks_api=False)  # fmt: skip
# an instance that failed to be created: ListInstances shows it only with include_failure=true
STAGING = Instance("d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", "events-staging", "kafka", status="CREATEFAILED",
                   created=-3 * HOUR)  # fmt: skip
# a busy account: more instances than one page of 50
CH2_TENANTS = tuple(
    Instance(f"c2000000-0000-4000-8000-{i:012d}", f"tenant-{i:03d}-events", "kafka", "eu-ch2") for i in range(1, 121)
)
INSTANCES: tuple[Instance, ...] = (
    KAFKA, RABBITMQ, ROCKETMQ, ARCHIVE, MIRROR, LEGACY, SCRATCH, STAGING,
    NL_EVENTS, NL_ANALYTICS, NL_BILLING, NL_ROCKET, *CH2_TENANTS,
)  # fmt: skip

USERS = {
    "paas_dms": "3df5acbc24a54fadb62a043c9000a307",
    "ops-alice": "5a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "ci-deployer": "9e8d7c6b5a4f30211f2e3d4c5b6a7988",
}


def region_of(name: str) -> Region:
    return next(r for r in REGIONS if r.name == name)


@dataclass
class SimTask:
    id: str
    instance_id: str
    name: str
    user_name: str
    params: str
    created: float  # seconds relative to the simulator's start (negative = in the past)
    final_status: str  # reached at ``created + duration`` for a live task
    duration: float = 3.0
    live: bool = False
    progress_steps: list[str] = field(default_factory=list)
    manual: dict[str, Any] | None = None  # a task whose status and progress tests set by hand
    schedule: float | None = None  # scheduled tasks: when it runs, relative to the simulator's start

    @property
    def project_id(self) -> str:
        instance = next(i for i in INSTANCES if i.id == self.instance_id)
        return region_of(instance.region).project_id


def task_id(seed: str) -> str:
    return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# the public API page's example task, verbatim
EXAMPLE_TASK_ID = "8abfa7b272adc5b40172b73130065ae7"
FAILED_TASK_ID = task_id("prod-events/changeRetentionPolicy")
LIVE_RESIZE_ID = task_id("prod-events/resize-live")
PASSWORD_TASK_ID = task_id("prod-events/password")
NL_BIND_ID = task_id("nl/prod-events/bind")
PLANNED_REASSIGN_ID = task_id("prod-events/scheduled/reassign")
CANCELLED_RESTART_ID = task_id("prod-events/scheduledRestart")
NL_ROCKET_PLANNED_ID = task_id("nl/rocket/planned")
NL_RESIZE_FAILED_ID = task_id("nl/analytics/resize")
ROCKET_RESIZE_ID = task_id("rocket/resize")
RABBIT_PLANNED_ID = task_id("orders-mq/scheduled/restart")
SCALE_OUT_STEPS = ["pre_check", "broker_expansion", "disk_expansion", "post_check"]

# Secrets in every shape masking must catch: each is a marker that must never appear in anything the server
# emits (tests search every result, log line and error text of the whole suite for them).
# markers in the request bodies CTS recorded (users created with a password, passwords reset, ...)
SEEDED_CTS_SECRETS: tuple[str, ...] = tuple(
    f"SEEDEDCTSSECRET{n:02d}x{task_id('cts' + str(n))[:10]}" for n in range(1, 7)
)
SEEDED_SECRETS: tuple[str, ...] = (
    *(f"SEEDEDSECRET{n:02d}x{task_id(str(n))[:10]}" for n in range(1, 17)),
    *SEEDED_CTS_SECRETS,
)
_S = SEEDED_SECRETS
_NESTED = _compact_json([{"name": "ssl.truststore.password", "value": _S[0]}, {"name": "min.insync.replicas",
                          "value": "2"}])  # fmt: skip


def _deep(levels: int, leaf: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = leaf
    for depth in range(levels):
        node = {f"level{depth}": node}
    return node


SECRET_PARAMS: tuple[tuple[str, str], ...] = (
    ("kafkaConfigModify", _compact_json({"configs": _NESTED})),  # name/value pairs, JSON encoded in a string
    ("kafkaConfigModify", '{"password": "' + _S[1] + '", "retries": NaN}'),  # not strict JSON
    ("kafkaConfigModify", '{"configs": [{"name": "sasl.password", "value": "' + _S[2] + '"},]}'),  # trailing comma
    ("smartConnectSwitch", '{"connection_string": "' + _S[3] + '", "topic": "orde'),  # truncated
    ("smartConnectSwitch", _compact_json({"target": f"kafka://admin:{_S[4]}@broker-1:9093"})),  # URL credentials
    ("smartConnectSwitch", f"db_password={_S[5]} host=db-1 port=5432"),  # free text
    ("smartConnectSwitch", _compact_json({"note": f"sent Authorization: Bearer {_S[6]}"})),  # bearer in text
    ("modifyUserPassword", _compact_json({"dbPwd": _S[7], "passphrase": _S[8], "cookie": _S[9]})),  # key words
    ("kafkaConfigModify", _compact_json(_deep(40, {"password": _S[10]}))),  # deeper than the depth cap
    ("sslSwitch", _compact_json({"key": f"-----BEGIN PRIVATE KEY-----\nMIIB{_S[11]}\n-----END PRIVATE KEY-----"})),
    ("smartConnectSwitch", _compact_json({"header": f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.{_S[12]}"})),  # JWT
    ("kafkaConfigModify", _compact_json({"configs": [{"key": "ssl.keystore.password", "value": _S[13]}]})),
    ("kafkaConfigModify", _compact_json({"configs": [{"config_name": "sasl.jaas.config", "config_value": _S[14]}]})),
    ("modifyUserPassword", '{"user_name":"app","new_password":"' + _S[15] + '"'),  # cut off mid-document
)


def _task(seed: str, instance: Instance, name: str, user: str, params: str, created: float, status: str,
          **extra: Any) -> SimTask:  # fmt: skip
    return SimTask(task_id(seed), instance.id, name, user, params, created, status, **extra)


def seed_tasks() -> list[SimTask]:
    k, r, q = KAFKA, RABBITMQ, ROCKETMQ
    tasks = [
        SimTask(EXAMPLE_TASK_ID, k.id, "bindInstancePublicIp", "paas_dms",
                '{"public_ip_id":"1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f","public_ip_address":"100.93.2.18",'
                '"enable_public_ip":true}', created=-2 * HOUR, final_status="SUCCESS"),
        _task("prod-events/unbind", k, "unbindInstancePublicIp", "ops-alice",
              '{"public_ip_id":"","enable_public_ip":false}', -30 * DAY, "SUCCESS"),
        _task("prod-events/modifyAutoTopic", k, "modifyAutoTopic", "ops-alice",
              '{"old_auto_status":false,"new_auto_status":true}', -5 * HOUR, "SUCCESS"),
        SimTask(FAILED_TASK_ID, k.id, "changeRetentionPolicy", "ci-deployer",
                '{"new_retention_policy":"produce_reject","origin_retention_policy":"time_base"}\n',
                created=-3 * HOUR, final_status="FAILED", duration=41.5),
        _task("prod-events/kafkaConfigModify", k, "kafkaConfigModify", "ci-deployer",
              _compact_json({"configs": _compact_json([{"name": "log.retention.hours", "value": "72"},
                                                       {"name": "min.insync.replicas", "value": "2"}])}),
              -26 * HOUR, "SUCCESS", duration=95.0),
        _task("prod-events/resetOffset", k, "kafkaResetConsumerOffset", "ops-alice",
              '{"group":"billing","topic":"[topic-1]","partition":-1,"timestamp":1718438153606,'
              '"trace_id":123456789012345678901234567890}', -7 * DAY, "DELETED"),
        SimTask(PASSWORD_TASK_ID, k.id, "modifyUserPassword", "ops-alice",
                '{"user_name":"app-producer","new_password":"Sup3r-S3cret!","sasl.jaas.config":'
                '"org.apache.kafka.common.security.plain.PlainLoginModule required username=\\"app\\" '
                'password=\\"x\\";"}', created=-50 * HOUR, final_status="SUCCESS"),
        _task("prod-events/ssl", k, "sslSwitch", "paas_dms",
              '{"ssl_enable":true,"note":"Änderung für Kunden — テスト"}', -9 * DAY, "SUCCESS"),
        _task("prod-events/reassign", k, "partitionReassign", "ci-deployer",
              '{"reassignments":[{"topic":"orders","brokers":[0,1,2],"replication_factor":3}],"throttle":-1}',
              -12 * HOUR, "FAILED", duration=900.0),
        SimTask(LIVE_RESIZE_ID, k.id, "resizeInstance", "ops-alice",
                '{"new_spec_code":"dms.instance.kafka.cluster.c3.small.2","new_broker_num":5,"new_storage_space":1200}',
                created=-1.0, final_status="SUCCESS", duration=20.0, live=True,
                progress_steps=SCALE_OUT_STEPS),
        _task("orders-mq/plugins", r, "rabbitmqPluginModify", "paas_dms",
              '{"enable":true,"plugins":"rabbitmq_delayed_message_exchange"}\n', -6 * HOUR, "SUCCESS"),
        _task("orders-mq/restart", r, "restartInstance", "ops-alice", "{}", -2 * DAY, "FAILED", duration=300.0),
        _task("orders-mq/create", r, "createInstance", "ci-deployer",
              '{"engine_version":"3.8.35","specification":"rabbitmq.2u4g.cluster","storage_space":"300"}',
              -60 * DAY, "SUCCESS", duration=620.0),
        _task("rocket/batchDeleteTopics", q, "batchDeleteTopics", "ci-deployer",
              '"{\\"topics\\":[\\"tmp-1\\",\\"tmp-2\\"]}"', -20 * HOUR, "SUCCESS"),  # JSON encoded twice
        SimTask(ROCKET_RESIZE_ID, q.id, "resizeInstance", "ops-alice", '{"new_broker_num":4}', created=-8 * HOUR,
                final_status="SUCCESS", duration=300.0, progress_steps=SCALE_OUT_STEPS),
        _task("rocket/batchDeleteGroups", q, "batchDeleteGroups", "ci-deployer", '["group-a","group-b"]',
              -21 * HOUR, "FAILED"),
        _task("rocket/smartConnect", q, "smartConnectSwitch", "ops-alice", "not json at all: enable=true", -2.0,
              "SUCCESS", duration=10.0, live=True),
        SimTask(NL_BIND_ID, NL_EVENTS.id, "bindInstancePublicIp", "ops-alice",
                '{"public_ip_id":"6c1e0b7a-52d4-4b0e-9d63-1f7a2c3e4d5f","public_ip_address":"80.158.12.34",'
                '"enable_public_ip":true}', created=-40 * 60.0, final_status="SUCCESS", duration=48.0),
        _task("nl/prod-events/unbind", NL_EVENTS, "unbindInstancePublicIp", "ops-alice",
              '{"public_ip_id":"","enable_public_ip":false}', -3 * DAY, "SUCCESS"),
        _task("nl/prod-events/config", NL_EVENTS, "kafkaConfigModify", "ci-deployer",
              _compact_json({"configs": [{"name": "log.retention.hours", "value": "168"}]}), -5 * HOUR, "SUCCESS"),
        SimTask(NL_RESIZE_FAILED_ID, NL_ANALYTICS.id, "resizeInstance", "ci-deployer", '{"new_broker_num":4}',
                created=-9 * HOUR, final_status="FAILED", duration=600.0, progress_steps=SCALE_OUT_STEPS),
        _task("nl/billing/plugins", NL_BILLING, "rabbitmqPluginModify", "paas_dms",
              '{"enable":false,"plugins":"rabbitmq_shovel"}', -30 * HOUR, "SUCCESS"),
    ]  # fmt: skip
    tasks += [
        _task(f"secrets/{n}", KAFKA, name, "ops-alice", params, -(70 + n) * HOUR, "SUCCESS")
        for n, (name, params) in enumerate(SECRET_PARAMS)
    ]
    names = sorted(TASK_NAMES)
    statuses = ["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "SUCCESS", "DELETED"]
    tasks += [
        _task(f"audit-archive/{i}", ARCHIVE, names[i % len(names)], list(USERS)[i % 3],
              _compact_json({"sequence": i, "change": f"change #{i}"}), -(i + 1) * 1800.0, statuses[i % len(statuses)],
              duration=5.0 + i % 7)
        for i in range(250)
    ]  # fmt: skip
    return tasks


def seed_scheduled() -> list[SimTask]:
    """Scheduled tasks (ListScheduledTasks): one planned for tonight, one cancelled, and the history of the
    RocketMQ instance that has no /tasks API."""
    return [
        SimTask(PLANNED_REASSIGN_ID, KAFKA.id, "partitionReassign", "ops-alice",
                '{"reassignments":[{"topic":"orders","brokers":[1,2,3],"replication_factor":3}],"throttle":1048576}',
                created=-1 * HOUR, final_status="SUCCESS", duration=900.0, schedule=6 * HOUR),
        SimTask(CANCELLED_RESTART_ID, KAFKA.id, "restartInstance", "ops-alice", "", created=-4 * DAY,
                final_status="CANCELLED", schedule=-3 * DAY),
        SimTask(RABBIT_PLANNED_ID, RABBITMQ.id, "restartInstance", "ci-deployer", "{}", created=-2 * HOUR,
                final_status="SUCCESS", duration=300.0, schedule=12 * HOUR),
        _task("nl/rocket/restart", NL_ROCKET, "restartInstance", "ci-deployer", "{}", -5 * HOUR, "SUCCESS",
              duration=120.0, schedule=-3 * HOUR),
        SimTask(NL_ROCKET_PLANNED_ID, NL_ROCKET.id, "resizeInstance", "ops-alice", '{"new_broker_num":4}',
                created=-30 * 60.0, final_status="SUCCESS", duration=600.0, schedule=2 * HOUR),
    ]  # fmt: skip


def instance_wire(instance: Instance, started: float) -> dict[str, Any]:
    """A ListInstances entry with the real field names, addresses and all (the server must drop those)."""
    record: dict[str, Any] = {
        "name": instance.name,
        "engine": "reliability" if instance.engine == "rocketmq" else instance.engine,
        "engine_version": instance.engine_version,
        "specification": instance.specification,
        "storage_space": 600,
        "status": instance.status,
        "instance_id": instance.id,
        "type": instance.type,
        "created_at": str(int((started + instance.created) * 1000)),
        "vpc_id": "5810f4bb-b202-45cd-a5d1-9c3f2e1d0a9b",
        "vpc_name": "vpc-prod",
        "security_group_id": "0f1e2d3c-4b5a-4697-8877-665544332211",
        "subnet_id": "1e2d3c4b-5a69-4788-9766-554433221100",
        "user_id": USERS["ops-alice"],
        "user_name": "ops-alice",
        "ssl_enable": False,
        "resource_spec_code": "dms.instance.kafka.cluster.c3.mini",
        "charging_mode": 1,
    }
    # the addresses each engine's model has (huaweicloudsdk*: ShowInstanceResp, InstanceDetail)
    if instance.engine == "rocketmq":
        record |= {"namesrv_address": "192.168.0.11:8100", "broker_address": "192.168.0.11:10100"}
    else:
        record |= {
            "connect_address": "192.168.0.11,192.168.0.12,192.168.0.13",
            "port": 9092,
            "access_user": "app-admin",
        }
    return record
