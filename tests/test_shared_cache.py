"""Replicas sharing finished tasks through a real ``redis-server`` (Debian's package) on loopback: two server
processes read a finished task from DMS once between them; running tasks stay per process; with Redis stopped
or asleep they keep answering, with one warning in the log and no error to the model."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, emitted, sim_env
from .external import apt_binary
from .servers import HttpServer, call_tool, eventually, free_port, start_server

TOKEN = "shared-cache-test-token-5b0e9d2c7a8f4e61"
WARNING = "does not answer"


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    def url(self, timeout: float) -> str:
        return f"redis://127.0.0.1:{self.port}/0?socket_timeout={timeout}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = apt_binary("redis-server", "redis-server")
    port = free_port()
    with emitted(f"redis-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--enable-debug-command", "local"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
    server = RedisServer(port, process)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited with {process.returncode}")
        with suppress(redis.RedisError):
            return bool(server.client().ping())
        return False

    eventually(answers, "redis-server answers PING")
    try:
        yield server
    finally:
        server.stop()


def replica(simulator: Simulator, name: str, cache_url: str) -> HttpServer:
    env = clean_env(**sim_env(simulator), BGTASK_HTTP_TOKEN=TOKEN, BGTASK_CACHE_URL=cache_url)
    return start_server(name, env)


def get_task(server: HttpServer, task_id: str) -> dict[str, Any]:
    return call_tool(server, TOKEN, "get_background_task", {"instance_id": data.SCRATCH.id, "task_id": task_id})


def task_reads(simulator: Simulator, task_id: str) -> int:
    requests = simulator.stats()
    return sum(count for key, count in requests.items() if key.startswith("GET ") and key.endswith("/tasks/" + task_id))


def finished_task(simulator: Simulator) -> str:
    task = simulator.create_task(instance_id=data.SCRATCH.id, manual=True)
    simulator.steer(task, status="SUCCESS", progress=100)
    return task


def test_two_replicas_read_a_finished_task_from_dms_once(simulator: Simulator, redis_server: RedisServer) -> None:
    url = redis_server.url(timeout=5)  # generous: a loaded machine must not turn a slow reply into a miss
    first, second = replica(simulator, "replica-a.log", url), replica(simulator, "replica-b.log", url)
    try:
        task = finished_task(simulator)
        one, other = get_task(first, task), get_task(second, task)
        assert not one.get("isError") and not other.get("isError")
        assert one["structuredContent"] == other["structuredContent"]
        assert one["structuredContent"]["tasks"][0]["status"] == "SUCCESS"
        assert task_reads(simulator, task) == 1
        keys = [key.decode() for key in redis_server.client().keys("bgtask:task:*")]
        assert [key for key in keys if task in key and "|eu-de|" in key], keys
        assert WARNING not in first.log() + second.log()
    finally:
        first.stop()
        second.stop()


def test_running_tasks_stay_with_each_replica(simulator: Simulator, redis_server: RedisServer) -> None:
    url = redis_server.url(timeout=5)
    first, second = replica(simulator, "replica-c.log", url), replica(simulator, "replica-d.log", url)
    try:
        task = simulator.create_task(instance_id=data.SCRATCH.id, manual=True, status="RUNNING")
        assert get_task(first, task)["structuredContent"]["tasks"][0]["status"] == "RUNNING"
        assert get_task(second, task)["structuredContent"]["tasks"][0]["status"] == "RUNNING"
        assert task_reads(simulator, task) == 2
        assert not any(task in key.decode() for key in redis_server.client().keys("bgtask:task:*"))
    finally:
        first.stop()
        second.stop()


def test_with_redis_stopped_the_replica_answers_and_warns_once(simulator: Simulator, redis_server: RedisServer) -> None:
    server = replica(simulator, "replica-stopped.log", redis_server.url(timeout=5))
    try:
        redis_server.stop()
        for _ in range(3):
            result = get_task(server, finished_task(simulator))
            assert not result.get("isError") and result["structuredContent"]["tasks"][0]["status"] == "SUCCESS"
        assert server.log().count(WARNING) == 1
        assert "ConnectionError" in server.log()
    finally:
        server.stop()


def test_with_redis_asleep_the_replica_answers_after_its_timeout(
    simulator: Simulator, redis_server: RedisServer
) -> None:
    server = replica(simulator, "replica-slow.log", redis_server.url(timeout=0.5))
    try:
        sleeper = threading.Thread(target=_sleep_redis, args=(redis_server,), daemon=True)
        sleeper.start()
        eventually(lambda: not _pings(redis_server), "redis-server stops answering")
        for _ in range(2):
            result = get_task(server, finished_task(simulator))
            assert not result.get("isError") and result["structuredContent"]["tasks"][0]["status"] == "SUCCESS"
        assert server.log().count(WARNING) == 1
    finally:
        server.stop()


def _sleep_redis(server: RedisServer) -> None:
    with suppress(redis.RedisError):
        redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=60).execute_command("DEBUG", "SLEEP", "30")


def _pings(server: RedisServer) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=0.2).ping())
    except redis.RedisError:
        return False


# -- a caller's share of requests in flight, across replicas --------------------------------------------------


def replica_with_share(simulator: Simulator, name: str, cache_url: str, share: int) -> HttpServer:
    env = clean_env(**sim_env(simulator), BGTASK_HTTP_TOKEN=TOKEN, BGTASK_CACHE_URL=cache_url,
                    BGTASK_CALLER_CONCURRENCY=str(share), BGTASK_CACHE="off")  # fmt: skip
    return start_server(name, env)


def in_flight_peak(simulator: Simulator, servers: list[HttpServer], calls_each: int) -> int:
    """Calls from one caller through every replica at once; the most DMS requests the simulator served at once."""
    task = finished_task(simulator)
    simulator.faults({"kind": "latency", "latency_s": 0.25, "path_contains": "/tasks/"})
    simulator.control("DELETE", "/_simulator/stats")
    errors: list[str] = []

    def caller(server: HttpServer) -> None:
        result = get_task(server, task)  # the cache is off: every call reads DMS
        if result.get("isError"):
            errors.append(str(result))

    threads = [threading.Thread(target=caller, args=(s,)) for s in servers for _ in range(calls_each)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        simulator.faults()
    assert not errors, errors[:2]
    return int(simulator.stats()["max_in_flight"])


def test_replicas_share_one_callers_share_through_redis(simulator: Simulator, redis_server: RedisServer) -> None:
    url = redis_server.url(timeout=5)
    first = replica_with_share(simulator, "replica-share-a.log", url, share=2)
    second = replica_with_share(simulator, "replica-share-b.log", url, share=2)
    try:
        assert in_flight_peak(simulator, [first, second], calls_each=4) <= 2  # not 2 per replica
    finally:
        first.stop()
        second.stop()


def test_without_redis_each_replica_counts_alone_and_warns_once(
    simulator: Simulator, redis_server: RedisServer
) -> None:
    url = redis_server.url(timeout=5)
    first = replica_with_share(simulator, "replica-alone-a.log", url, share=2)
    second = replica_with_share(simulator, "replica-alone-b.log", url, share=2)
    try:
        redis_server.stop()
        peak = in_flight_peak(simulator, [first, second], calls_each=4)
        assert peak <= 4  # each replica its own share: still bounded, and no call refused
        for server in (first, second):
            assert server.log().count(WARNING) == 1 and "counts each caller's requests in flight alone" in server.log()
    finally:
        first.stop()
        second.stop()


def test_two_replicas_fanning_out_list_changes_keep_within_one_callers_share(
    simulator: Simulator, redis_server: RedisServer
) -> None:
    """One list_changes call per replica, at once, each fanning out to every instance's tasks, scheduled tasks and
    the audit trail: the account sees at most the caller's share in flight, not the share per replica."""
    url = redis_server.url(timeout=5)
    first = replica_with_share(simulator, "replica-fleet-a.log", url, share=2)
    second = replica_with_share(simulator, "replica-fleet-b.log", url, share=2)
    simulator.faults({"kind": "latency", "latency_s": 0.05, "path_contains": "/v"})  # every DMS and CTS path
    simulator.control("DELETE", "/_simulator/stats")
    answers: list[dict[str, Any]] = []

    def caller(server: HttpServer) -> None:
        answers.append(call_tool(server, TOKEN, "list_changes", {"region": "eu-de", "since": "3d"}))

    threads = [threading.Thread(target=caller, args=(server,)) for server in (first, second)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        stats = simulator.stats()
    finally:
        simulator.faults()
        first.stop()
        second.stop()
    assert len(answers) == 2 and not [a for a in answers if a.get("isError")], answers
    for answer in answers:
        found = answer["structuredContent"]
        assert found["change_count"] > 0 and found["partial"] == [], found["partial"]
    sent = sum(count for key, count in stats.items() if key.startswith("GET "))
    assert sent >= 10 and stats["max_in_flight"] == 2, stats  # many requests, one share in flight at once, not two
