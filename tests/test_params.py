"""params: the JSON-in-a-string field, decoded the way a model can read it."""

from __future__ import annotations

import json

import pytest

from bgtask_mcp.dms.wire import WireInstance, WireProgress, WireTask, WireTaskList
from bgtask_mcp.models import epoch_ms_to_iso, instance_from_wire, progress_from_wire, task_from_wire
from bgtask_mcp.params import decode_params


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


def test_deep_nesting_does_not_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert decode_params(deep) == deep  # too deep for the JSON decoder: kept as text


def test_numbers_a_double_cannot_hold_stay_text() -> None:
    assert decode_params('{"a": 1e400, "b": -1e999, "c": 1.5}') == {"a": "1e400", "b": "-1e999", "c": 1.5}
    huge = "9" * 5000  # beyond Python's own limit on int() of a decimal string
    assert decode_params(f'{{"n": {huge}}}') == {"n": huge}


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
    wire = WireTaskList.from_json(envelope)
    assert wire.task_count == 1 and wire.tasks[0].params == '{"enable_public_ip":true}'  # the wire keeps the string
    task = task_from_wire(wire.tasks[0])
    assert task.params == {"enable_public_ip": True}
    assert task.terminal and task.succeeded
    assert task.duration_seconds() == pytest.approx(2.994)


def test_envelope_quirks() -> None:
    assert WireTaskList.from_json({"task_count": " 250 ", "tasks": []}).task_count == 250
    assert WireTaskList.from_json({"tasks": [{"id": "a"}]}).task_count == 1  # missing count: the page size
    assert WireTaskList.from_json({"task_count": "many", "tasks": []}).task_count == 0
    assert WireTaskList.from_json({"tasks": "not a list"}).tasks == ()
    odd = task_from_wire(WireTask.from_json({"id": "x", "status": "ROLLING_BACK", "params": None, "created_at": "bad"}))
    assert odd.status == "ROLLING_BACK" and not odd.terminal
    assert odd.duration_seconds() is None
    assert odd.params is None
    assert WireTask.from_json({"params": {"a": 1}}).params == "{'a': 1}"  # a non-string is kept as its text


def test_instances_from_the_wire() -> None:
    raw = {
        "instance_id": "8F7E6D5C-4B3A-4A29-98F7-7D6C5B4A3928",
        "name": "prod-events",
        "engine": "reliability",
        "engine_version": "4.8.0",
        "status": "RUNNING",
        "type": "cluster",
        "specification": "c6.4u8g",
        "created_at": "1585618587087",
        "connect_address": "192.168.0.1",
        "kafka_manager_password": "x",
    }
    instance = instance_from_wire(WireInstance.from_json(raw), "eu-nl", "f" * 32, "rocketmq")
    shown = instance.model_dump()
    assert shown == {
        "instance_id": "8f7e6d5c-4b3a-4a29-98f7-7d6c5b4a3928",
        "name": "prod-events",
        "engine": "rocketmq",
        "engine_version": "4.8.0",
        "status": "RUNNING",
        "type": "cluster",
        "specification": "c6.4u8g",
        "created_at": "2020-03-31T01:36:27.087Z",
        "region": "eu-nl",
        "project_id": "f" * 32,
        "current_task": None,
    }


def test_an_instance_record_names_its_running_task() -> None:
    raw = {"instance_id": "8f7e6d5c-4b3a-4a29-98f7-7d6c5b4a3928", "name": "prod-events", "created_at": "1585618587087"}
    epoch = {**raw, "task": {"name": "updateTopicPolicies", "status": "EXECUTING", "created_at": "1585618587087"}}
    iso = {**raw, "task": {"name": "kafkaConfigModify", "status": "CREATED", "created_at": "2020-03-31T01:36:27.087Z"}}
    for record, name in ((epoch, "updateTopicPolicies"), (iso, "kafkaConfigModify")):
        current = instance_from_wire(WireInstance.from_json(record), "eu-nl", "f" * 32, "kafka").current_task
        assert current is not None and current.name == name and current.started_at == "2020-03-31T01:36:27.087Z"
    for empty in ({}, {"name": ""}, "not an object", None):
        assert WireInstance.from_json({**raw, "task": empty}).task is None


def test_scheduled_tasks_count_as_a_number_or_a_string() -> None:
    job = {"id": "a" * 32, "name": "restartInstance", "status": "CANCELLED", "schedule_at": "2026-12-05T01:00:00.000Z"}
    for count in (2, "2", " 2 "):
        listed = WireTaskList.from_scheduled({"job_count": count, "jobs": [job, job]})
        assert listed.task_count == 2 and listed.tasks[0].schedule_at == "2026-12-05T01:00:00.000Z"
    assert task_from_wire(listed.tasks[0]).schedule_at == "2026-12-05T01:00:00.000Z"
    assert task_from_wire(WireTask.from_json({"id": "b" * 32})).schedule_at is None


@pytest.mark.parametrize("value", ["", "soon", "99999999999999999999999", "-1e3"])
def test_creation_times_that_are_not_epoch_milliseconds_are_null(value: str) -> None:
    assert epoch_ms_to_iso(value) is None


def test_progress_percentage_is_clamped_or_unknown() -> None:
    assert WireProgress.from_json({"progress_percentage": "63"}).percentage == 63
    assert WireProgress.from_json({"progress_percentage": 140}).percentage == 100
    assert WireProgress.from_json({"progress_percentage": None}).percentage is None
    assert WireProgress.from_json({}).percentage is None


def test_progress_steps_read_the_apis_spelling_and_epoch_milliseconds() -> None:
    raw = {
        "progress_percentage": 50,
        "remain_time": "120",
        "step_list": [
            {"name": "pre_check", "statue": "COMPLETED", "start_time": 1585618587087, "end_time": 1585618590087},
            {"name": "broker_expansion", "statue": "IN_PROGRESS", "start_time": 1585618590087, "end_time": 0},
            {"name": "post_check", "statue": "WAITING", "start_time": 0, "end_time": None},
            "not a step",
        ],
    }
    progress = progress_from_wire(WireProgress.from_json(raw))
    assert progress.remain_seconds == 120
    assert [(s.name, s.status, s.started_at, s.ended_at) for s in progress.steps] == [
        ("pre_check", "COMPLETED", "2020-03-31T01:36:27.087Z", "2020-03-31T01:36:30.087Z"),
        ("broker_expansion", "IN_PROGRESS", "2020-03-31T01:36:30.087Z", None),
        ("post_check", "WAITING", None, None),
    ]
    current = progress.current_step()
    assert current is not None and current.name == "broker_expansion"


def test_trace_fields_are_read_in_every_form_they_drift_into() -> None:
    from bgtask_mcp.dms.wire import WireTrace, WireTracePage

    user = {"name": "ops-alice", "domain": {"name": "d"}}
    as_objects = WireTrace.from_json({"trace_id": "t1", "trace_name": "extendDMSInstanceSuccess", "code": 200,
                                      "request": {"new_broker_num": 5}, "response": {"job_id": "A" * 32},
                                      "user": user, "time": 1585618587087})  # fmt: skip
    assert as_objects.code == "200" and as_objects.user == "ops-alice" and as_objects.time_ms == 1585618587087
    assert json.loads(as_objects.request or "") == {"new_broker_num": 5}
    assert json.loads(as_objects.response or "") == {"job_id": "A" * 32}
    as_text = WireTrace.from_json({"trace_id": "t2", "code": "403", "request": '{"a": 1}', "user": None,
                                   "source_ip": None, "time": "1585618587087"})  # fmt: skip
    assert as_text.code == "403" and as_text.request == '{"a": 1}' and as_text.user is None
    assert as_text.source_ip is None and as_text.time_ms == 1585618587087
    page = WireTracePage.from_json({"traces": [{"trace_id": "t3"}, "noise"], "meta_data": {"count": 1, "marker": None}})
    assert [t.trace_id for t in page.traces] == ["t3"] and page.marker is None
