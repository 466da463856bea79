"""params: the JSON-in-a-string field, decoded the way a model can read it."""

from __future__ import annotations

import json

import pytest

from bgtask_mcp.models import Task, task_list_from_wire
from bgtask_mcp.params import decode_params, is_secret_key, mask_text


def test_api_page_example_decodes_to_an_object() -> None:
    raw = (
        '{"public_ip_id":"1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f","public_ip_address":"100.93.2.18",'
        '"enable_public_ip":true}'
    )
    assert decode_params(raw) == {
        "public_ip_id": "1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f",
        "public_ip_address": "100.93.2.18",
        "enable_public_ip": True,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"enable":true,"plugins":"rabbitmq_delayed_message_exchange"}\n',
            {"enable": True, "plugins": "rabbitmq_delayed_message_exchange"},
        ),
        ('  \t{"a": 1}\r\n ', {"a": 1}),
        ("[1, 2, 3]", [1, 2, 3]),
        ("123", 123),
        ("true", True),
        ("null", None),
        ('"plain"', "plain"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_json_values_and_whitespace(raw: str, expected: object) -> None:
    assert decode_params(raw) == expected


@pytest.mark.parametrize("raw", ["[topic-1]", "not json at all: enable=true", "{broken", "NaN", "Infinity", "{'a': 1}"])
def test_text_that_is_not_json_is_kept_verbatim(raw: str) -> None:
    assert decode_params(raw) == raw


def test_none_stays_none() -> None:
    assert decode_params(None) is None


def test_nested_encoded_containers_are_decoded_but_scalar_looking_strings_are_not() -> None:
    raw = json.dumps(
        {
            "configs": json.dumps([{"name": "log.retention.hours", "value": "72"}]),
            "count": "123",
            "topic": "[topic-1]",
            "flag": "true",
            "inner": json.dumps({"deeper": json.dumps({"x": 1})}),
        }
    )
    assert decode_params(raw) == {
        "configs": [{"name": "log.retention.hours", "value": "72"}],
        "count": "123",
        "topic": "[topic-1]",
        "flag": "true",
        "inner": {"deeper": {"x": 1}},
    }


def test_whole_document_encoded_twice() -> None:
    assert decode_params(json.dumps(json.dumps({"topics": ["a", "b"]}))) == {"topics": ["a", "b"]}


def test_large_integers_stay_exact() -> None:
    decoded = decode_params(
        '{"small": 9007199254740991, "big": 123456789012345678901234567890, "neg": -9007199254740993}'
    )
    assert decoded == {"small": 9007199254740991, "big": "123456789012345678901234567890", "neg": "-9007199254740993"}


def test_non_ascii_text_survives() -> None:
    assert decode_params('{"note":"Änderung für Kunden — テスト"}') == {"note": "Änderung für Kunden — テスト"}


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password",
        "sasl_password",
        "Passwd",
        "pwd",
        "secret",
        "secretKey",
        "access_key",
        "accessKey",
        "sk",
        "ak",
        "token",
        "X-Auth-Token",
        "private_key",
        "privateKey",
        "api_key",
        "credentials",
        "sasl.jaas.config",
        "keystore_pass",
    ],
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    assert is_secret_key(key)
    assert decode_params(json.dumps({key: "hunter2-value", "keep": "visible"})) == {key: "***", "keep": "visible"}


@pytest.mark.parametrize(
    "key", ["public_ip_id", "bypass", "passive", "compass", "partition_key", "topic", "skip", "task"]
)
def test_ordinary_keys_are_not_masked(key: str) -> None:
    assert not is_secret_key(key)


def test_masking_reaches_nested_and_encoded_values() -> None:
    raw = json.dumps({"users": [{"name": "app", "password": "p1"}], "enc": json.dumps({"secret": "s1"})})
    assert decode_params(raw) == {"users": [{"name": "app", "password": "***"}], "enc": {"secret": "***"}}


def test_secret_pairs_inside_free_text_are_masked() -> None:
    assert mask_text("user=app password=hunter2 token: abc123") == "user=app password=*** token: ***"
    assert decode_params("login with password=hunter2, then retry") == "login with password=***, then retry"


def test_deep_nesting_does_not_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert decode_params(deep) == deep  # too deep for the JSON decoder: kept as text


def test_task_from_wire_and_envelope() -> None:
    envelope = {
        "task_count": "1",
        "tasks": [
            {
                "id": "8abfa7b272adc5b40172b73130065ae7",
                "name": "bindInstancePublicIp",
                "user_name": "paas_dms",
                "user_id": "3df5acbc24a54fadb62a043c9000a307",
                "params": '{"enable_public_ip":true}',
                "status": "SUCCESS",
                "created_at": "2020-06-15T08:55:53.606Z",
                "updated_at": "2020-06-15T08:55:56.600Z",
            }
        ],
    }
    result = task_list_from_wire(envelope)
    assert result.task_count == 1
    task = result.tasks[0]
    assert task.params == {"enable_public_ip": True}
    assert task.terminal and task.succeeded
    assert task.duration_seconds() == pytest.approx(2.994)


def test_envelope_quirks() -> None:
    assert task_list_from_wire({"task_count": " 250 ", "tasks": []}).task_count == 250
    assert task_list_from_wire({"tasks": [{"id": "a"}]}).task_count == 1  # missing count: the page size
    assert task_list_from_wire({"task_count": "many", "tasks": []}).task_count == 0
    odd = Task.from_wire({"id": "x", "status": "ROLLING_BACK", "params": None, "created_at": "bad"})
    assert odd.status == "ROLLING_BACK" and not odd.terminal
    assert odd.duration_seconds() is None
    assert odd.params is None
