"""No secret ever reaches a log line, an error text or a tool result.

Every credential mode (AK/SK with a security token, a static IAM token, password login) is driven
through every error path the simulator can produce, with DEBUG logging on for every logger (ours,
the HTTP client's, the SDK's). Then the captured log records (raw and as formatted by the server's
redacting handler), every tool result and the reprs of the objects holding credentials are scanned for
the secret key, the security token, the IAM tokens (static and issued) and the passwords.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.config import Settings, load_settings
from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.redaction import MASK, RedactingFilter, Secret, mask_text, register_secret
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.faults import FAULT_KINDS

from .conftest import Simulator, fast_settings, region_env, sim_env
from .support import ManualClock, until

pytestmark = pytest.mark.anyio

KAFKA = data.KAFKA.id
PASSWORD_TASK = data.PASSWORD_TASK_ID
SECURITY_TOKEN = "FAKE-SECURITY-TOKEN-4f9a1c7e2b6d"
WRONG_SECRET_KEY = "WRONG-FAKE-SECRET-KEY-7c2e9a4f1b3d"
WRONG_PASSWORD = "wrong-fake-password-0d8e3b"
PARAM_SECRETS = ("Sup3r-S3cret!", 'password=\\"x\\"')
SECRETS = (
    data.SIM_SECRET_KEY,
    SECURITY_TOKEN,
    WRONG_SECRET_KEY,
    data.SIM_IAM_TOKEN,
    data.SIM_EXPIRED_IAM_TOKEN,
    data.SIM_IAM_PASSWORD,
    WRONG_PASSWORD,
    *PARAM_SECRETS,
    *data.SEEDED_SECRETS,
)
ISSUED_TOKEN = re.compile(r"SIM-ISSUED-[0-9a-f]{8}")  # tokens the simulator's IAM hands out
LOGGERS = ("", "bgtask_mcp", "httpx2", "httpcore2", "mcp", "anyio")


@dataclass
class Captured:
    records: list[logging.LogRecord] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # each message as it was when emitted, before any filter
    stream: io.StringIO = field(default_factory=io.StringIO)
    results: list[str] = field(default_factory=list)

    def add(self, result: CallToolResult) -> CallToolResult:
        self.results.append(" ".join(b.text for b in result.content if isinstance(b, TextContent)))
        self.results.append(json.dumps(result.structured_content))
        return result


class _Collector(logging.Handler):
    def __init__(self, captured: Captured) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        self.captured.records.append(record)
        self.captured.raw.append(record.getMessage())
        if record.exc_info:
            self.captured.raw.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def captured() -> Iterator[Captured]:
    """DEBUG for every logger; a raw collector plus the server's own redacting stderr format."""
    cap = Captured()
    collector = _Collector(cap)
    formatted = logging.StreamHandler(cap.stream)
    formatted.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    formatted.addFilter(RedactingFilter())
    formatted.setLevel(logging.DEBUG)
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(collector)  # first: it sees each record before the redacting handler below
    root.addHandler(formatted)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield cap
    finally:
        root.removeHandler(collector)
        root.removeHandler(formatted)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def assert_no_secret(where: str, texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{where} leaks {secret!r}: {text[:300]!r}"
        assert not ISSUED_TOKEN.search(text), f"{where} leaks an issued IAM token: {text[:300]!r}"


def modes(simulator: Simulator) -> dict[str, Settings]:
    base = {**region_env(simulator), "BGTASK_REGION": "eu-de", "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID}
    password = {**base, "BGTASK_IAM_USER": data.SIM_IAM_USER, "BGTASK_IAM_DOMAIN": data.SIM_IAM_DOMAIN}
    return {
        "aksk": fast_settings(sim_env(simulator, BGTASK_SECURITY_TOKEN=SECURITY_TOKEN)),
        "aksk-wrong": fast_settings(sim_env(simulator, BGTASK_SECRET_KEY=WRONG_SECRET_KEY)),
        "token": fast_settings({**base, "BGTASK_IAM_TOKEN": data.SIM_IAM_TOKEN}),
        "token-expired": fast_settings({**base, "BGTASK_IAM_TOKEN": data.SIM_EXPIRED_IAM_TOKEN}),
        "password": fast_settings({**password, "BGTASK_IAM_PASSWORD": data.SIM_IAM_PASSWORD}),
        "password-wrong": fast_settings({**password, "BGTASK_IAM_PASSWORD": WRONG_PASSWORD}),
    }


async def drive(client: Client, simulator: Simulator, cap: Captured) -> None:
    """Every path a call can take: successes, argument errors, DMS errors, each fault, cancellation."""

    async def call(tool: str, *pairs: str, **args: Any) -> CallToolResult:
        args.update(dict(zip(pairs[::2], pairs[1::2], strict=True)))
        return cap.add(await client.call_tool(tool, args))

    await call("get_background_task", instance_id=KAFKA, task_id=PASSWORD_TASK)
    await call("get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    await call("list_background_tasks", instance_id=KAFKA, limit=100)
    await call("list_instances", name="prod-events", region="eu-nl")
    await call("list_background_tasks", instance_id=KAFKA, name="modifyUserPassword", status="SUCCESS")
    await call("wait_for_background_task", instance_id=KAFKA, task_id=data.FAILED_TASK_ID, timeout_seconds=1)
    await call("get_background_task", instance_id="bad id", task_id="x")
    await call("get_background_task", instance_id="not-a-uuid", task_id=data.EXAMPLE_TASK_ID)
    await call("get_background_task", instance_id="00000000-0000-4000-8000-000000000000", task_id="f" * 32)
    await call("get_background_task", instance_id=KAFKA, task_id="f" * 32)
    await call("get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID, project_id="e" * 32)
    await call("list_background_tasks", instance_id=KAFKA, begin_time="yesterday-ish", status="NOPE!")
    for kind in FAULT_KINDS:
        if kind == "hang":
            continue  # below, as a cancelled call
        extra = {"latency_s": 0.01} if kind in ("latency", "trickle") else {}
        simulator.faults({"kind": kind, "path_contains": "/tasks", "count": 8, **extra})
        await call("list_background_tasks", instance_id=data.RABBITMQ.id, limit=1)
    simulator.faults({"kind": "hang"})
    before = simulator.stats().get("all", 0)
    async with anyio.create_task_group() as group:
        group.start_soon(call, "list_background_tasks", "instance_id", data.ROCKETMQ.id)
        await until(lambda: simulator.stats().get("all", 0) > before, "the call reached the simulator")
        group.cancel_scope.cancel()  # a cancelled call on every path too
    simulator.faults()


@pytest.mark.parametrize("mode", ["aksk", "aksk-wrong", "token", "token-expired", "password", "password-wrong"])
async def test_no_secret_in_logs_results_or_errors(simulator: Simulator, captured: Captured, mode: str) -> None:
    settings = modes(simulator)[mode]
    async with Client(build_server(settings, clock=ManualClock())) as client:
        await drive(client, simulator, captured)
    assert captured.results and captured.records
    assert any(r.levelno == logging.DEBUG for r in captured.records), "DEBUG logging was not on"
    assert_no_secret("a tool result", captured.results)
    assert_no_secret("the server's log output", [captured.stream.getvalue()])
    assert_no_secret("a log record", captured.raw)  # even before the redacting filter
    assert_no_secret("the settings", [repr(settings), str(settings)])
    if mode.startswith("password") and mode != "password-wrong":
        assert simulator.stats().get("iam:token", 0) >= 1  # a token was really issued and used


async def test_password_params_are_masked(simulator: Simulator, captured: Captured) -> None:
    async with Client(build_server(modes(simulator)["aksk"])) as client:
        result = captured.add(
            await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": PASSWORD_TASK})
        )
    assert not result.is_error and result.structured_content is not None
    params = result.structured_content["tasks"][0]["params"]
    assert params["user_name"] == "app-producer"  # ordinary values stay
    assert params["new_password"] == MASK and params["sasl.jaas.config"] == MASK
    assert_no_secret("a tool result", captured.results)


def client_of(settings: Settings) -> DMSClient:
    return DMSClient(
        settings.default_cloud, settings.limits, overrides=dict(settings.endpoint_overrides), clock=ManualClock()
    )


async def test_objects_holding_credentials_do_not_show_them(simulator: Simulator) -> None:
    for name, settings in modes(simulator).items():
        async with client_of(settings) as client:
            if name == "password":
                await client.show_task("eu-de", data.SIM_PROJECT_ID, KAFKA, data.EXAMPLE_TASK_ID)  # a token is held
            shown = [repr(settings), repr(settings.default_cloud.credentials), repr(client.auth)]
        assert_no_secret(f"{name}: a repr", shown)
    creds = load_settings({"BGTASK_SECRET_KEY": "x" * 20, "BGTASK_IAM_PASSWORD": "y" * 20}).default_cloud.credentials
    assert isinstance(creds.secret_key, Secret) and isinstance(creds.iam_password, Secret)


async def test_error_texts_of_failed_logins_do_not_echo_credentials(simulator: Simulator) -> None:
    for name in ("aksk-wrong", "token-expired", "password-wrong"):
        async with client_of(modes(simulator)[name]) as client:
            with pytest.raises(Exception) as caught:
                await client.show_task("eu-de", data.SIM_PROJECT_ID, KAFKA, data.EXAMPLE_TASK_ID)
        assert_no_secret(f"{name}: the error", [str(caught.value), repr(caught.value), caught.value.args[0]])


def test_redacting_filter_masks_registered_secrets_in_messages_args_and_tracebacks() -> None:
    secret = "REGISTERED-FAKE-SECRET-91c3"
    register_secret(secret)
    register_secret("abc")  # too short to mask without mangling ordinary words
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("bgtask_mcp.test_leaks")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("in the message %s", secret)
        log.warning("in a dict arg %s", {"key": secret})
        try:
            raise ValueError(f"boom {secret}")
        except ValueError:
            log.exception("in a traceback")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    out = stream.getvalue()
    assert secret not in out and out.count(MASK) >= 3
    assert mask_text("abc") == "abc"
    assert mask_text(f"x{secret}y") == f"x{MASK}y"
    assert str(Secret(secret)) == repr(Secret(secret)) == "Secret('***')"
