"""Configuration: read once at start into one immutable ``Settings``; flags override the environment.

``settings_env`` alone reads ``os.environ`` (``process_environment``): everything else the server needs travels
in ``Settings``. A value that does not parse stops start-up with one line naming the setting (``ConfigError``); a
setting that is merely missing (no credentials yet) lets the server start and every call say what to set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from bgtask_mcp.cloud_settings import CloudSettings, Credentials, configured_project
from bgtask_mcp.dms.endpoints import check_url, iam_base, is_loopback, overrides_from, table_regions
from bgtask_mcp.redaction import Secret
from bgtask_mcp.settings_env import LOG_LEVELS, TRANSPORTS, ConfigError, Env, default_of, whole_number
from bgtask_mcp.shared_cache import operation_timeout

Transport = Literal["stdio", "http"]
MIN_NETWORK_TOKEN_LENGTH = 32
DEFAULT_SCOPE = default_of("BGTASK_OAUTH_SCOPE")

__all__ = [
    "CloudSettings", "ConfigError", "Credentials", "HttpSettings", "Limits", "Settings", "configured_project",
    "load_settings",
]  # fmt: skip


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = float(default_of("BGTASK_CONNECT_TIMEOUT"))
    read_timeout: float = float(default_of("BGTASK_READ_TIMEOUT"))
    call_deadline: float = float(default_of("BGTASK_CALL_DEADLINE"))  # one deadline per tool call, retries included
    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 5.0
    max_response_bytes: int = 4 * 1024 * 1024
    max_connections: int = 32
    running_task_ttl: float = 2.0  # a running task is never served older than this
    cache_entries: int = 4096
    caller_concurrency: int = int(default_of("BGTASK_CALLER_CONCURRENCY"))  # DMS requests in flight per caller


@dataclass(frozen=True)
class OAuthSettings:
    issuer: str
    audience: str
    scope: str = DEFAULT_SCOPE
    leeway: float = float(default_of("BGTASK_OAUTH_LEEWAY"))  # seconds of clock difference tolerated on exp and nbf


@dataclass(frozen=True)
class HttpSettings:
    host: str = default_of("BGTASK_HTTP_HOST")
    port: int = int(default_of("BGTASK_HTTP_PORT"))
    workers: int = int(default_of("BGTASK_HTTP_WORKERS"))
    token: Secret | None = None
    oauth: OAuthSettings | None = None
    public_url: str = f"http://{default_of('BGTASK_HTTP_HOST')}:{default_of('BGTASK_HTTP_PORT')}/mcp"
    allow_unauthenticated_network_bind: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_request_bytes: int = 1024 * 1024
    metrics: bool = True


@dataclass(frozen=True)
class Settings:
    clouds: tuple[CloudSettings, ...] = (CloudSettings(),)
    cloud_argument: bool = False  # several clouds: every tool takes ``cloud``
    endpoint_overrides: Mapping[tuple[str, str], str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    http: HttpSettings = field(default_factory=HttpSettings)
    transport: Transport = "stdio"
    simulator: bool = False
    log_level: str = "INFO"
    ca_file: str | None = None
    cache_enabled: bool = True
    cache_url: str | None = None
    otlp_endpoint: str | None = None
    otel_service_name: str = "bgtask-mcp"

    @property
    def default_cloud(self) -> CloudSettings:
        return self.clouds[0]

    def secrets(self) -> tuple[Secret | None, ...]:
        """Every configured credential: the server pins them in the secret registry when it starts."""
        return (*(s for cloud in self.clouds for s in cloud.credentials.secrets()), self.http.token)

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(env: Mapping[str, str], **flags: Any) -> Settings:
    """Settings from an environment mapping; flags that are not None win over it. Raises ``ConfigError``."""
    values = Env(env)
    http = _http(values, flags)
    from bgtask_mcp.clouds import load_clouds  # clouds.yaml is read only when a cloud is named

    clouds, several = load_clouds(values, flags, _environment_cloud(values, flags))
    transport = str(flags.get("transport") or values.text("BGTASK_TRANSPORT") or default_of("BGTASK_TRANSPORT"))
    if transport not in TRANSPORTS:
        raise ConfigError(f"BGTASK_TRANSPORT={transport[:20]!r} is neither stdio nor http")
    log_level = str(flags.get("log_level") or values.text("BGTASK_LOG_LEVEL") or default_of("BGTASK_LOG_LEVEL")).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"BGTASK_LOG_LEVEL={log_level[:20]!r} is not one of {', '.join(LOG_LEVELS)}")
    settings = Settings(
        clouds=clouds,
        cloud_argument=several,
        endpoint_overrides=overrides_from(env),
        limits=_limits(values),
        http=http,
        transport=transport,  # type: ignore[arg-type]
        simulator=bool(flags.get("simulator")),
        log_level=log_level,
        ca_file=_ca_file(values),
        cache_enabled=values.switch("BGTASK_CACHE", default_of("BGTASK_CACHE") == "on"),
        cache_url=_cache_url(values),
        otlp_endpoint=values.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
        otel_service_name=values.text("OTEL_SERVICE_NAME") or default_of("OTEL_SERVICE_NAME"),
    )
    _check_regions(settings)
    _check_extras(settings)
    if transport == "http":
        check_http(http)
    return settings


def _check_extras(settings: Settings) -> None:
    """Optional features need their extra installed: say which, at start-up."""
    from importlib.util import find_spec

    needs = (
        (settings.http.oauth is not None, "jwt", "BGTASK_OAUTH_ISSUER", "oauth"),
        (settings.cache_url is not None, "redis", "BGTASK_CACHE_URL", "redis"),
        (settings.otlp_endpoint is not None, "opentelemetry.sdk", "OTEL_EXPORTER_OTLP_ENDPOINT", "otel"),
    )
    for wanted, module, variable, extra in needs:
        if wanted and (find_spec(module.split(".")[0]) is None or find_spec(module) is None):
            raise ConfigError(
                f"{variable} is set, but the '{extra}' extra is not installed: pip install 'bgtask-mcp[{extra}]'"
            )


def _environment_cloud(values: Env, flags: Mapping[str, Any]) -> CloudSettings:
    """The cloud described by BGTASK_* variables (and the official SDK's), flags winning."""
    endpoint = flags.get("endpoint") or values.text("BGTASK_ENDPOINT")
    iam = values.text("BGTASK_IAM_ENDPOINT")
    cts = values.text("BGTASK_CTS_ENDPOINT")
    project = flags.get("project_id") or values.text("BGTASK_PROJECT_ID")
    return CloudSettings(
        region=_region(flags.get("region") or values.text("BGTASK_REGION")),
        project_id=configured_project(project, "BGTASK_PROJECT_ID"),
        credentials=Credentials(
            access_key=values.secret("BGTASK_ACCESS_KEY"),
            secret_key=values.secret("BGTASK_SECRET_KEY"),
            security_token=values.secret("BGTASK_SECURITY_TOKEN"),
            iam_token=values.secret("BGTASK_IAM_TOKEN"),
            iam_user=values.text("BGTASK_IAM_USER"),
            iam_password=values.secret("BGTASK_IAM_PASSWORD"),
            iam_domain=values.text("BGTASK_IAM_DOMAIN"),
        ),
        endpoint=check_url(str(endpoint), "BGTASK_ENDPOINT") if endpoint else None,
        iam_endpoint=iam_base(check_url(iam, "BGTASK_IAM_ENDPOINT")) if iam else None,
        cts_endpoint=check_url(cts, "BGTASK_CTS_ENDPOINT") if cts else None,
    )


def _region(value: object) -> str | None:
    return str(value).strip().lower() or None if value else None


def _check_regions(settings: Settings) -> None:
    known = set(table_regions()) | {region for _, region in settings.endpoint_overrides}
    for cloud in settings.clouds:
        if cloud.region and cloud.region not in known and not cloud.endpoint:
            where = "BGTASK_REGION" if cloud.source == "the environment" else f"region_name of {cloud.source}"
            raise ConfigError(
                f"{where}={cloud.region!r} is not a known region (known: {', '.join(table_regions())}); for "
                "another region set its endpoint with BGTASK_ENDPOINT or HUAWEICLOUD_SDK_REGION_KAFKA_<REGION>"
            )


def _limits(values: Env) -> Limits:
    return Limits(
        connect_timeout=values.seconds("BGTASK_CONNECT_TIMEOUT", Limits.connect_timeout, maximum=300),
        read_timeout=values.seconds("BGTASK_READ_TIMEOUT", Limits.read_timeout, maximum=600),
        call_deadline=values.seconds("BGTASK_CALL_DEADLINE", Limits.call_deadline, maximum=3600),
        caller_concurrency=values.whole("BGTASK_CALLER_CONCURRENCY", Limits.caller_concurrency, minimum=1, maximum=256),
    )


def _http(values: Env, flags: Mapping[str, Any]) -> HttpSettings:
    host = str(flags.get("host") or values.text("BGTASK_HTTP_HOST") or HttpSettings.host)
    port = _flag_or_whole(
        flags.get("port"), values, "BGTASK_HTTP_PORT", "--port", HttpSettings.port, 1, 65535, "a port"
    )
    workers = _flag_or_whole(
        flags.get("workers"), values, "BGTASK_HTTP_WORKERS", "--workers", HttpSettings.workers, 1, 64
    )
    token_flag = flags.get("http_token")
    shown_host = f"[{host}]" if ":" in host else host
    public_url = values.text("BGTASK_PUBLIC_URL") or f"http://{shown_host}:{port}/mcp"
    return HttpSettings(
        host=host,
        port=port,
        workers=workers,
        token=Secret(str(token_flag)) if token_flag else values.secret("BGTASK_HTTP_TOKEN"),
        oauth=_oauth(values, public_url),
        public_url=public_url.rstrip("/"),
        allow_unauthenticated_network_bind=bool(flags.get("allow_unauthenticated_network_bind"))
        or values.switch("BGTASK_ALLOW_UNAUTHENTICATED_NETWORK_BIND", False),
        allowed_hosts=values.csv("BGTASK_ALLOWED_HOSTS"),
        allowed_origins=values.csv("BGTASK_ALLOWED_ORIGINS"),
        metrics=values.switch("BGTASK_METRICS", default_of("BGTASK_METRICS") == "on"),
    )


def _flag_or_whole(
    flag: object, values: Env, name: str, flag_name: str, default: int, low: int, high: int, what: str = "a number"
) -> int:
    if flag is not None:
        return whole_number(flag_name, str(flag), low, high, f"{what}")
    return values.whole(name, default, minimum=low, maximum=high, what=what)


def _oauth(values: Env, public_url: str) -> OAuthSettings | None:
    issuer = values.text("BGTASK_OAUTH_ISSUER")
    if not issuer:
        for name in ("BGTASK_OAUTH_AUDIENCE", "BGTASK_OAUTH_SCOPE"):
            if values.text(name):
                raise ConfigError(f"{name} is set but BGTASK_OAUTH_ISSUER is not: set the issuer, or unset {name}")
        return None
    scope = values.text("BGTASK_OAUTH_SCOPE") or DEFAULT_SCOPE
    if any(c.isspace() for c in scope):
        raise ConfigError(f"BGTASK_OAUTH_SCOPE={scope[:40]!r} must be one scope, without spaces")
    leeway = values.text("BGTASK_OAUTH_LEEWAY")
    return OAuthSettings(
        issuer=check_url(issuer, "BGTASK_OAUTH_ISSUER"),
        audience=values.text("BGTASK_OAUTH_AUDIENCE") or public_url.rstrip("/"),
        scope=scope,
        leeway=OAuthSettings.leeway
        if leeway is None
        else whole_number("BGTASK_OAUTH_LEEWAY", leeway, 0, 600, "a number of seconds"),
    )


def check_http(http: HttpSettings) -> None:
    """The HTTP transport's own rules: who may call, from where."""
    if http.token and http.oauth:
        raise ConfigError(
            "both BGTASK_HTTP_TOKEN and BGTASK_OAUTH_ISSUER are set: choose one (OAuth for a team, the static "
            "token for the simple case)"
        )
    if is_loopback(http.host):
        return
    if http.token is not None and len(http.token.reveal()) < MIN_NETWORK_TOKEN_LENGTH:
        raise ConfigError(
            f"BGTASK_HTTP_TOKEN is too short to serve on {http.host}: use at least {MIN_NETWORK_TOKEN_LENGTH} "
            "random characters, e.g. the output of: openssl rand -hex 32"
        )
    if not (http.token or http.oauth or http.allow_unauthenticated_network_bind):
        raise ConfigError(
            f"refusing to serve on {http.host} without authentication: set BGTASK_OAUTH_ISSUER, or "
            "BGTASK_HTTP_TOKEN to a long random value (clients send it as 'Authorization: Bearer <token>'), "
            "bind 127.0.0.1, or pass --allow-unauthenticated-network-bind if a proxy in front already authenticates"
        )


def _ca_file(values: Env) -> str | None:
    path = values.text("SSL_CERT_FILE")
    if path and not Path(path).is_file():
        raise ConfigError(f"SSL_CERT_FILE={path[:80]!r} is not a readable file")
    return path


def _cache_url(values: Env) -> str | None:
    url = values.text("BGTASK_CACHE_URL")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"BGTASK_CACHE_URL must start with redis://, rediss:// or unix://, not {url.split(':')[0]!r}")
    if url:
        operation_timeout(url)  # a bad socket_timeout stops start-up, not the first call
    return url
