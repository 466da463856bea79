"""What the replicas of a team service share through Redis (``BGTASK_CACHE_URL``): finished tasks, and each
caller's share of DMS requests in flight.

Finished tasks never change, so any replica may answer from what another read. A caller's requests in flight
are counted in one Redis sorted set per caller (members are leases that expire, so a replica that dies frees
its slots), so N replicas never send a caller's share N times over. Redis is an accelerator,
never a dependency: every operation has a short timeout, and when Redis is down or slow the server says so
once in its log and goes on with its local cache, trying Redis again a little later. The URL's own
``socket_timeout`` (redis-py's query option, in seconds) sets how long "slow" is; the default is 0.25 s.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio

from bgtask_mcp.redaction import get_logger, mask_text
from bgtask_mcp.settings_env import positive_seconds

log = get_logger("bgtask_mcp.cache")

PREFIX = "bgtask:task:"
SLOTS_PREFIX = "bgtask:slots:"
# Take a slot if fewer than ARGV[1] live leases exist: drop expired leases, count, add ours (atomic in Redis).
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
  return 1
end
return 0
"""
TTL_SECONDS = 7 * 24 * 3600  # finished tasks are final; the TTL only bounds what an idle Redis keeps
OPERATION_TIMEOUT = 0.25
RETRY_AFTER = 10.0  # after a failure, this long without asking Redis


def operation_timeout(url: str) -> float:
    """Seconds one Redis operation may take: the URL's ``socket_timeout``, else the default (ConfigError if bad)."""
    given = parse_qs(urlsplit(url).query).get("socket_timeout")
    return OPERATION_TIMEOUT if not given else positive_seconds("BGTASK_CACHE_URL socket_timeout", given[-1], 60.0)


class RedisStore:
    def __init__(self, url: str, *, retry_after: float = RETRY_AFTER) -> None:
        self.url = url
        self._shown = mask_text(url)
        self._timeout = operation_timeout(url)
        self._retry_after = retry_after
        self._client: Any = None
        self._down_since: float | None = None
        self.failures = 0

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio

            self._client = redis.asyncio.from_url(
                self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout, retry_on_timeout=False
            )
        return self._client

    def _skipping(self) -> bool:
        return self._down_since is not None and time.monotonic() - self._down_since < self._retry_after

    async def get(self, key: str) -> bytes | None:
        if self._skipping():
            return None
        try:
            with anyio.fail_after(self._timeout * 2):
                value = await self._redis().get(PREFIX + key)
        except Exception as exc:
            self._failed(exc)
            return None
        self._recovered()
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, value: bytes) -> None:
        if self._skipping():
            return
        try:
            with anyio.fail_after(self._timeout * 2):
                await self._redis().set(PREFIX + key, value, ex=TTL_SECONDS)
        except Exception as exc:
            self._failed(exc)
            return
        self._recovered()

    async def acquire_slot(self, key: str, limit: int, lease: float, token: str) -> bool | None:
        """Take one of ``limit`` shared slots for ``lease`` seconds: True, False (all taken), or None when Redis
        cannot be asked (the caller then counts on this replica alone)."""
        if self._skipping():
            return None
        try:
            with anyio.fail_after(self._timeout * 2):
                taken = await self._redis().eval(ACQUIRE, 1, SLOTS_PREFIX + key, limit, time.time(), lease, token)
        except Exception as exc:
            self._failed(exc)
            return None
        self._recovered()
        return bool(taken)

    async def release_slot(self, key: str, token: str) -> None:
        if self._skipping():
            return  # the lease expires by itself
        try:
            with anyio.fail_after(self._timeout * 2):
                await self._redis().zrem(SLOTS_PREFIX + key, token)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        if self._down_since is None:
            log.warning(
                "the shared cache at %s does not answer (%s); until it does, this replica answers from its own "
                "cache and counts each caller's requests in flight alone",
                self._shown,
                type(exc).__name__,
            )
        self._down_since = time.monotonic()

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.info("the shared cache at %s answers again", self._shown)
            self._down_since = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
