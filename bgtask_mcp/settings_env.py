"""Every setting the server reads from the environment, with its meaning (the one table ``serve --help`` and
the README are made from), and the typed readers that refuse a bad value with one line naming it."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bgtask_mcp.redaction import Secret, mask_text

SHOWN_CHARACTERS = 40  # of a refused value, in the message


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the setting and what it accepts."""


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    group: str
    flag: str | None = None
    fallback: str | None = None  # the official SDK's name, read when ours is unset
    secret: bool = False
    choices: tuple[str, ...] = ()  # the only values accepted (the flag offers them too)
    switch: bool = False  # its flag takes no value and means "1"
    default: str | None = None  # the one place a default is written: config, --help and the docs read it here

    @property
    def described(self) -> str:
        """Its meaning, with its default when it has one."""
        return self.meaning + (f" (default {self.default})" if self.default is not None else "")

    @property
    def dest(self) -> str:
        """The flag's name in argparse's namespace and in ``load_settings(**flags)``: --project-id -> project_id."""
        return (self.flag or "").removeprefix("--").replace("-", "_")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRANSPORTS = ("stdio", "http")


VARIABLES: tuple[Variable, ...] = (
    Variable("BGTASK_REGION", "region, e.g. eu-de or eu-nl (Open Telekom Cloud), ap-southeast-1 (Huawei Cloud)",
             "where", "--region"),
    Variable("BGTASK_PROJECT_ID", "project id of that region; looked up in IAM when unset", "where", "--project-id",
             "HUAWEICLOUD_SDK_PROJECT_ID"),
    Variable("BGTASK_ENDPOINT", "DMS endpoint URL of that region (wins over the region table)", "where", "--endpoint"),
    Variable("BGTASK_IAM_ENDPOINT", "IAM endpoint (project lookup, password login); default: the region's",
             "where", None, "HUAWEICLOUD_SDK_IAM_ENDPOINT"),
    Variable("HUAWEICLOUD_SDK_REGION_<ENGINE>_<REGION>", "the official SDK's endpoint override per engine "
             "(KAFKA, RABBITMQ, ROCKETMQ) or CTS and region, e.g. HUAWEICLOUD_SDK_REGION_KAFKA_EU_NL", "where"),
    Variable("BGTASK_CTS_ENDPOINT", "Cloud Trace Service endpoint URL of that region (list_changes; wins over "
             "the region table)", "where"),
    Variable("OS_CLOUD", "an entry of clouds.yaml (region_name, auth.*, ak/sk); see OS_CLIENT_CONFIG_FILE", "where",
             "--cloud"),
    Variable("OS_CLIENT_CONFIG_FILE", "clouds.yaml to read (default: ./clouds.yaml, ~/.config/openstack/, "
             "/etc/openstack/); secure.yaml beside it is merged", "where"),
    Variable("BGTASK_CLOUDS", "several clouds.yaml entries, comma-separated (the first is the default): every tool "
             "gets a 'cloud' argument", "where"),
    Variable("BGTASK_ACCESS_KEY", "access key (AK)", "credentials", None, "HUAWEICLOUD_SDK_AK", secret=True),
    Variable("BGTASK_SECRET_KEY", "secret key (SK)", "credentials", None, "HUAWEICLOUD_SDK_SK", secret=True),
    Variable("BGTASK_SECURITY_TOKEN", "security token of temporary AK/SK", "credentials", None,
             "HUAWEICLOUD_SDK_SECURITY_TOKEN", secret=True),
    Variable("BGTASK_IAM_TOKEN", "an IAM token sent as X-Auth-Token, instead of AK/SK", "credentials", secret=True),
    Variable("BGTASK_IAM_USER", "password login: IAM user name", "credentials"),
    Variable("BGTASK_IAM_PASSWORD", "password login: password", "credentials", secret=True),
    Variable("BGTASK_IAM_DOMAIN", "password login: account (domain) name", "credentials"),
    Variable("BGTASK_CONNECT_TIMEOUT", "seconds to connect to DMS", "limits", default="5"),
    Variable("BGTASK_READ_TIMEOUT", "seconds of silence from DMS before a read fails", "limits", default="15"),
    Variable("BGTASK_CALL_DEADLINE", "seconds one tool call may take, retries included", "limits", default="30"),
    Variable("BGTASK_CALLER_CONCURRENCY", "DMS requests one caller may have in flight", "limits", default="8"),
    Variable("BGTASK_CACHE", "off disables the task cache", "limits", default="on"),
    Variable("BGTASK_CACHE_URL", "redis://host:port/db: finished tasks shared by all replicas (extra 'redis'); "
             "?socket_timeout=S says how long is too slow (default 0.25)", "limits"),
    Variable("BGTASK_LOG_LEVEL", f"{', '.join(LOG_LEVELS)}; logs go to stderr", "limits", "--log-level",
             choices=LOG_LEVELS, default="INFO"),
    Variable("SSL_CERT_FILE", "extra CA bundle; HTTPS_PROXY and NO_PROXY are honoured", "limits"),
    Variable("BGTASK_TRANSPORT", "stdio or http", "http", "--transport", choices=TRANSPORTS, default="stdio"),
    Variable("BGTASK_HTTP_HOST", "bind address", "http", "--host", default="127.0.0.1"),
    Variable("BGTASK_HTTP_PORT", "port", "http", "--port", default="8000"),
    Variable("BGTASK_HTTP_WORKERS", "worker processes", "http", "--workers", default="1"),
    Variable("BGTASK_HTTP_TOKEN", "static bearer token every request to /mcp must carry (>= 32 characters off "
             "loopback)", "http", secret=True),
    Variable("BGTASK_OAUTH_ISSUER", "OAuth 2.1: the issuer whose JWT access tokens are accepted", "http"),
    Variable("BGTASK_OAUTH_AUDIENCE", "OAuth: the audience tokens must carry (default: BGTASK_PUBLIC_URL)", "http"),
    Variable("BGTASK_OAUTH_SCOPE", "OAuth: the scope tokens must carry", "http", default="dms:read"),
    Variable("BGTASK_OAUTH_LEEWAY", "OAuth: seconds of clock difference tolerated on exp and nbf", "http",
             default="30"),
    Variable("BGTASK_PUBLIC_URL", "the URL clients reach /mcp at (default http://HOST:PORT/mcp)", "http"),
    Variable("BGTASK_ALLOWED_HOSTS", "Host values accepted, comma-separated", "http"),
    Variable("BGTASK_ALLOWED_ORIGINS", "browser Origins accepted, comma-separated", "http"),
    Variable("BGTASK_METRICS", "off hides /metrics (HTTP only)", "http", default="on"),
    Variable("BGTASK_ALLOW_UNAUTHENTICATED_NETWORK_BIND", "1: serve a non-loopback address without authentication "
             "(only behind a proxy that authenticates)", "http", "--allow-unauthenticated-network-bind", switch=True),
    Variable("BGTASK_SIMULATOR", "1: answer from the embedded DMS simulator", "http", "--simulator", switch=True),
    Variable("OTEL_EXPORTER_OTLP_ENDPOINT", "send traces over OTLP/HTTP to this collector (extra 'otel')", "http"),
    Variable("OTEL_SERVICE_NAME", "the service name on exported spans", "http", default="bgtask-mcp"),
)  # fmt: skip
GROUPS = {
    "where": "where (region, project, endpoints, clouds)",
    "credentials": "credentials (the first complete set wins)",
    "limits": "limits, cache and logs",
    "http": "HTTP transport (--transport http)",
}


def process_environment() -> dict[str, str]:
    """The process's environment, read here and nowhere else: every other module gets settings or this copy."""
    return dict(os.environ)


def export_for_workers(env: Mapping[str, str]) -> None:
    """Worker processes (several uvicorn workers) rebuild the same settings from the environment they inherit."""
    os.environ.update(env)


BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}


def default_of(name: str) -> str:
    """A variable's default, from the table (a KeyError names a variable without one: a bug, found at import)."""
    default = BY_NAME[name].default
    if default is None:
        raise KeyError(f"{name} has no default in VARIABLES")
    return default


FLAGS: dict[str, Variable] = {v.dest: v for v in VARIABLES if v.flag}  # argparse dest -> the variable it sets


def add_flags(parser: argparse.ArgumentParser) -> None:
    """``serve``'s flags, made from the table: each sets its variable and wins over the environment."""
    for var in FLAGS.values():
        assert var.flag is not None
        if var.switch:
            parser.add_argument(var.flag, action="store_true", help=f"{var.meaning} ({var.name}=1)")
        else:
            parser.add_argument(var.flag, choices=var.choices or None, help=f"{var.described} ({var.name})")


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, by dest (None when absent: the environment decides); a switch given is True."""
    return {dest: (getattr(args, dest) or None) for dest in FLAGS}


def environment_with_flags(env: Mapping[str, str], flags: Mapping[str, Any]) -> dict[str, str]:
    """The environment with the given flags written in as their variables (what worker processes rebuild from)."""
    out = dict(env)
    for dest, value in flags.items():
        var = FLAGS.get(dest)
        if var is not None and value is not None and value is not False:
            out[var.name] = "1" if var.switch else str(value)
    return out


def markdown_table() -> str:
    """The configuration table of docs/configuration.md, made from the same rows as ``--help``."""
    lines = ["| variable | flag | meaning |", "|---|---|---|"]
    for var in VARIABLES:
        name = f"`{var.name}`" + (f" (or `{var.fallback}`)" if var.fallback else "")
        meaning = var.described + (" (a secret: never logged)" if var.secret else "")
        lines.append(f"| {name} | {f'`{var.flag}`' if var.flag else ''} | {meaning} |")
    return "\n".join(lines)


def help_text() -> str:
    lines = ["settings (flags win over the environment):"]
    for group, title in GROUPS.items():
        lines.append(f"  {title}:")
        for var in (v for v in VARIABLES if v.group == group):
            also = ", ".join(x for x in (var.flag, var.fallback and f"fallback {var.fallback}") if x)
            lines.append(f"    {var.name}{f' ({also})' if also else ''}")
            lines.append(f"        {var.described}")
    return "\n".join(lines)


def is_target_variable(name: str) -> bool:
    """Variables that say which cloud, where, and with which credentials (the simulator replaces them all)."""
    names = {v.name for v in VARIABLES if v.group in ("where", "credentials")}
    names |= {v.fallback for v in VARIABLES if v.fallback}
    return name in names or name.startswith(("HUAWEICLOUD_SDK_", "OS_CLIENT_"))


def _shown(raw: str) -> str:
    return repr(mask_text(raw[:SHOWN_CHARACTERS]))


class Env:
    """Typed, validated reads of one environment mapping. Values are stripped; empty counts as unset."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self._fallbacks = {v.name: v.fallback for v in VARIABLES if v.fallback}

    def text(self, name: str) -> str | None:
        value = self.values.get(name, "").strip()
        fallback = self._fallbacks.get(name)
        if not value and fallback:
            value = self.values.get(fallback, "").strip()
        return value or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value else None

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (self.text(name) or "").split(",") if part.strip())

    def switch(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "on", "true", "yes"):
            return True
        if lowered in ("0", "off", "false", "no"):
            return False
        raise ConfigError(f"{name}={_shown(raw)} is neither on nor off; use on or off")

    def seconds(self, name: str, default: float, *, maximum: float = 86400.0) -> float:
        raw = self.text(name)
        return default if raw is None else positive_seconds(name, raw, maximum)

    def whole(self, name: str, default: int, *, minimum: int, maximum: int, what: str = "a whole number") -> int:
        raw = self.text(name)
        return default if raw is None else whole_number(name, raw, minimum, maximum, what)


def positive_seconds(name: str, raw: str, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={_shown(raw)} is not a number of seconds; use e.g. 30") from None
    if not math.isfinite(value) or value <= 0 or value > maximum:
        raise ConfigError(f"{name}={_shown(raw)} must be a number of seconds above 0 and at most {maximum:g}")
    return value


def whole_number(name: str, raw: str, minimum: int, maximum: int, what: str = "a whole number") -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise ConfigError(f"{name}={_shown(raw)} is not {what} from {minimum} to {maximum}")
    return value
