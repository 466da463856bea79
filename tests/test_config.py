"""Configuration: environment, the official SDK's fallbacks, flags winning, endpoints by region, and every bad
value refused at start-up with one line naming the setting (exit status 2, never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bgtask_mcp.config import ConfigError, load_settings
from bgtask_mcp.dms.endpoints import Endpoints, check_url, overrides_from
from bgtask_mcp.dms.errors import ConfigurationError, InvalidArgument
from bgtask_mcp.settings_env import VARIABLES

from .conftest import clean_env

P32 = "0123456789abcdef0123456789abcdef"


def test_bgtask_variables_are_read() -> None:
    s = load_settings(
        {
            "BGTASK_REGION": "EU-DE",
            "BGTASK_PROJECT_ID": P32,
            "BGTASK_ACCESS_KEY": "AK-FAKE-0001",
            "BGTASK_SECRET_KEY": "SK-FAKE-0000000001",
            "BGTASK_SECURITY_TOKEN": "ST-FAKE-000001",
        }
    )
    cloud = s.default_cloud
    assert (cloud.region, cloud.project_id, cloud.credentials.mode) == ("eu-de", P32, "aksk")
    assert cloud.credentials.secret_key is not None and cloud.credentials.secret_key.reveal() == "SK-FAKE-0000000001"
    assert cloud.credentials.security_token is not None


def test_official_sdk_variables_are_the_fallback() -> None:
    env = {
        "HUAWEICLOUD_SDK_AK": "AK-FROM-SDK",
        "HUAWEICLOUD_SDK_SK": "SK-FROM-SDK-000",
        "HUAWEICLOUD_SDK_PROJECT_ID": "a" * 32,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "TOKEN-FROM-SDK",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": "https://iam.example.test",
    }
    cloud = load_settings(env).default_cloud
    assert cloud.credentials.access_key is not None and cloud.credentials.access_key.reveal() == "AK-FROM-SDK"
    assert (cloud.project_id, cloud.iam_endpoint) == ("a" * 32, "https://iam.example.test")
    ours = load_settings({**env, "BGTASK_ACCESS_KEY": "AK-OURS", "BGTASK_PROJECT_ID": "b" * 32}).default_cloud
    assert ours.credentials.access_key is not None and ours.credentials.access_key.reveal() == "AK-OURS"
    assert ours.project_id == "b" * 32


def test_flags_override_environment() -> None:
    env = {"BGTASK_REGION": "eu-de", "BGTASK_PROJECT_ID": "a" * 32, "BGTASK_LOG_LEVEL": "warning"}
    s = load_settings(env, region="eu-nl", project_id="b" * 32, transport="http", port=9001, log_level="DEBUG")
    cloud = s.default_cloud
    assert (cloud.region, cloud.project_id, s.transport, s.http.port, s.log_level) == (
        "eu-nl",
        "b" * 32,
        "http",
        9001,
        "DEBUG",
    )
    assert load_settings(env).log_level == "WARNING"


def test_credential_modes() -> None:
    assert load_settings({}).default_cloud.credentials.mode == "none"
    assert load_settings({"BGTASK_IAM_TOKEN": "tok-fake-123456"}).default_cloud.credentials.mode == "token"
    pw = {"BGTASK_IAM_USER": "u", "BGTASK_IAM_PASSWORD": "pw-fake-123", "BGTASK_IAM_DOMAIN": "d"}
    assert load_settings(pw).default_cloud.credentials.mode == "password"
    assert load_settings({"BGTASK_ACCESS_KEY": "only-ak"}).default_cloud.credentials.mode == "none"


def test_secrets_do_not_print_themselves() -> None:
    s = load_settings({"BGTASK_ACCESS_KEY": "AK-FAKE-0001", "BGTASK_SECRET_KEY": "SK-FAKE-VISIBLE-0001"})
    assert "SK-FAKE-VISIBLE-0001" not in repr(s)


BAD_VALUES = [
    ({"BGTASK_TRANSPORT": "carrier-pigeon"}, "BGTASK_TRANSPORT='carrier-pigeon' is neither stdio nor http"),
    ({"BGTASK_LOG_LEVEL": "LOUD"}, "BGTASK_LOG_LEVEL='LOUD' is not one of DEBUG"),
    ({"BGTASK_READ_TIMEOUT": "soon"}, "BGTASK_READ_TIMEOUT='soon' is not a number of seconds"),
    ({"BGTASK_CALL_DEADLINE": "nan"}, "BGTASK_CALL_DEADLINE='nan' must be a number of seconds above 0"),
    ({"BGTASK_CALL_DEADLINE": "inf"}, "BGTASK_CALL_DEADLINE='inf' must be a number of seconds above 0"),
    ({"BGTASK_CALL_DEADLINE": "-1"}, "BGTASK_CALL_DEADLINE='-1' must be a number of seconds above 0"),
    ({"BGTASK_CONNECT_TIMEOUT": "0"}, "BGTASK_CONNECT_TIMEOUT='0' must be a number of seconds above 0"),
    ({"BGTASK_HTTP_PORT": "abc"}, "BGTASK_HTTP_PORT='abc' is not a port from 1 to 65535"),
    ({"BGTASK_HTTP_PORT": "0"}, "BGTASK_HTTP_PORT='0' is not a port from 1 to 65535"),
    ({"BGTASK_HTTP_PORT": "70000"}, "BGTASK_HTTP_PORT='70000' is not a port from 1 to 65535"),
    ({"BGTASK_HTTP_WORKERS": "0"}, "BGTASK_HTTP_WORKERS='0' is not a number from 1 to 64"),
    ({"BGTASK_HTTP_WORKERS": "two"}, "BGTASK_HTTP_WORKERS='two' is not a number from 1 to 64"),
    ({"BGTASK_CALLER_CONCURRENCY": "-3"}, "BGTASK_CALLER_CONCURRENCY='-3' is not a whole number from 1 to 256"),
    ({"BGTASK_CACHE": "maybe"}, "BGTASK_CACHE='maybe' is neither on nor off"),
    ({"BGTASK_REGION": "mars-north-1"}, "BGTASK_REGION='mars-north-1' is not a known region"),
    ({"BGTASK_ENDPOINT": "http://dms.example.test"}, "BGTASK_ENDPOINT='http://dms.example.test' uses plain http"),
    ({"BGTASK_ENDPOINT": "nonsense"}, "BGTASK_ENDPOINT='nonsense' is not an http(s) URL"),
    ({"BGTASK_PROJECT_ID": "not-a-project"}, "BGTASK_PROJECT_ID='not-a-project' is not a project id (32 hex"),
    ({"HUAWEICLOUD_SDK_REGION_KAFKA_EU_NL": "ftp://x"}, "HUAWEICLOUD_SDK_REGION_KAFKA_EU_NL='ftp://x' is not an"),
    ({"BGTASK_CACHE_URL": "memcached://x"}, "BGTASK_CACHE_URL must start with redis://"),
    ({"BGTASK_CACHE_URL": "redis://h:6379/0?socket_timeout=nan"}, "BGTASK_CACHE_URL socket_timeout='nan' must be"),
    ({"SSL_CERT_FILE": "/no/such/file.pem"}, "SSL_CERT_FILE='/no/such/file.pem' is not a readable file"),
    ({"BGTASK_OAUTH_SCOPE": "dms:read"}, "BGTASK_OAUTH_SCOPE is set but BGTASK_OAUTH_ISSUER is not"),
    ({"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": "/no/clouds.yaml"}, "OS_CLIENT_CONFIG_FILE='/no/clouds.yaml' is"),
    ({"BGTASK_TRANSPORT": "http", "BGTASK_HTTP_HOST": "0.0.0.0"}, "refusing to serve on 0.0.0.0 without"),
    (
        {"BGTASK_TRANSPORT": "http", "BGTASK_HTTP_HOST": "0.0.0.0", "BGTASK_HTTP_TOKEN": "short-token"},
        "BGTASK_HTTP_TOKEN is too short to serve on 0.0.0.0",
    ),
    (
        {"BGTASK_TRANSPORT": "http", "BGTASK_HTTP_TOKEN": "x" * 40, "BGTASK_OAUTH_ISSUER": "https://id.example.test"},
        "both BGTASK_HTTP_TOKEN and BGTASK_OAUTH_ISSUER are set",
    ),
]


@pytest.mark.parametrize(("env", "message"), BAD_VALUES, ids=[next(iter(env)) for env, _ in BAD_VALUES])
def test_bad_values_are_refused_with_the_name(env: dict[str, str], message: str) -> None:
    with pytest.raises((ConfigError, InvalidArgument)) as caught:
        load_settings(env)
    assert message in str(caught.value)


def test_the_refusal_of_a_network_bind_shows_its_own_instruction() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"BGTASK_TRANSPORT": "http", "BGTASK_HTTP_HOST": "0.0.0.0"})
    assert "'Authorization: Bearer <token>'" in str(caught.value)  # not masked into 'Authorization: ***'


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BGTASK_HTTP_PORT": "abc"}, "bgtask-mcp: BGTASK_HTTP_PORT='abc' is not a port from 1 to 65535\n"),
        ({"BGTASK_CALL_DEADLINE": "inf"}, "bgtask-mcp: BGTASK_CALL_DEADLINE='inf' must be a number of seconds"),
        ({"BGTASK_HTTP_HOST": "0.0.0.0", "BGTASK_TRANSPORT": "http"}, "bgtask-mcp: refusing to serve on 0.0.0.0"),
        ({"BGTASK_REGION": "mars-north-1"}, "bgtask-mcp: BGTASK_REGION='mars-north-1' is not a known region"),
    ],
)
def test_the_command_says_one_line_and_exits_2(env: dict[str, str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bgtask_mcp", "serve"],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(message)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_port_in_use_is_reported_before_any_serving_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bgtask_mcp", "serve", "--transport", "http", "--simulator", "--port", str(port)],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert done.returncode == 2
    assert f"bgtask-mcp: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving MCP" not in done.stderr and "Traceback" not in done.stderr


def test_serve_help_lists_every_setting_with_its_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bgtask_mcp", "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for variable in VARIABLES:
        assert variable.name in done.stdout, variable.name
    assert "--simulator" in done.stdout and "--cloud" in done.stdout


# -- endpoints ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "endpoint", "iam"),
    [
        ("eu-de", "https://dms.eu-de.otc.t-systems.com", "https://iam.eu-de.otc.t-systems.com"),
        ("eu-nl", "https://dms.eu-nl.otc.t-systems.com", "https://iam.eu-nl.otc.t-systems.com"),
        ("eu-ch2", "https://dms.eu-ch2.sc.otc.t-systems.com", "https://iam.eu-ch2.sc.otc.t-systems.com"),
        (
            "ap-southeast-1",
            "https://dms.ap-southeast-1.myhuaweicloud.com",
            "https://iam.ap-southeast-1.myhuaweicloud.com",
        ),
        ("eu-west-101", "https://dms.eu-west-101.myhuaweicloud.eu", "https://iam.eu-west-101.myhuaweicloud.eu"),
    ],
)
def test_region_table(region: str, endpoint: str, iam: str) -> None:
    endpoints = Endpoints()
    assert (endpoints.dms(region), endpoints.iam(region)) == (endpoint, iam)


def test_the_sdk_override_wins_then_the_endpoint_of_the_configured_region_then_the_table() -> None:
    overrides = overrides_from(
        {
            "HUAWEICLOUD_SDK_REGION_KAFKA_EU_DE": "https://kafka.override.test,https://second.test",
            "HUAWEICLOUD_SDK_REGION_ROCKETMQ_EU_NL": "https://rocket.override.test",
        }
    )
    endpoints = Endpoints("eu-de", "https://explicit.test", None, overrides)
    assert endpoints.dms("eu-de") == "https://kafka.override.test"  # the override, first of its list
    assert endpoints.dms("eu-nl", "rocketmq") == "https://rocket.override.test"
    assert endpoints.dms("eu-nl", "kafka") == "https://rocket.override.test"  # one endpoint serves every engine
    assert Endpoints("eu-de", "https://explicit.test").dms("eu-de") == "https://explicit.test"
    assert Endpoints("eu-de", "https://explicit.test").dms("eu-nl") == "https://dms.eu-nl.otc.t-systems.com"


def test_regions_are_case_insensitive_and_unknown_ones_list_the_known() -> None:
    endpoints = Endpoints("eu-de")
    assert endpoints.region(" EU-NL ") == "eu-nl"
    assert endpoints.region(None) == "eu-de"
    with pytest.raises(InvalidArgument) as caught:
        endpoints.region("mars-north-1")
    assert "no request was sent" in str(caught.value) and "eu-nl" in str(caught.value)
    with pytest.raises(ConfigurationError, match="no region"):
        Endpoints().region(None)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.test"])
def test_plain_http_only_on_loopback(url: str) -> None:
    assert check_url(url, "X") == url


@pytest.mark.parametrize("url", ["http://dms.eu-de.otc.t-systems.com", "http://10.0.0.1:80", "ftp://x", "nonsense"])
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^X="):
        check_url(url, "X")


def test_every_flag_comes_from_the_settings_table_and_sets_its_variable() -> None:
    """``serve``'s flags are made from VARIABLES: each is in --help, and given on the command line it yields the
    same settings as its variable in the environment (what HTTP worker processes rebuild from)."""
    from bgtask_mcp.cli import _parser
    from bgtask_mcp.settings_env import FLAGS, environment_with_flags, flags_of

    shown = subprocess.run([sys.executable, "-m", "bgtask_mcp", "serve", "--help"], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    assert not [v.flag for v in FLAGS.values() if f"{v.flag}" not in shown or f"({v.name}" not in shown]
    argv = ["serve", "--region", "eu-nl", "--project-id", "0" * 32, "--log-level", "DEBUG", "--transport", "http",
            "--port", "8123", "--workers", "2", "--host", "127.0.0.1", "--endpoint", "https://dms.example.test",
            "--simulator"]  # fmt: skip
    flags = flags_of(_parser().parse_args(argv))
    assert set(flags) == set(FLAGS) and flags["simulator"] is True
    assert flags["allow_unauthenticated_network_bind"] is None  # a switch not given leaves the environment to decide
    env = environment_with_flags({"BGTASK_ACCESS_KEY": "AKFAKE", "BGTASK_SECRET_KEY": "fake-secret"}, flags)
    assert env["BGTASK_HTTP_PORT"] == "8123" and env["BGTASK_SIMULATOR"] == "1" and "OS_CLOUD" not in env
    from_flags = load_settings({"BGTASK_ACCESS_KEY": "AKFAKE", "BGTASK_SECRET_KEY": "fake-secret"}, **flags)
    from_env = load_settings(env, simulator=True)
    assert from_flags == from_env
