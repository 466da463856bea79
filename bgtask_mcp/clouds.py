"""clouds.yaml, the way Open Telekom Cloud users already configure openstacksdk and otcextensions.

``OS_CLOUD`` (or ``--cloud``) picks one entry; ``BGTASK_CLOUDS=prod,staging`` several (the first is the
default, and every tool gets a ``cloud`` argument). The file is ``OS_CLIENT_CONFIG_FILE``, else the first of
./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; ``secure.yaml`` beside it (or
``OS_CLIENT_SECURE_FILE``) is merged over it, so passwords and keys can live in a file of their own.

An entry gives ``region_name``, ``auth.project_id`` or ``auth.project_name``, AK/SK at entry level (``ak``/
``sk`` or ``access_key``/``secret_key``, ``security_token``) or a password login (``auth.username``,
``auth.password``, ``auth.user_domain_name``, ``auth.auth_url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bgtask_mcp.cloud_settings import CloudSettings, Credentials, configured_project
from bgtask_mcp.dms.endpoints import check_url, iam_base
from bgtask_mcp.redaction import Secret
from bgtask_mcp.settings_env import ConfigError, Env

SEARCH = ("clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")


def load_clouds(
    values: Env, flags: Mapping[str, Any], env_cloud: CloudSettings
) -> tuple[tuple[CloudSettings, ...], bool]:
    """The configured clouds (first = default) and whether there are several to choose from per call."""
    names = list(values.csv("BGTASK_CLOUDS"))
    chosen = flags.get("cloud") or values.text("OS_CLOUD")
    if not names and not chosen:
        return (env_cloud,), False
    if chosen and names and chosen not in names:
        raise ConfigError(f"OS_CLOUD={chosen!r} is not one of BGTASK_CLOUDS ({', '.join(names)})")
    if chosen:
        names = [str(chosen), *(n for n in names if n != chosen)]
    path = find_clouds_file(values)
    entries = read_entries(path, values)
    clouds = [cloud_from_entry(name, entries, path) for name in names]
    clouds[0] = _with_overrides(clouds[0], env_cloud)
    return tuple(clouds), len(clouds) > 1


def find_clouds_file(values: Env) -> Path:
    explicit = values.text("OS_CLIENT_CONFIG_FILE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"OS_CLIENT_CONFIG_FILE={explicit[:120]!r} is not a readable file")
        return path
    for candidate in SEARCH:
        path = Path(candidate).expanduser()
        if path.is_file():
            return path
    raise ConfigError(
        f"OS_CLOUD/BGTASK_CLOUDS name a cloud, but no clouds.yaml was found (looked for {', '.join(SEARCH)}); "
        "set OS_CLIENT_CONFIG_FILE to its path"
    )


def read_entries(path: Path, values: Env) -> dict[str, Any]:
    """The ``clouds`` mapping of clouds.yaml with secure.yaml merged over it."""
    entries = _clouds_section(path)
    secure_name = values.text("OS_CLIENT_SECURE_FILE")
    secure = Path(secure_name).expanduser() if secure_name else path.with_name("secure.yaml")
    if secure_name and not secure.is_file():
        raise ConfigError(f"OS_CLIENT_SECURE_FILE={secure_name[:120]!r} is not a readable file")
    if secure.is_file():
        entries = _merge(entries, _clouds_section(secure))
    return entries


def _clouds_section(path: Path) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} cannot be read as YAML: {first[:160]}") from None
    clouds = document.get("clouds") if isinstance(document, dict) else None
    if not isinstance(clouds, dict):
        raise ConfigError(f"{path} has no 'clouds:' mapping at its top level")
    return clouds


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cloud_from_entry(name: str, entries: Mapping[str, Any], path: Path) -> CloudSettings:
    entry = entries.get(name)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(str(k) for k in entries)) or "none"
        raise ConfigError(f"cloud {name!r} is not in {path} (its clouds: {known})")
    source = f"cloud {name!r} of {path}"
    raw_auth = entry.get("auth")
    auth: dict[str, Any] = raw_auth if isinstance(raw_auth, dict) else {}

    def text(*keys: str, where: Mapping[str, Any] | None = None) -> str | None:
        scopes: tuple[Mapping[str, Any], ...] = (where,) if where is not None else (entry, auth)
        for key in keys:
            for scope in scopes:
                value = scope.get(key)
                if value is not None and not isinstance(value, str | int):
                    raise ConfigError(f"{key} of {source} must be a string")
                if value not in (None, ""):
                    return str(value).strip()
        return None

    regions = entry.get("regions")
    region = text("region_name", where=entry) or (str(regions[0]) if isinstance(regions, list) and regions else None)
    auth_url = text("auth_url", where=auth)
    return CloudSettings(
        name=name,
        region=region.lower() if region else None,
        project_id=configured_project(text("project_id", where=auth), f"auth.project_id of {source}"),
        project_name=text("project_name", where=auth),
        credentials=_credentials(text),
        iam_endpoint=iam_base(check_url(auth_url, f"auth.auth_url of {source}")) if auth_url else None,
        source=source,
    )


def _credentials(text: Any) -> Credentials:
    def secret(*keys: str) -> Secret | None:
        value = text(*keys)
        return Secret(value) if value else None

    return Credentials(
        access_key=secret("ak", "access_key"),
        secret_key=secret("sk", "secret_key"),
        security_token=secret("security_token"),
        iam_token=secret("token"),
        iam_user=text("username", "user_name"),
        iam_password=secret("password"),
        iam_domain=text("user_domain_name", "domain_name", "project_domain_name"),
    )


def _with_overrides(cloud: CloudSettings, env_cloud: CloudSettings) -> CloudSettings:
    """--region / --project-id / --endpoint (and their variables) apply to the default cloud."""
    changes: dict[str, Any] = {}
    if env_cloud.region and env_cloud.region != cloud.region:
        changes["region"] = env_cloud.region
        changes["project_id"] = env_cloud.project_id  # a project belongs to its region
    if env_cloud.project_id:
        changes["project_id"] = env_cloud.project_id
    if env_cloud.endpoint:
        changes["endpoint"] = env_cloud.endpoint
    if env_cloud.iam_endpoint:
        changes["iam_endpoint"] = env_cloud.iam_endpoint
    if env_cloud.cts_endpoint:
        changes["cts_endpoint"] = env_cloud.cts_endpoint
    return replace(cloud, **changes) if changes else cloud
