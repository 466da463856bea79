"""Property-based tests over every tool argument, through a real MCP client (in process) against the
simulator process: any text of any length, path and query characters, percent-encodings, unicode,
numbers of any size and JSON values of the wrong type.

The properties, checked for every example:

1. the answer is a correct answer (checked against the simulator's seed data) or a clear tool error
   (it says what was wrong; never the SDK's bare "Error executing tool X" of an unexpected exception);
2. the simulator never sees a request outside what the server may send: every request is a GET of
   ``/v2/<hex32>/instances[/<uuid>/tasks[/<id>[/progress]]]`` or of IAM's ``/v3/projects`` (the project lookup;
   the harness configures no project id, so it happens for every region a call names).

Derandomized (the same examples on every run, as CI needs) with ``deadline=None``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import MODES, Simulator, fast_settings, sim_env

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # long texts' reprs

EXAMPLES = int(os.environ.get("BGTASK_PROPERTY_EXAMPLES", "200"))
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

HEX32 = r"[0-9a-f]{32}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ALLOWED_PATH = re.compile(
    rf"^(/v2/{HEX32}/instances(/{UUID}/(scheduled-tasks|tasks(/({HEX32}|{UUID})(/progress)?)?))?|/v3/projects"
    rf"|/v3/{HEX32}/traces)$"
)
AGGREGATES = {
    "all",
    "max_in_flight",
    "disconnected",
    "GET list",
    "GET show",
    "GET progress",
    "GET scheduled",
    "GET traces",
    "GET instances",
    "GET projects",
    "iam:projects",
}

EU_DE = {i.id for i in data.INSTANCES if i.region == "eu-de"}
SEED = [task for task in data.seed_tasks() if task.instance_id in EU_DE]  # the default region's tasks
BY_ID = {task.id: task for task in SEED}
LIVE = {task.id for task in SEED if task.live}
INSTANCES = [i.id for i in data.INSTANCES if i.region == "eu-de" and not i.id.startswith("c2")]
REGIONS = ["eu-de", "EU-NL", "eu-ch2", "ap-southeast-1", "mars-north-1", " eu-de "]
TERMINAL = {"SUCCESS", "FAILED", "DELETED", "CANCELLED"}
FINISHED = sorted(
    task.id for task in SEED if not task.live and task.final_status in TERMINAL and task.instance_id != data.ARCHIVE.id
)
STATUSES = ["CREATED", "EXECUTING", "SUCCESS", "FAILED", "DELETED", "CANCELLED", "RUNNING"]
# how the tool errors we raise on purpose read: each names what was wrong
CLEAR_ERROR = re.compile(
    r"Next step: |validation error|is not a DMS \w+ id|is not a task status|swap them|no task [0-9a-f]|outside 1970",
)

# -- strategies --------------------------------------------------------------------------------------

SPECIAL = [
    "../",
    "..",
    "/",
    "\\",
    "%2F",
    "%2f",
    "%2e%2e",
    "%00",
    "%",
    "?",
    "#",
    "&",
    "=",
    "+",
    ";",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "*",
    "~",
    "'",
    '"',
    "<",
    ">",
    "tasks",
    "progress",
    "v3/auth/tokens",
    "_simulator/faults",
    "é",
    "ß",
    "İ",
    "٣",
    "\U0001d7d8",  # MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO
    "\u200b",
    "\ufeff",
    "\u0301",
    "😀",
    "ﬁ",
]


def mutated(ids: list[str]) -> st.SearchStrategy[str]:
    """A real id, or one changed the way copy-paste and attackers change ids."""
    base = st.sampled_from(ids)
    return st.one_of(
        base,
        base.map(str.upper),
        st.tuples(base, st.sampled_from(SPECIAL)).map(lambda p: p[0] + p[1]),
        st.tuples(st.sampled_from(SPECIAL), base).map(lambda p: p[0] + p[1]),
        st.tuples(base, st.integers(0, 40)).map(lambda p: p[0][: p[1]]),
        st.tuples(base, st.sampled_from(SPECIAL), st.integers(0, 40)).map(lambda p: p[0][: p[2]] + p[1] + p[0][p[2] :]),
    )


def any_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=80),
        st.text(alphabet=st.sampled_from([c for c in [*SPECIAL, "a", "0", "-", "f"] if len(c) == 1]), max_size=30),
        st.lists(st.sampled_from(SPECIAL), max_size=8).map("".join),
        st.text(min_size=65, max_size=4000),
        st.from_regex(r"\A[A-Za-z0-9-]{1,64}\Z"),  # what the server's first check lets through
        st.from_regex(rf"\A({HEX32}|{UUID})\Z"),  # well-formed but unknown
        st.just(""),
    )


def wrong_types() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )


def id_values(ids: list[str]) -> st.SearchStrategy[Any]:
    # about two in five examples are real ids (as typed or in capitals), so that answers get checked too
    real = st.sampled_from(ids)
    return st.one_of(real, real.map(str.upper), mutated(ids), any_text(), wrong_types())


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=-2, max_value=120),
        st.integers(min_value=1, max_value=100),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=3),
        st.text(max_size=10),
        st.sampled_from(["1", "10", "1e3", "0x10", " 5 "]),
        st.none(),
        st.booleans(),
    )


def times() -> st.SearchStrategy[Any]:
    return st.one_of(
        any_text(),
        st.from_regex(r"\A\d{14}\Z"),
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
            lambda d: d.strftime("%Y%m%d%H%M%S")
        ),
        st.integers(1, 24 * 40).map(lambda h: f"{h}h"),
        st.from_regex(r"\A-?\d{1,6}(\.\d{1,3})?\s?(m|min|h|d|w|H|D)\Z"),
        st.datetimes().map(lambda d: d.isoformat()),
        st.sampled_from(["24h", "7d", "90m", "2026-11-28T09:00:00Z", "2026-11-28T09:00:00+01:00", "99999999999999"]),
        st.none(),
        wrong_types(),
    )


def statuses() -> st.SearchStrategy[Any]:
    return st.one_of(
        any_text(),
        st.lists(st.sampled_from([*STATUSES, "running", " success ", "", "UNKNOWN", "ROLLING_BACK"]), max_size=4).map(
            ",".join
        ),
        st.none(),
        wrong_types(),
    )


def names() -> st.SearchStrategy[Any]:
    return st.one_of(
        any_text(),
        st.sampled_from(sorted({t.name for t in SEED})).map(lambda n: n.swapcase()),
        st.none(),
        wrong_types(),
    )


# -- the harness -----------------------------------------------------------------------------------------


@dataclass
class Harness:
    portal: BlockingPortal
    client: Client
    stats_http: httpx2.Client
    sim: Simulator
    seen_paths: set[str] = field(default_factory=set)

    def call(self, tool: str, args: dict[str, Any]) -> CallToolResult:
        before = self.requests()
        result: CallToolResult = self.portal.call(self.client.call_tool, tool, args)
        sent = self.check_paths() - before
        # --hypothesis-show-statistics: how the examples split between answers and errors
        event("answer" if not result.is_error else ("error after a request" if sent else "error, nothing sent"))
        return result

    def requests(self) -> int:
        return int(self.stats_http.get(self.sim.url + "/_simulator/stats").json()["requests"].get("all", 0))

    def check_paths(self) -> int:
        """Check every path counted so far; returns the number of requests the simulator has seen."""
        counted = self.stats_http.get(self.sim.url + "/_simulator/stats").json()["requests"]
        for key in counted:
            if key in AGGREGATES or key in self.seen_paths or key.startswith("fault:"):
                continue
            method, _, path = key.partition(" ")
            assert method == "GET", f"the server sent a {method} request: {key!r}"
            assert ALLOWED_PATH.match(path), f"the simulator saw a request outside the allowed paths: {key!r}"
            self.seen_paths.add(key)
        return int(counted.get("all", 0))


@pytest.fixture(scope="module", params=MODES)
def harness(request: pytest.FixtureRequest, simulator_process: Simulator) -> Iterator[Harness]:
    simulator_process.reset()
    env = sim_env(simulator_process)
    del env["BGTASK_PROJECT_ID"]  # every region's project is looked up: those requests are checked too
    server = build_server(fast_settings(env))
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(server, mode=request.param)) as client,  # type: ignore[arg-type]
        httpx2.Client(timeout=10) as stats_http,
    ):
        yield Harness(portal, client, stats_http, simulator_process)


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def assert_clear_error(tool: str, result: CallToolResult) -> str:
    text = text_of(result)
    prefix = f"Error executing tool {tool}: "
    assert text.startswith(prefix) and len(text) > len(prefix) + 20, f"unclear error: {text!r}"
    assert "internal error" not in text, text
    assert CLEAR_ERROR.search(text), f"the error does not say what was wrong: {text!r}"
    assert len(text) < 3000, "an error should not echo kilobytes of input"
    return text


def valid_id(value: Any, pattern: str) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value.lower()) is not None


# -- get_background_task ----------------------------------------------------------------------------------


def check_get(h: Harness, args: dict[str, Any]) -> None:
    result = h.call("get_background_task", args)
    instance, task, project = args["instance_id"], args["task_id"], args.get("project_id")
    expected = BY_ID.get(task.lower()) if isinstance(task, str) else None
    plausible = (
        valid_id(instance, UUID)
        and (valid_id(task, HEX32) or valid_id(task, UUID))
        and (project in (None, "") or valid_id(project, HEX32))  # empty or null: the configured or looked-up one
    )
    found = (
        plausible
        and expected is not None
        and expected.instance_id == instance.lower()
        and (project in (None, "") or project.lower() == data.SIM_PROJECT_ID)
    )
    if not found:
        assert result.is_error, f"{args} should not name a task: {result.structured_content}"
        assert_clear_error("get_background_task", result)
        return
    assert expected is not None
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    (got,) = result.structured_content["tasks"]
    assert got["id"] == expected.id and got["name"] == expected.name
    if expected.id not in LIVE:
        assert got["status"] == expected.final_status


def get_args(**override: Any) -> dict[str, Any]:
    return {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID, **override}


@PROPERTY_SETTINGS
@given(value=id_values(INSTANCES))
def test_get_instance_id(harness: Harness, value: Any) -> None:
    check_get(harness, get_args(instance_id=value))


@PROPERTY_SETTINGS
@given(value=id_values(sorted(BY_ID)), instance=st.sampled_from(INSTANCES))
def test_get_task_id(harness: Harness, value: Any, instance: str) -> None:
    check_get(harness, get_args(instance_id=instance, task_id=value))


@PROPERTY_SETTINGS
@given(value=id_values([data.SIM_PROJECT_ID, "f" * 32]))
def test_get_project_id(harness: Harness, value: Any) -> None:
    check_get(harness, get_args(project_id=value))


# -- list_background_tasks -----------------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any, low: float, high: float) -> bool:
    """A JSON number (not a bool, not NaN) within [low, high]: what no tool may refuse."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def check_list(h: Harness, args: dict[str, Any]) -> None:
    result = h.call("list_background_tasks", args)
    if result.is_error:
        text = assert_clear_error("list_background_tasks", result)
        # an error is acceptable only when some argument is really wrong
        start = 1 if args.get("start") is None else args["start"]  # null is the default
        limit = 10 if args.get("limit") is None else args["limit"]
        sane = isinstance(start, int) and is_number(start, 1, 10**9) and isinstance(limit, int)
        sane = sane and is_number(limit, 1, 100) and args["instance_id"] in INSTANCES
        if sane:
            assert any(k in args for k in ("begin_time", "end_time", "status", "name", "project_id")), text
        return
    out = result.structured_content
    assert out is not None
    tasks = out["tasks"]
    assert 1 <= out["limit"] <= 100 and out["start"] >= 1
    assert len(tasks) <= out["limit"] and out["task_count"] >= 0
    if is_number(args.get("start"), 1, 2**70):
        assert out["start"] == args["start"]
    created = [task["created_at"] for task in tasks]
    assert created == sorted(created, reverse=True), "newest first"
    for task in tasks:
        seeded = BY_ID.get(task["id"])
        if seeded is not None:
            assert seeded.instance_id == args["instance_id"].lower()
            assert task["name"] == seeded.name
    name = args.get("name")
    if isinstance(name, str) and name.strip():
        assert all(task["name"].lower() == name.strip().lower() for task in tasks)
    status = args.get("status")
    if isinstance(status, str) and status.strip():
        wanted = {s.strip().upper() for s in status.split(",") if s.strip()}
        if "RUNNING" in wanted:
            wanted |= {"CREATED", "EXECUTING"}
        assert all(task["status"] in wanted for task in tasks)


def list_args(**override: Any) -> dict[str, Any]:
    return {"instance_id": data.RABBITMQ.id, **override}


@PROPERTY_SETTINGS
@given(value=id_values(INSTANCES))
def test_list_instance_id(harness: Harness, value: Any) -> None:
    check_list(harness, list_args(instance_id=value))


@PROPERTY_SETTINGS
@given(value=id_values([data.SIM_PROJECT_ID]))
def test_list_project_id(harness: Harness, value: Any) -> None:
    check_list(harness, list_args(project_id=value))


@PROPERTY_SETTINGS
@given(start=numbers(), limit=numbers())
def test_list_paging(harness: Harness, start: Any, limit: Any) -> None:
    args = list_args(instance_id=data.ARCHIVE.id)
    if start is not None:
        args["start"] = start
    if limit is not None:
        args["limit"] = limit
    check_list(harness, args)


@PROPERTY_SETTINGS
@given(begin=times(), end=times())
def test_list_time_window(harness: Harness, begin: Any, end: Any) -> None:
    args = list_args(instance_id=data.ARCHIVE.id, limit=5)
    if begin is not None:
        args["begin_time"] = begin
    if end is not None:
        args["end_time"] = end
    check_list(harness, args)


@PROPERTY_SETTINGS
@given(name=names(), status=statuses())
def test_list_filters(harness: Harness, name: Any, status: Any) -> None:
    args = list_args(instance_id=data.ROCKETMQ.id, limit=3)
    if name is not None:
        args["name"] = name
    if status is not None:
        args["status"] = status
    check_list(harness, args)


# -- wait_for_background_task ------------------------------------------------------------------------------


def check_wait(h: Harness, args: dict[str, Any]) -> None:
    result = h.call("wait_for_background_task", args)
    task, instance, project = args["task_id"], args["instance_id"], args.get("project_id")
    key = task.lower() if valid_id(task, HEX32) or valid_id(task, UUID) else None
    found = (
        key in FINISHED
        and valid_id(instance, UUID)
        and instance.lower() == BY_ID[key].instance_id
        and (project in (None, "") or (valid_id(project, HEX32) and project.lower() == data.SIM_PROJECT_ID))
    )
    if result.is_error:
        assert_clear_error("wait_for_background_task", result)
        timeout = 300.0 if args.get("timeout_seconds") is None else args["timeout_seconds"]  # null: the default
        poll = 2.0 if args.get("poll_interval_seconds") is None else args["poll_interval_seconds"]
        numbers_ok = is_number(timeout, 1e-9, 1800) and is_number(poll, 0.2, 60)
        assert not (found and numbers_ok), f"{args} should have been answered"
        return
    assert found, f"{args} should not name a finished task: {result.structured_content}"
    assert key is not None
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True and out["status"] == BY_ID[key].final_status
    assert out["succeeded"] == (BY_ID[key].final_status == "SUCCESS")
    assert out["task"]["id"] == key


def wait_args(**override: Any) -> dict[str, Any]:
    task = BY_ID[data.FAILED_TASK_ID]
    return {"instance_id": task.instance_id, "task_id": task.id, "timeout_seconds": 1, **override}


@PROPERTY_SETTINGS
@given(value=id_values(FINISHED))
def test_wait_task_id(harness: Harness, value: Any) -> None:
    args = wait_args(task_id=value)
    if isinstance(value, str) and value in BY_ID:
        args["instance_id"] = BY_ID[value].instance_id
    check_wait(harness, args)


@PROPERTY_SETTINGS
@given(timeout=numbers(), poll=numbers())
def test_wait_numbers(harness: Harness, timeout: Any, poll: Any) -> None:
    args = wait_args()
    if timeout is not None:
        args["timeout_seconds"] = timeout
    if poll is not None:
        args["poll_interval_seconds"] = poll
    check_wait(harness, args)


@PROPERTY_SETTINGS
@given(value=id_values(INSTANCES), project=st.one_of(st.none(), id_values([data.SIM_PROJECT_ID])))
def test_wait_instance_and_project(harness: Harness, value: Any, project: Any) -> None:
    args = wait_args(instance_id=value)
    if project is not None:
        args["project_id"] = project
    check_wait(harness, args)


# -- arguments that are not in the schema at all ------------------------------------------------------------


@PROPERTY_SETTINGS
@given(extra=st.dictionaries(st.text(max_size=20), wrong_types() | any_text(), max_size=3))
def test_unknown_arguments_change_nothing(harness: Harness, extra: dict[str, Any]) -> None:
    extra = {k: v for k, v in extra.items() if k not in ("instance_id", "task_id", "project_id")}
    check_get(harness, {**get_args(), **extra})


# -- list_instances and the region argument -------------------------------------------------------------------


def check_instances(h: Harness, args: dict[str, Any]) -> None:
    result = h.call("list_instances", args)
    region = args.get("region")
    known = region is None or (isinstance(region, str) and region.strip().lower() in ("", "eu-de", "eu-nl", "eu-ch2"))
    if result.is_error:
        text = assert_clear_error("list_instances", result)
        limit = 20 if args.get("limit") is None else args["limit"]
        typed = all(isinstance(args.get(k), str | None) for k in ("name", "status"))
        engine_ok = args.get("engine") in (None, "kafka", "rabbitmq", "rocketmq")
        sane = known and is_number(limit, 1, 100) and isinstance(limit, int) and typed and engine_ok
        assert not sane, f"{args} should have been answered: {text}"
        return
    assert known, f"{args}: an unknown region was answered"
    out = result.structured_content
    limit = 20 if args.get("limit") is None else args["limit"]
    assert out is not None and len(out["instances"]) <= (limit if is_int(limit) else 100)
    name = args.get("name")
    for instance in out["instances"]:
        assert set(instance) == {
            "instance_id",
            "name",
            "engine",
            "engine_version",
            "status",
            "type",
            "specification",
            "created_at",
            "region",
            "project_id",
            "current_task",
        }
        if isinstance(name, str) and name.strip():
            wanted = name.strip().lower()
            assert wanted in instance["name"].lower() or wanted == instance["instance_id"]


@PROPERTY_SETTINGS
@given(
    name=st.one_of(names(), st.sampled_from(["prod-events", "PROD", "tenant-00", "events", data.KAFKA.id])),
    region=st.one_of(st.none(), st.sampled_from(REGIONS), any_text()),
)
def test_list_instances_name_and_region(harness: Harness, name: Any, region: Any) -> None:
    args: dict[str, Any] = {"name": name, "limit": 5}
    if region is not None:
        args["region"] = region
    check_instances(harness, args)


@PROPERTY_SETTINGS
@given(
    engine=st.one_of(st.none(), st.sampled_from(["kafka", "rabbitmq", "rocketmq", "KAFKA", "redis"]), wrong_types()),
    status=statuses(),
    limit=numbers(),
)
def test_list_instances_filters(harness: Harness, engine: Any, status: Any, limit: Any) -> None:
    args: dict[str, Any] = {"region": "eu-ch2"}
    for key, value in (("engine", engine), ("status", status), ("limit", limit)):
        if value is not None:
            args[key] = value
    check_instances(harness, args)


@PROPERTY_SETTINGS
@given(region=st.one_of(st.sampled_from(REGIONS), any_text(), wrong_types()))
def test_region_on_the_task_tools(harness: Harness, region: Any) -> None:
    result = harness.call("get_background_task", get_args(region=region))
    as_null = isinstance(region, float) and not math.isfinite(region)  # JSON has no inf or nan: they travel as null
    answered = region is None or as_null or (isinstance(region, str) and region.strip().lower() in ("", "eu-de"))
    if answered:
        assert not result.is_error, text_of(result)
    else:
        assert result.is_error
        assert_clear_error("get_background_task", result)


@PROPERTY_SETTINGS
@given(
    since=st.one_of(st.none(), times()),
    region=st.one_of(st.none(), st.sampled_from(["eu-de", "eu-nl,eu-de", "EU-NL", "eu-moon-1", "eu-de,,"]), any_text()),
    instance=st.one_of(st.none(), st.sampled_from(["prod", data.KAFKA.id, "zzz"]), any_text(), wrong_types()),
    status=statuses(),
    limit=numbers(),
    cursor=st.one_of(st.none(), any_text()),
)
def test_list_changes(harness: Harness, since: Any, region: Any, instance: Any, status: Any, limit: Any,
                      cursor: Any) -> None:  # fmt: skip
    """Any arguments: an answer within its bounds, or a clear error; only the allowed paths are ever asked."""
    args = {k: v for k, v in (("since", since), ("region", region), ("instance", instance), ("status", status),
                              ("limit", limit), ("cursor", cursor)) if v is not None}  # fmt: skip
    result = harness.call("list_changes", args)
    if result.is_error:
        assert_clear_error("list_changes", result)
        return
    out = result.structured_content
    assert out is not None and len(out["changes"]) <= (limit if is_int(limit) else 200)
    assert out["change_count"] >= len(out["changes"]) and set(out["regions"]) <= {"eu-de", "eu-nl", "eu-ch2"}
    times_seen = [c["time"] for c in out["changes"]]
    assert times_seen == sorted(times_seen, reverse=True)


def test_the_path_check_can_fail(harness: Harness) -> None:
    """The guard above is real: a request outside the allowed paths is caught."""
    checks: list[Callable[[], httpx2.Response]] = [
        lambda: harness.stats_http.get(harness.sim.url + "/v2/x/instances/y/tasks"),
        lambda: harness.stats_http.delete(
            harness.sim.url + f"/v2/{data.SIM_PROJECT_ID}/instances/{data.KAFKA.id}/tasks/{'0' * 32}"
        ),
    ]
    for send in checks:
        send()
        with pytest.raises(AssertionError, match=r"outside the allowed paths|sent a DELETE"):
            harness.check_paths()
        harness.sim.control("DELETE", "/_simulator/stats")
