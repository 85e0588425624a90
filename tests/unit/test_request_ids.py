"""request_ids: which client-sent x-request-id values are kept, and a fresh id for every other case."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from vauchflow_core.logs import JsonFormatter
from vauchflow_core.rpc import request_ids


@pytest.mark.parametrize("value", ["a", "Z9", "checkout-7f3a:order.4711_x", "A" * request_ids.MAX_LENGTH])
def test_acceptable_ids_are_kept(value):
    assert request_ids.from_metadata([("authorization", "Bearer x"), ("x-request-id", value)]) == value


@pytest.mark.parametrize(
    "value",
    ["", "-leading-dash", ".dot", "A" * (request_ids.MAX_LENGTH + 1), "a b", "a\nb", "a;b", "<x>", "ü", "a\x00"],
)
def test_other_ids_are_replaced_by_a_new_uuid(value):
    replaced = request_ids.from_metadata([("x-request-id", value)])
    assert replaced != value and uuid.UUID(replaced)


def test_no_id_gets_a_new_one_each_time():
    first, second = request_ids.from_metadata([]), request_ids.from_metadata([])
    assert first != second and request_ids.is_acceptable(first)


def test_binary_metadata_is_never_an_id():
    assert request_ids.from_metadata([("x-request-id", b"abc")]) != "abc"


def test_log_records_carry_the_current_request_id():
    record = logging.LogRecord("vauchflow_server.x", logging.INFO, __file__, 1, "rpc refused", None, None)
    assert "request_id" not in json.loads(JsonFormatter().format(record))
    token = request_ids.current_request_id.set("req-7")
    try:
        assert json.loads(JsonFormatter().format(record))["request_id"] == "req-7"
    finally:
        request_ids.current_request_id.reset(token)
