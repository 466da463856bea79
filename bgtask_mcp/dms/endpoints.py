"""Which DMS, CTS and IAM endpoints serve a region, on Open Telekom Cloud and on Huawei Cloud.

The DMS endpoint of a region comes from, in order: the official SDK's per-engine override
(``HUAWEICLOUD_SDK_REGION_KAFKA_<REGION>``, ``..._RABBITMQ_...``, ``..._ROCKETMQ_...``), ``BGTASK_ENDPOINT``
(for the configured region only), the region table. CTS: ``HUAWEICLOUD_SDK_REGION_CTS_<REGION>``,
``BGTASK_CTS_ENDPOINT`` (for the configured region only), the table. IAM: ``BGTASK_IAM_ENDPOINT`` (or the SDK's
``HUAWEICLOUD_SDK_IAM_ENDPOINT``), else the region's IAM.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bgtask_mcp.dms.errors import ConfigurationError, InvalidArgument
from bgtask_mcp.redaction import shown
from bgtask_mcp.settings_env import ConfigError
from bgtask_mcp.vocabulary import ENGINES

OTC_REGIONS: dict[str, str] = {
    "eu-de": "otc.t-systems.com",
    "eu-nl": "otc.t-systems.com",
    "eu-ch2": "sc.otc.t-systems.com",
}
HUAWEI_REGIONS: tuple[str, ...] = (
    "eu-west-101", "eu-west-0", "cn-north-1", "cn-north-2", "cn-north-4", "cn-north-9", "cn-north-11",
    "cn-north-12", "cn-east-2", "cn-east-3", "cn-east-4", "cn-east-5", "cn-south-1", "cn-south-2", "cn-south-4",
    "cn-southwest-2", "cn-southwest-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "af-south-1", "af-north-1", "ru-northwest-2", "ru-moscow-1", "la-south-2", "la-north-2",
    "sa-brazil-1", "na-mexico-1", "tr-west-1", "ae-ad-1", "me-east-1", "my-kualalumpur-1",
)  # fmt: skip
HUAWEI_EUROPE = {"eu-west-101": "myhuaweicloud.eu"}
OVERRIDE_PREFIX = "HUAWEICLOUD_SDK_REGION_"
CTS = "cts"
SERVICES = (*ENGINES, CTS)  # the official SDK's per-service endpoint overrides bgtask-mcp reads


def _domain(region: str) -> str | None:
    if region in OTC_REGIONS:
        return f"{region}.{OTC_REGIONS[region]}"
    if region in HUAWEI_REGIONS:
        return f"{region}.{HUAWEI_EUROPE.get(region, 'myhuaweicloud.com')}"
    return None


def table_endpoint(region: str) -> str | None:
    domain = _domain(region)
    return f"https://dms.{domain}" if domain else None


def table_cts(region: str) -> str | None:
    domain = _domain(region)
    return f"https://cts.{domain}" if domain else None


def table_iam(region: str) -> str | None:
    domain = _domain(region)
    return f"https://iam.{domain}" if domain else None


def table_regions() -> list[str]:
    return [*OTC_REGIONS, *HUAWEI_REGIONS]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, setting: str) -> str:
    """Accept ``https://`` anywhere and ``http://`` only on loopback (the simulator); refuse anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting}={url[:80]!r} is not an http(s) URL; use e.g. https://dms.eu-de.otc.t-systems.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{setting}={url[:80]!r} uses plain http on a non-loopback host, so credentials would travel "
            "unencrypted; use https:// (plain http is allowed only for 127.0.0.1/localhost, e.g. the simulator)"
        )
    return url.strip().rstrip("/")


def iam_base(url: str) -> str:
    """An IAM endpoint as configured (with or without ``/v3``) -> its base URL (paths add ``/v3/...``)."""
    base = url.rstrip("/")
    return base[: -len("/v3")] if base.endswith("/v3") else base


def overrides_from(env: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """``HUAWEICLOUD_SDK_REGION_<ENGINE>_<REGION>`` -> {(engine, region): endpoint}; the SDK allows a
    comma-separated list, of which the first is used."""
    found: dict[tuple[str, str], str] = {}
    for key, value in env.items():
        if not key.startswith(OVERRIDE_PREFIX) or not value.strip():
            continue
        rest = key[len(OVERRIDE_PREFIX) :]
        engine, _, region = rest.partition("_")
        if engine.lower() in SERVICES and region:
            first = value.split(",")[0]
            found[(engine.lower(), region.lower().replace("_", "-"))] = check_url(first, key)
    return found


@dataclass(frozen=True)
class Endpoints:
    """The endpoints one cloud uses, region by region."""

    default_region: str | None = None
    explicit: str | None = None  # BGTASK_ENDPOINT: the default region's DMS endpoint
    iam_explicit: str | None = None
    overrides: Mapping[tuple[str, str], str] = field(default_factory=dict)
    cts_explicit: str | None = None  # BGTASK_CTS_ENDPOINT: the default region's CTS endpoint

    def regions(self) -> list[str]:
        extra = {region for _, region in self.overrides}
        if self.default_region:
            extra.add(self.default_region)
        return [*table_regions(), *sorted(extra - set(table_regions()))]

    def region(self, value: str | None) -> str:
        """The region a call is for: the given one (any case) or the configured default; refused when unknown."""
        if value is None or not value.strip():
            if self.default_region:
                return self.default_region
            if self.explicit:
                return ""  # only an endpoint is configured: the unnamed default region
            raise ConfigurationError(
                "no region: pass region=... or configure one (BGTASK_REGION, or region_name in clouds.yaml)"
            )
        region = value.strip().lower()
        if region == self.default_region or region in self.regions():
            return region
        raise InvalidArgument(
            f"region {shown(value.strip(), 40)} is unknown, so no request was sent. Known regions: "
            f"{', '.join(self.regions())}. Next step: pass one of them, or configure its endpoint with "
            "HUAWEICLOUD_SDK_REGION_KAFKA_<REGION>"
        )

    def dms(self, region: str, engine: str | None = None) -> str:
        # DMS serves all three engines at one endpoint: the engine's own override first, then the others'
        order = [engine, *(e for e in ENGINES if e != engine)] if engine else list(ENGINES)
        for name in order:
            if (name, region) in self.overrides:
                return self.overrides[(name, region)]
        if self.explicit and region in ("", self.default_region):
            return self.explicit
        endpoint = table_endpoint(region)
        if endpoint is None:
            raise ConfigurationError(f"no DMS endpoint is known for region {region or '(none)'!r}: set BGTASK_ENDPOINT")
        return endpoint

    def cts(self, region: str) -> str:
        if (CTS, region) in self.overrides:
            return self.overrides[(CTS, region)]
        if self.cts_explicit and region in ("", self.default_region):
            return self.cts_explicit
        endpoint = table_cts(region)
        if endpoint is None:
            raise ConfigurationError(
                f"no CTS endpoint is known for region {region or '(none)'!r}: set BGTASK_CTS_ENDPOINT or "
                f"HUAWEICLOUD_SDK_REGION_CTS_<REGION>"
            )
        return endpoint

    def iam(self, region: str) -> str:
        if self.iam_explicit:
            return self.iam_explicit
        endpoint = table_iam(region)
        if endpoint is None:
            raise ConfigurationError(
                f"no IAM endpoint is known for region {region or '(none)'!r}: set BGTASK_IAM_ENDPOINT"
            )
        return endpoint
