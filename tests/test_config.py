"""Configuration: environment, the official SDK's fallbacks, flags winning, endpoints by region."""

from __future__ import annotations

import pytest

from bgtask_mcp.config import ConfigError, load_settings
from bgtask_mcp.dms.endpoints import check_endpoint, resolve_endpoint, resolve_iam
from bgtask_mcp.dms.errors import ConfigurationError


def test_bgtask_variables_are_read() -> None:
    s = load_settings(
        {
            "BGTASK_REGION": "eu-de",
            "BGTASK_PROJECT_ID": "0123456789abcdef0123456789abcdef",
            "BGTASK_ACCESS_KEY": "AK-FAKE-0001",
            "BGTASK_SECRET_KEY": "SK-FAKE-0000000001",
            "BGTASK_SECURITY_TOKEN": "ST-FAKE-000001",
        }
    )
    assert s.region == "eu-de"
    assert s.project_id == "0123456789abcdef0123456789abcdef"
    assert s.credentials.mode == "aksk"
    assert s.credentials.secret_key is not None and s.credentials.secret_key.reveal() == "SK-FAKE-0000000001"
    assert s.credentials.security_token is not None


def test_official_sdk_variables_are_the_fallback() -> None:
    env = {
        "HUAWEICLOUD_SDK_AK": "AK-FROM-SDK",
        "HUAWEICLOUD_SDK_SK": "SK-FROM-SDK-000",
        "HUAWEICLOUD_SDK_PROJECT_ID": "p" * 32,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "TOKEN-FROM-SDK",
    }
    s = load_settings(env)
    assert s.credentials.access_key is not None and s.credentials.access_key.reveal() == "AK-FROM-SDK"
    assert s.project_id == "p" * 32
    ours = load_settings({**env, "BGTASK_ACCESS_KEY": "AK-OURS", "BGTASK_PROJECT_ID": "q" * 32})
    assert ours.credentials.access_key is not None and ours.credentials.access_key.reveal() == "AK-OURS"
    assert ours.project_id == "q" * 32


def test_flags_override_environment() -> None:
    env = {"BGTASK_REGION": "eu-de", "BGTASK_PROJECT_ID": "a" * 32, "BGTASK_LOG_LEVEL": "warning"}
    s = load_settings(env, region="eu-nl", project_id="b" * 32, transport="http", port=9001, log_level="DEBUG")
    assert (s.region, s.project_id, s.transport, s.http.port, s.log_level) == ("eu-nl", "b" * 32, "http", 9001, "DEBUG")
    assert load_settings(env).log_level == "WARNING"


def test_credential_modes() -> None:
    assert load_settings({}).credentials.mode == "none"
    assert load_settings({"BGTASK_IAM_TOKEN": "tok-fake-123456"}).credentials.mode == "token"
    pw = {"BGTASK_IAM_USER": "u", "BGTASK_IAM_PASSWORD": "pw-fake-123", "BGTASK_IAM_DOMAIN": "d"}
    assert load_settings(pw).credentials.mode == "password"
    assert load_settings({"BGTASK_ACCESS_KEY": "only-ak"}).credentials.mode == "none"


def test_secrets_do_not_print_themselves() -> None:
    s = load_settings({"BGTASK_ACCESS_KEY": "AK-FAKE-0001", "BGTASK_SECRET_KEY": "SK-FAKE-VISIBLE-0001"})
    assert "SK-FAKE-VISIBLE-0001" not in repr(s)
    assert "SK-FAKE-VISIBLE-0001" not in str(s.credentials)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BGTASK_TRANSPORT": "carrier-pigeon"}, "transport"),
        ({"BGTASK_LOG_LEVEL": "LOUD"}, "log level"),
        ({"BGTASK_READ_TIMEOUT": "soon"}, "BGTASK_READ_TIMEOUT"),
        ({"BGTASK_CALL_DEADLINE": "-1"}, "positive"),
    ],
)
def test_bad_values_are_refused_with_the_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("eu-de", "https://dms.eu-de.otc.t-systems.com"),
        ("eu-nl", "https://dms.eu-nl.otc.t-systems.com"),
        ("eu-ch2", "https://dms.eu-ch2.sc.otc.t-systems.com"),
        ("ap-southeast-1", "https://dms.ap-southeast-1.myhuaweicloud.com"),
        ("cn-north-4", "https://dms.cn-north-4.myhuaweicloud.com"),
        ("eu-west-101", "https://dms.eu-west-101.myhuaweicloud.eu"),
    ],
)
def test_region_table(region: str, endpoint: str) -> None:
    assert resolve_endpoint(None, region) == endpoint


def test_explicit_endpoint_wins_then_sdk_override_then_table() -> None:
    assert resolve_endpoint("https://dms.example.test/", "eu-de") == "https://dms.example.test"
    overrides = load_settings({"HUAWEICLOUD_SDK_REGION_KAFKA_AP_SOUTHEAST_1": "https://kafka.override.test"})
    assert resolve_endpoint(None, "ap-southeast-1", overrides.endpoint_overrides) == "https://kafka.override.test"
    assert resolve_endpoint(None, "eu-de", overrides.endpoint_overrides) == "https://dms.eu-de.otc.t-systems.com"


def test_unknown_region_and_missing_endpoint_say_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="BGTASK_ENDPOINT"):
        resolve_endpoint(None, "mars-north-1")
    with pytest.raises(ConfigurationError, match="--simulator"):
        resolve_endpoint(None, None)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.test"])
def test_plain_http_only_on_loopback(url: str) -> None:
    assert check_endpoint(url) == url


@pytest.mark.parametrize("url", ["http://dms.eu-de.otc.t-systems.com", "http://10.0.0.1:80", "ftp://x", "nonsense"])
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_endpoint(url)


def test_iam_endpoint() -> None:
    assert resolve_iam("eu-de", None) == "https://iam.eu-de.otc.t-systems.com/v3"
    assert resolve_iam("ap-southeast-3", None) == "https://iam.ap-southeast-3.myhuaweicloud.com/v3"
    assert resolve_iam(None, "http://127.0.0.1:5/v3") == "http://127.0.0.1:5/v3"
    with pytest.raises(ConfigurationError):
        resolve_iam(None, None)
