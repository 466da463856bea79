"""Which DMS endpoint serves a region, on Open Telekom Cloud and on Huawei Cloud."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from bgtask_mcp.dms.errors import ConfigurationError

OTC_REGIONS: dict[str, str] = {
    "eu-de": "https://dms.eu-de.otc.t-systems.com",
    "eu-nl": "https://dms.eu-nl.otc.t-systems.com",
    "eu-ch2": "https://dms.eu-ch2.sc.otc.t-systems.com",
}
OTC_IAM: dict[str, str] = {
    "eu-de": "https://iam.eu-de.otc.t-systems.com/v3",
    "eu-nl": "https://iam.eu-nl.otc.t-systems.com/v3",
    "eu-ch2": "https://iam.eu-ch2.sc.otc.t-systems.com/v3",
}

HUAWEI_REGIONS: tuple[str, ...] = (
    "eu-west-101",
    "eu-west-0",
    "cn-north-1",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-north-11",
    "cn-north-12",
    "cn-east-2",
    "cn-east-3",
    "cn-east-4",
    "cn-east-5",
    "cn-south-1",
    "cn-south-2",
    "cn-south-4",
    "cn-southwest-2",
    "cn-southwest-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "af-south-1",
    "af-north-1",
    "ru-northwest-2",
    "ru-moscow-1",
    "la-south-2",
    "la-north-2",
    "sa-brazil-1",
    "na-mexico-1",
    "tr-west-1",
    "ae-ad-1",
    "me-east-1",
    "my-kualalumpur-1",
)


def huawei_endpoint(region: str) -> str:
    if region == "eu-west-101":
        return "https://dms.eu-west-101.myhuaweicloud.eu"
    return f"https://dms.{region}.myhuaweicloud.com"


def huawei_iam(region: str) -> str:
    if region == "eu-west-101":
        return "https://iam.eu-west-101.myhuaweicloud.eu/v3"
    return f"https://iam.{region}.myhuaweicloud.com/v3"


def known_regions() -> list[str]:
    return [*OTC_REGIONS, *HUAWEI_REGIONS]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str:
    """Accept ``https://`` anywhere and ``http://`` only on loopback (the simulator)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"endpoint {url!r} is not an http(s) URL; set BGTASK_ENDPOINT to e.g. https://dms.eu-de.otc.t-systems.com"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"endpoint {url!r} uses plain http on a non-loopback host; credentials would travel unencrypted. "
            "Use https:// (plain http is allowed only for 127.0.0.1/localhost, e.g. the simulator)"
        )
    return url.rstrip("/")


def resolve_endpoint(endpoint: str | None, region: str | None, overrides: Mapping[str, str] | None = None) -> str:
    """An explicit endpoint always wins; then the SDK-style override; then the region table."""
    if endpoint:
        return check_endpoint(endpoint)
    if not region:
        raise ConfigurationError(
            "no DMS endpoint configured: set BGTASK_REGION (e.g. eu-de for Open Telekom Cloud, "
            "ap-southeast-1 for Huawei Cloud) or BGTASK_ENDPOINT, or start with --simulator to try the server"
        )
    if overrides and region in overrides:
        return check_endpoint(overrides[region])
    if region in OTC_REGIONS:
        return OTC_REGIONS[region]
    if region in HUAWEI_REGIONS:
        return huawei_endpoint(region)
    raise ConfigurationError(
        f"unknown region {region!r}; known regions: {', '.join(known_regions())}. "
        "For another region set BGTASK_ENDPOINT to its DMS endpoint"
    )


def resolve_iam(region: str | None, explicit: str | None) -> str:
    if explicit:
        return check_endpoint(explicit)
    if region in OTC_IAM:
        return OTC_IAM[region]
    if region in HUAWEI_REGIONS:
        return huawei_iam(region)
    raise ConfigurationError("no IAM endpoint known for the password login: set BGTASK_IAM_ENDPOINT or BGTASK_REGION")
