"""Masking fails closed: a secret in any shape (secret-like keys at any depth, name/value pairs, URLs, bearer
and basic credentials, PEM blocks, JWTs, key=value text, JSON that is not valid JSON, JSON encoded in JSON) never
reaches a result, a log line or an error text.

The property tests build random documents with a random marker secret in a secret position: first against
the masking pipeline itself (many examples), then through a real MCP client against the simulator with every
logger at DEBUG (the marker must not appear in the text content, the structuredContent, a log record or an
error text).
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from bgtask_mcp.dms.wire import WireTask
from bgtask_mcp.models import task_from_wire
from bgtask_mcp.redaction import DEEP_MASK, MASK, RedactingFilter, is_secret_key, mask_text, mask_value, register_secret
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env
from .support import Journal, JournalHandler

EXAMPLES = int(os.environ.get("BGTASK_PROPERTY_EXAMPLES", "300"))
FAST = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None)
THROUGH_MCP = settings(
    max_examples=max(40, EXAMPLES // 5),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- the vocabulary --------------------------------------------------------------------------------------------

SECRET_KEYS = [
    "password",
    "new_password",
    "sasl_password",
    "Passwd",
    "pwd",
    "dbPwd",
    "DB_PASSWORD",
    "db.password",
    "passphrase",
    "keystore_pass",
    "secret",
    "client-secret",
    "secretKey",
    "access_key",
    "accessKey",
    "sk",
    "ak",
    "token",
    "X-Auth-Token",
    "authToken",
    "credentials",
    "cookie",
    "Set-Cookie",
    "session",
    "sessionId",
    "private_key",
    "privateKey",
    "api_key",
    "apiKey",
    "sasl.jaas.config",
    "ssl.truststore.password",
    "ssl.keystore.key",
    "keytab",
    "sasl.kerberos.keytab",
    "pw",
    "db_pw",
    "storepass",
    "connection_string",
    "connectionString",
    "dsn",
    "authorization",
    "auth",
    "SSL_KEY_PASSWORD",
    "jaasConfig",
    "dbpassword",
]
ORDINARY_KEYS = [
    # settings about a secret: what a model needs to explain a TLS or SASL change
    "ssl.keystore.location",
    "ssl.truststore.location",
    "ssl.keystore.type",
    "sasl.mechanism",
    "sasl.enabled.mechanisms",
    "sasl.username",
    "sasl.kerberos.principal",
    "password.policy",
    "ssl.endpoint.identification.algorithm",
    "public_ip_id",
    "bypass",
    "passive",
    "compass",
    "partition_key",
    "topic",
    "skip",
    "task",
    "name",
    "status",
    "session.timeout.ms",
    "auth.mechanism",
    "retention_hours",
    "broker_num",
    "user_name",
    "username",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_like_keys_are_masked_whatever_the_value(key: str) -> None:
    assert is_secret_key(key)
    for value in ("hunter2-value", 123456, ["a", "b"], {"x": 1}, True):
        assert mask_value({key: value, "keep": "visible"}) == {key: MASK, "keep": "visible"}


@pytest.mark.parametrize("key", ORDINARY_KEYS)
def test_ordinary_keys_are_not_masked(key: str) -> None:
    assert not is_secret_key(key)


def test_empty_secret_values_stay_visibly_empty() -> None:
    assert mask_value({"password": "", "token": None}) == {"password": "", "token": None}


@pytest.mark.parametrize(
    "pair",
    [
        {"name": "ssl.truststore.password", "value": "S"},
        {"value": "S", "name": "sasl.password"},
        {"key": "ssl.keystore.password", "value": "S"},
        {"config_name": "sasl.jaas.config", "config_value": "S", "type": "string"},
        {"param": "db_password", "new_value": "S", "old_value": "S"},
    ],
)
def test_name_value_pairs_naming_a_secret_mask_every_other_field(pair: dict[str, str]) -> None:
    masked = mask_value({"configs": [pair, {"name": "min.insync.replicas", "value": "2"}]})
    assert "S" not in json.dumps(masked).replace("ssl.", "").replace("sasl", "").replace("string", "")
    assert masked["configs"][1] == {"name": "min.insync.replicas", "value": "2"}


def test_pairs_written_as_two_element_arrays() -> None:
    assert mask_value([["ssl.key.password", "S1"], ["retention.ms", "100"]]) == [
        ["ssl.key.password", MASK],
        ["retention.ms", "100"],
    ]


def test_past_the_depth_cap_the_rest_is_masked_never_shown() -> None:
    deep: Any = {"password": "S"}
    for _ in range(40):
        deep = {"level": deep}
    assert "S" not in json.dumps(mask_value(deep)).replace("DEEP", "")
    assert DEEP_MASK in json.dumps(mask_value(deep))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user=app password=hunter2 token=abc123", "user=app password=*** token=***"),
        ("login with password=hunter2, then retry", "login with password=***, then retry"),
        ("kafka://admin:pw123@broker:9092/x", "kafka://***@broker:9092/x"),
        ("connect admin:pw123@broker.example:9092", "connect ***@broker.example:9092"),
        ("db_password=s3cr3t and more", "db_password=*** and more"),
        ("Authorization: Bearer abcdefghijklmnop.qrs", "Authorization: Bearer ***"),
        ("Authorization: Basic YWRtaW46cHc=", "Authorization: Basic ***"),
        ("password: correct horse battery staple", "password: ***"),
        ('{"password": "S3CR', '{"password": "***'),
        (
            '{"value": "S", "name": "ssl.truststore.password", "x": NaN}',
            '{"value": "***", "name": "ssl.truststore.password", "x": ***}',
        ),
        (
            '{"configs": [{"name": "sasl.password", "value": "S"},]}',
            '{"configs": [{"name": "sasl.password", "value": "***"},]}',
        ),
        ("Server=x;User Id=u;Password=p4ss;Database=d", "Server=x;User Id=u;Password=***;Database=d"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY----- tail", "-----BEGIN PRIVATE KEY-----*** tail"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc cut off", "-----BEGIN RSA PRIVATE KEY-----***"),
        ("header eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln here", "header *** here"),
        ("(b'x-subject-token', b'SIM-ISSUED-abc')", "(b'x-subject-token', b'***')"),
    ],
)
def test_secrets_in_text_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T14:08:04.619Z",
        "the token has expired or was revoked; obtain a new IAM token (or use AK/SK)",
        "clients send it as 'Authorization: Bearer <token>'",
        "DMS answered HTTP 401 APIG.0301: Incorrect IAM authentication information: verify aksk signature fail",
        "set BGTASK_SECRET_KEY and BGTASK_ACCESS_KEY, then restart",
        "Änderung für Kunden — テスト",
    ],
)
def test_ordinary_text_and_our_own_instructions_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("REGISTERED-FAKE-SECRET-00042")
    assert mask_text("it was REGISTERED-FAKE-SECRET-00042, then") == "it was ***, then"


def test_log_records_are_masked_in_message_arguments_and_traceback() -> None:
    register_secret("FAKE-LOGGED-SECRET-9f8e7d")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "value %s password=%s", ("FAKE-LOGGED-SECRET-9f8e7d", "pw1"), None
    )
    try:
        raise RuntimeError("boom FAKE-LOGGED-SECRET-9f8e7d")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == "value *** password=***"
    assert record.exc_text is not None and "FAKE-LOGGED" not in record.exc_text and "***" in record.exc_text


# -- random documents with a marker in a secret position --------------------------------------------------------

MARKERS = st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=20).map(lambda s: "MK" + s)
ORDINARY_WORDS = ["topic", "broker", "retention", "group", "partition", "region", "enabled", "count", "note", "id"]
harmless_keys = st.sampled_from(ORDINARY_WORDS)
harmless_values = st.one_of(
    st.integers(-1000, 1000), st.booleans(), st.none(), st.sampled_from(["orders", "2", "on", "eu-de", "[topic-1]"])
)


def secret_leaf(marker: str) -> st.SearchStrategy[Any]:
    """A value holding the marker where only a secret can be: every shape masking must catch."""
    key = st.sampled_from(SECRET_KEYS)
    name_key = st.sampled_from(["name", "key", "config_name", "param", "property"])
    value_key = st.sampled_from(["value", "config_value", "new_value", "val", "data"])
    return st.one_of(
        key.map(lambda k: {k: marker}),
        st.tuples(name_key, key, value_key, st.booleans()).map(
            lambda t: {t[2]: marker, t[0]: t[1]} if t[3] else {t[0]: t[1], t[2]: marker}
        ),
        key.map(lambda k: [k, marker]),
        st.sampled_from(["kafka", "amqp", "https", "jdbc:postgresql"]).map(
            lambda s: f"{s}://admin:{marker}@host:9093/x"
        ),
        key.map(lambda k: f"{k}={marker} host=db-1"),
        key.map(lambda k: f"{k}: {marker}"),
        st.just(f"Authorization: Bearer {marker}"),
        st.just(f"Basic {marker}"),
        st.just(f"-----BEGIN PRIVATE KEY-----\nMIIB{marker}\n-----END PRIVATE KEY-----"),
        st.just(f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.{marker}"),
        command_lines(marker),
        argument_arrays(marker),
        markup(marker),
        st.sampled_from(["Invalid request parameter", "bad config", "Error"]).map(  # a chain after a colon
            lambda lead: f"{lead}: sasl.password={marker} does not meet the password policy."
        ),
        key.map(lambda k: repr({k: marker, "topic": "orders"})),  # a Python repr
    )


FLAGS = ["--password", "--sasl-password", "--client-secret", "--token", "-storepass", "-keypass", "--keytab"]


def command_lines(marker: str) -> st.SearchStrategy[str]:
    """Secrets on a command line, in every form a shell or a config tool writes them."""
    flag = st.sampled_from(FLAGS)
    return st.one_of(
        st.just(f"mysql -u root -p{marker} orders"),
        st.just(f"mariadb -h db-1 -p'{marker}' orders"),
        st.just(f"tool -u app -p {marker} --topic orders"),
        flag.map(lambda f: f"kafka-configs --bootstrap-server b:9092 {f} {marker} --alter"),
        flag.map(lambda f: f"tool {f}={marker} --topic orders"),
        flag.map(lambda f: f'tool {f} "{marker}" --topic orders'),
        st.just(f"openssl pkcs12 -in a.p12 -passin pass:{marker} -nodes"),
        st.just(f"java -Dssl.keystore.password={marker} -Djava.security.auth.login.config=/x -jar app.jar"),
        st.just(f"PGPASSWORD={marker} psql -h db-1"),
    )


def argument_arrays(marker: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([*FLAGS, "-p"]).map(lambda f: ["kafka-configs", "--alter", f, marker, "--topic", "orders"])


def markup(marker: str) -> st.SearchStrategy[str]:
    key = st.sampled_from(["password", "sasl.password", "ssl.key.password", "secretKey"])
    return st.one_of(
        key.map(lambda k: f"<config><{k}>{marker}</{k}><topic>orders</topic></config>"),
        key.map(lambda k: f'<property name="{k}" value="{marker}"/>'),
        key.map(lambda k: f'<entry key="{k}">{marker}</entry>'),
        key.map(lambda k: f'<user name="app" {k}="{marker}"/>'),
    )


def documents(marker: str) -> st.SearchStrategy[Any]:
    """Nested objects and arrays with the secret somewhere inside, some of it JSON-encoded into strings."""

    def grow(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.tuples(harmless_keys, inner, st.dictionaries(harmless_keys, harmless_values, max_size=3)).map(
                lambda t: {**t[2], t[0]: t[1]}
            ),
            st.tuples(inner, st.lists(harmless_values, max_size=3)).map(lambda t: [*t[1], t[0]]),
            inner.map(json.dumps),  # JSON encoded inside a string
        )

    return st.recursive(secret_leaf(marker), grow, max_leaves=6)


def spoil(text: str, how: str, marker: str) -> str:
    """Make a JSON text not-JSON the ways real params are: a trailing comma, a NaN, a cut-off end."""
    if how == "trailing comma" and text.endswith(("}", "]")):
        return text[:-1] + "," + text[-1]
    if how == "nan":
        return text.replace("true", "NaN", 1) if "true" in text else "[NaN, " + text + "]"
    if how == "truncated" and len(text) > 3:
        return text[:-3]  # a document cut off at its end: what made the marker a secret is still there
    return text


@st.composite
def params_texts(draw: st.DrawFn) -> tuple[str, str]:
    marker = draw(MARKERS)
    document = draw(documents(marker))
    text = document if isinstance(document, str) else json.dumps(document)
    return spoil(text, draw(st.sampled_from(["none", "trailing comma", "nan", "truncated"])), marker), marker


def masked_params(raw: str) -> str:
    task = task_from_wire(WireTask("t", "kafkaConfigModify", "u", "i", raw, "SUCCESS", "", ""))
    return task.model_dump_json()


@FAST
@given(params_texts())
def test_a_marker_in_a_secret_position_never_survives_masking(case: tuple[str, str]) -> None:
    raw, marker = case
    assert marker not in masked_params(raw), raw


@FAST
@given(st.text(max_size=300))
def test_masking_any_text_terminates_and_returns_text(text: str) -> None:
    assert isinstance(mask_text(text), str)
    assert isinstance(masked_params(text), str)


# -- through the server, every logger at DEBUG -----------------------------------------------------------------


@pytest.fixture
def debug_journal() -> Iterator[Journal]:
    journal = Journal()
    handler = JournalHandler(journal)
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", "bgtask_mcp", "httpx2", "httpcore2", "mcp")}
    root.addHandler(handler)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield journal
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def portal_client(simulator: Simulator) -> Iterator[tuple[BlockingPortal, Client]]:
    """An in-process MCP client usable from hypothesis' synchronous examples."""
    server = build_server(fast_settings(sim_env(simulator)))
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(server)) as client:
        yield portal, client


@THROUGH_MCP
@given(case=params_texts())
def test_a_seeded_marker_never_reaches_results_logs_or_errors(
    case: tuple[str, str], simulator: Simulator, portal_client: tuple[BlockingPortal, Client], debug_journal: Journal
) -> None:
    raw, marker = case
    portal, client = portal_client
    scratch = data.SCRATCH.id  # the tests' own instance: the seeded history stays as it is
    task = simulator.create_task(instance_id=scratch, name="kafkaConfigModify", params=raw, duration_s=0.01)
    for tool, args in (
        ("get_background_task", {"instance_id": scratch, "task_id": task}),
        ("list_background_tasks", {"instance_id": scratch, "limit": 3}),
        ("get_background_task", {"instance_id": scratch, "task_id": "f" * 32}),  # an error text
    ):
        result = portal.call(client.call_tool, tool, args)
        debug_journal.add_result(result)
    # DMS quoting the refused parameter in its error text (and so in the tool error and the DEBUG log)
    simulator.faults({"kind": "invalid_parameter", "detail": raw, "path_contains": scratch})
    try:
        refused = portal.call(client.call_tool, "list_background_tasks", {"instance_id": scratch, "start": 2})
    finally:
        simulator.faults()
    assert refused.is_error and "DMS.00400062" in str(refused.content)
    debug_journal.add_result(refused)
    assert not debug_journal.leaks((marker,)), (raw, debug_journal.leaks((marker,)))


def test_the_journal_of_everything_emitted_can_find_a_leak(tmp_path: Any) -> None:
    """The suite-wide search for seeded secrets is real: a marker in a record, a result or a server log is found."""
    journal = Journal(log_dir=tmp_path)
    assert journal.leaks(data.SEEDED_SECRETS) == []
    journal.records.append(f"a log line with {data.SEEDED_SECRETS[3]} in it")
    (tmp_path / "server.log").write_text(f"stderr {data.SEEDED_SECRETS[5]}")
    found = journal.leaks(data.SEEDED_SECRETS)
    assert len(found) == 2 and found[0].startswith("log record: ") and "server output server.log" in found[1]


def test_a_text_once_clean_is_masked_as_soon_as_it_becomes_a_known_secret() -> None:
    """Short clean texts are remembered (they come back on every call); learning a secret forgets them."""
    value = "x9-" + os.urandom(8).hex()
    assert mask_text(value) == value and mask_text(value) == value  # the second answer comes from memory
    register_secret(value, ttl=600)
    assert mask_text(value) == MASK
    assert mask_text(f"caller {value}") == f"caller {MASK}"


def test_the_memory_of_clean_texts_is_bounded() -> None:
    from bgtask_mcp.redaction.text import _CLEAN, CLEAN_MAX_CHARACTERS, CLEAN_MAX_ENTRIES

    for i in range(CLEAN_MAX_ENTRIES + 500):
        mask_text(f"region-{i}")
    mask_text("y" * (CLEAN_MAX_CHARACTERS + 1))
    assert len(_CLEAN._seen) <= CLEAN_MAX_ENTRIES
    assert all(len(text) <= CLEAN_MAX_CHARACTERS for text in _CLEAN._seen)
