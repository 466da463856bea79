"""Configuration: read once at start into one immutable object; flags override the environment.

No other module reads ``os.environ``: everything the server needs travels in ``Settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from bgtask_mcp.secrets import Secret

Transport = Literal["stdio", "http"]

# (our name, the official SDK's name used when ours is unset)
_FALLBACKS: dict[str, str] = {
    "BGTASK_ACCESS_KEY": "HUAWEICLOUD_SDK_AK",
    "BGTASK_SECRET_KEY": "HUAWEICLOUD_SDK_SK",
    "BGTASK_SECURITY_TOKEN": "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "BGTASK_PROJECT_ID": "HUAWEICLOUD_SDK_PROJECT_ID",
}


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message says which and why."""


@dataclass(frozen=True)
class Credentials:
    """What the client authenticates with; all optional so the server can start without any."""

    access_key: Secret | None = None
    secret_key: Secret | None = None
    security_token: Secret | None = None
    iam_token: Secret | None = None
    # password -> token exchange (POST /v3/auth/tokens)
    iam_user: str | None = None
    iam_password: Secret | None = None
    iam_domain: str | None = None
    iam_endpoint: str | None = None

    @property
    def mode(self) -> Literal["aksk", "token", "password", "none"]:
        if self.access_key and self.secret_key:
            return "aksk"
        if self.iam_token:
            return "token"
        if self.iam_user and self.iam_password and self.iam_domain:
            return "password"
        return "none"


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    call_deadline: float = 30.0  # one overall deadline per tool call, retries included
    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 5.0
    max_response_bytes: int = 4 * 1024 * 1024
    max_connections: int = 32
    running_task_ttl: float = 2.0  # a running task is never served older than this
    cache_entries: int = 4096


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: Secret | None = None
    allow_unauthenticated_network_bind: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_request_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    endpoint: str | None = None
    region: str | None = None
    project_id: str | None = None
    credentials: Credentials = field(default_factory=Credentials)
    limits: Limits = field(default_factory=Limits)
    http: HttpSettings = field(default_factory=HttpSettings)
    transport: Transport = "stdio"
    simulator: bool = False
    log_level: str = "INFO"
    ca_file: str | None = None
    # endpoint overrides in the style of the official SDK: HUAWEICLOUD_SDK_REGION_KAFKA_{REGION}
    endpoint_overrides: Mapping[str, str] = field(default_factory=dict)
    cache_enabled: bool = True

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value and name in _FALLBACKS:
        value = env.get(_FALLBACKS[name], "").strip()
    return value or None


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    value = _get(env, name)
    return Secret(value) if value else None


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def load_settings(env: Mapping[str, str], **flags: object) -> Settings:
    """Build settings from an environment mapping; flags that are not None win over it."""

    def flag(name: str) -> object:
        return flags.get(name)

    credentials = Credentials(
        access_key=_secret(env, "BGTASK_ACCESS_KEY"),
        secret_key=_secret(env, "BGTASK_SECRET_KEY"),
        security_token=_secret(env, "BGTASK_SECURITY_TOKEN"),
        iam_token=_secret(env, "BGTASK_IAM_TOKEN"),
        iam_user=_get(env, "BGTASK_IAM_USER"),
        iam_password=_secret(env, "BGTASK_IAM_PASSWORD"),
        iam_domain=_get(env, "BGTASK_IAM_DOMAIN"),
        iam_endpoint=_get(env, "BGTASK_IAM_ENDPOINT"),
    )
    limits = Limits(
        connect_timeout=_number(env, "BGTASK_CONNECT_TIMEOUT", Limits.connect_timeout),
        read_timeout=_number(env, "BGTASK_READ_TIMEOUT", Limits.read_timeout),
        call_deadline=_number(env, "BGTASK_CALL_DEADLINE", Limits.call_deadline),
    )
    token_flag = flag("http_token")
    http_token = Secret(str(token_flag)) if token_flag else _secret(env, "BGTASK_HTTP_TOKEN")
    http = HttpSettings(
        host=str(flag("host") or _get(env, "BGTASK_HTTP_HOST") or HttpSettings.host),
        port=int(str(flag("port") or _get(env, "BGTASK_HTTP_PORT") or HttpSettings.port)),
        workers=int(str(flag("workers") or _get(env, "BGTASK_HTTP_WORKERS") or 1)),
        token=http_token,
        allow_unauthenticated_network_bind=bool(flag("allow_unauthenticated_network_bind")),
        allowed_hosts=_csv(_get(env, "BGTASK_ALLOWED_HOSTS")),
        allowed_origins=_csv(_get(env, "BGTASK_ALLOWED_ORIGINS")),
    )
    overrides = {
        key.removeprefix("HUAWEICLOUD_SDK_REGION_KAFKA_").lower().replace("_", "-"): value
        for key, value in env.items()
        if key.startswith("HUAWEICLOUD_SDK_REGION_KAFKA_") and value.strip()
    }
    transport = str(flag("transport") or _get(env, "BGTASK_TRANSPORT") or "stdio")
    if transport not in ("stdio", "http"):
        raise ConfigError(f"transport must be 'stdio' or 'http', got {transport!r}")
    log_level = str(flag("log_level") or _get(env, "BGTASK_LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"log level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")
    return Settings(
        endpoint=str(flag("endpoint") or _get(env, "BGTASK_ENDPOINT") or "") or None,
        region=str(flag("region") or _get(env, "BGTASK_REGION") or "") or None,
        project_id=str(flag("project_id") or _get(env, "BGTASK_PROJECT_ID") or "") or None,
        credentials=credentials,
        limits=limits,
        http=http,
        transport=transport,  # type: ignore[arg-type]
        simulator=bool(flag("simulator")),
        log_level=log_level,
        ca_file=_get(env, "SSL_CERT_FILE"),
        endpoint_overrides=overrides,
        cache_enabled=(_get(env, "BGTASK_CACHE") or "on").lower() not in ("0", "off", "false", "no"),
    )
