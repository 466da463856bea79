"""Each named masking rule on its own, the registry's bounds, and every secret shape through a real MCP client:
the secret is gone from the result, the error text and the DEBUG log, while what a model needs to explain the
change (topics, users, plugins, where a truststore lives, which SASL mechanism) stays readable."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from bgtask_mcp.redaction import MASK, RULES, SecretRegistry, mask_text, mask_value
from bgtask_mcp.redaction.registry import Secret
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env
from .support import Journal, JournalHandler

SECRET = "hunter2"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_each_rule_masks_its_own_example_alone(rule: Any) -> None:
    assert rule.triggered(rule.example)
    masked = rule.apply(rule.example, 0)
    assert MASK in masked and masked != rule.example
    assert SECRET not in masked or rule.name in ("pem_block", "jwt", "signature_header")  # their own markers


def test_the_rules_have_distinct_names() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES) >= 14


SHAPES = {
    "mysql glued": ("mysql -u root -phunter2 orders", "mysql -u root -p*** orders"),
    "short flag": ("tool -u app -p hunter2 --topic orders", "tool -u app -p *** --topic orders"),
    "long flag": ("kafka-configs --password hunter2 --alter", "kafka-configs --password *** --alter"),
    "long flag =": ("tool --password=hunter2 --x", "tool --password=*** --x"),
    "keytool": ("keytool -storepass hunter2 -keypass hunter3", "keytool -storepass *** -keypass ***"),
    "openssl": ("openssl pkcs12 -passin pass:hunter2", "openssl pkcs12 -passin ***"),
    "java property": ("java -Dssl.keystore.password=hunter2 -jar a", "java -Dssl.keystore.password=*** -jar a"),
    "env prefix": ("PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=*** psql -h db"),
    "xml element": ("<cfg><password>hunter2</password><topic>t</topic></cfg>",
                    "<cfg><password>***</password><topic>t</topic></cfg>"),
    "xml attribute": ('<user name="app" password="hunter2"/>', '<user name="app" password="***"/>'),
    "xml name/value": ('<property name="sasl.password" value="hunter2"/>',
                       '<property name="sasl.password" value="***"/>'),
    "chain after a colon": ("Invalid request parameter: sasl.password=hunter2 does not meet the password policy.",
                            "Invalid request parameter: sasl.password=*** does not meet the password policy."),
    "python repr": ("{'password': 'hunter2', 'topic': 'orders'}", "{'password': '***', 'topic': 'orders'}"),
    "github token": ("sink repo with ghp_0123456789abcdefghijABCDEFGHIJ012345", "sink repo with ***"),
    "gitlab token": ("GITLAB glpat-abcdefghij0123456789 ok", "GITLAB *** ok"),
    "slack token": ("notify via xoxb-123456789012-abcdefghij", "notify via ***"),
    "aws key id": ("aws id AKIAIOSFODNN7EXAMPLE in eu", "aws id *** in eu"),
    "sk- api key": ("llm key sk-proj-abcdefghijklmnopqrstuvwx", "llm key ***"),
    "stripe key": ("billing sk_live_0123456789abcdefghijklmn", "billing ***"),
}  # fmt: skip
READABLE = [
    "ssl.truststore.location=/etc/kafka/truststore.jks",
    "ssl.keystore.type=PKCS12 sasl.mechanism=SCRAM-SHA-512 sasl.username=app",
    "docker run -p 8080:80 image",
    "ssh -p 2222 host",
    "openssl pkcs12 -passin env:P12_PASSWORD",
    "tool --password-file /run/secrets/kafka --topic orders",
    "x -print -profile dev",
    "<topic>orders</topic><user>app</user>",
    "enable=true plugins=rabbitmq_shovel,rabbitmq_federation user_name=app",
    "Check the password policy: at least 8 characters.",
    "disk-size 100 task-12345678901234567890 high_availability ASIAN-markets ghp_short",
]


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_is_masked_in_text(name: str) -> None:
    raw, expected = SHAPES[name]
    assert mask_text(raw) == expected


@pytest.mark.parametrize("text", READABLE)
def test_settings_about_secrets_stay_readable(text: str) -> None:
    assert mask_text(text) == text


def test_a_secret_key_masks_its_own_value_not_its_siblings() -> None:
    assert mask_value({"privateKey": "k3y-material", "topic": "orders", "user": "app"}) == {
        "privateKey": MASK,
        "topic": "orders",
        "user": "app",
    }
    pair = {"name": "ssl.truststore.password", "value": "hunter2", "source": "console"}
    assert mask_value(pair) == {"name": "ssl.truststore.password", "value": MASK, "source": MASK}
    argv = ["kafka-configs", "--alter", "--password", "hunter2", "--topic", "orders", "-p", "9092"]
    assert mask_value(argv) == ["kafka-configs", "--alter", "--password", MASK, "--topic", "orders", "-p", "9092"]


# -- the registry ------------------------------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_registry_forgets_expired_values_and_stays_within_its_bound() -> None:
    clock = Ticks()
    registry = SecretRegistry(max_entries=3, clock=clock)
    registry.register("configured-ak-0001")  # pinned
    registry.register("token-aaaa-0001", ttl=10)
    assert registry.mask("a token-aaaa-0001 b configured-ak-0001") == "a *** b ***"
    clock.now = 11
    assert registry.mask("a token-aaaa-0001") == "a token-aaaa-0001" and len(registry) == 1
    for n in range(10):
        registry.register(f"token-bbbb-{n:04d}", ttl=100)
    assert len(registry) == 1 + 3  # the pinned one, and the three newest
    assert registry.mask("token-bbbb-0000 token-bbbb-0009") == "token-bbbb-0000 ***"


def test_jwts_short_values_and_constructed_secrets_are_not_registered() -> None:
    registry = SecretRegistry()
    registry.register("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", ttl=60)  # the JWT rule masks it
    registry.register("abc")  # would mask ordinary words
    assert len(registry) == 0
    Secret("NEVER-REGISTERED-BY-CONSTRUCTION-01")
    assert mask_text("NEVER-REGISTERED-BY-CONSTRUCTION-01") == "NEVER-REGISTERED-BY-CONSTRUCTION-01"


# -- through a real MCP client -----------------------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[Journal]:
    journal = Journal()
    handler = JournalHandler(journal)
    names = ("", "bgtask_mcp", "httpx2", "httpcore2", "mcp")
    saved = {name: logging.getLogger(name).level for name in names}
    logging.getLogger().addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield journal
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


PARAMS = {
    "command": "mysql -u root -phunter2 orders",
    "argv": ["kafka-configs", "--alter", "--sasl-password", "hunter3", "--topic", "orders"],
    "xml": "<sasl><password>hunter4</password><mechanism>PLAIN</mechanism></sasl>",
    "keytab": "BQIAAABhunter5",
    "pw": "hunter6",
    "privateKey": "hunter7-material",
    "topic": "orders",
    "plugins": "rabbitmq_shovel",
    "ssl.truststore.location": "/etc/kafka/truststore.jks",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "app-producer",
}
SECRETS_SENT = ("hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7")


@pytest.mark.anyio
async def test_every_shape_through_a_real_client_result_error_and_debug_log(
    simulator: Simulator, debug_log: Journal
) -> None:
    task = simulator.create_task(instance_id=data.SCRATCH.id, name="kafkaConfigModify", params=PARAMS, duration_s=0.01)
    error_detail = "sasl.password=hunter8 does not meet the password policy."
    async with Client(build_server(fast_settings(sim_env(simulator)))) as client:
        result = await client.call_tool("get_background_task", {"instance_id": data.SCRATCH.id, "task_id": task})
        simulator.faults({"kind": "invalid_parameter", "detail": error_detail, "path_contains": data.SCRATCH.id})
        try:
            refused = await client.call_tool("list_background_tasks", {"instance_id": data.SCRATCH.id})
        finally:
            simulator.faults()
    params = (result.structured_content or {})["tasks"][0]["params"]
    for readable in ("topic", "plugins", "ssl.truststore.location", "sasl.mechanism", "sasl.username"):
        assert params[readable] == PARAMS[readable], readable  # the siblings a model needs stay readable
    assert params["argv"][-2:] == ["--topic", "orders"] and "<mechanism>PLAIN</mechanism>" in params["xml"]
    error_text = json.dumps(refused.model_dump(mode="json"))
    assert refused.is_error and "sasl.password=***" in error_text and "DMS.00400062" in error_text
    debug_log.add_result(result)
    debug_log.add_result(refused)
    assert debug_log.records, "the DEBUG log was captured"
    assert not debug_log.leaks((*SECRETS_SENT, "hunter8")), debug_log.leaks((*SECRETS_SENT, "hunter8"))


def test_a_field_line_masks_each_argument_and_refuses_a_secret_key() -> None:
    """The access and audit lines mask their arguments one by one; a format whose key names a secret, or whose
    placeholder has no key, cannot become such a line."""
    from bgtask_mcp.redaction import FieldLine

    logger = logging.getLogger("bgtask_mcp.test_field_line")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        line = FieldLine(logger, "call tool=%s instance=%s n=%d")
        line.info("kafka --password hunter2", "mysql -psecret9", 3)
        text = records[-1].getMessage()
        assert "hunter2" not in text and "secret9" not in text and text.endswith(" n=3"), text
    finally:
        logger.removeHandler(handler)
    for bad in ("call password=%s", "call %s", "call tool=%s token=%s"):
        with pytest.raises(ValueError):
            FieldLine(logger, bad)
