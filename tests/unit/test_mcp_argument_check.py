"""The tools' quick argument check never accepts what the input schema (jsonschema) refuses, and does accept the
ordinary calls, so they skip jsonschema's cost."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from vauchflow_web.mcp.tools import TOOLS, Tool, quick_check

# Values of every JSON kind, including the edges of the schemas' bounds and types.
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 100, 101, 10**20, 1.0, 1.5, "", "x", "EUR", "eur", "EURO", " EUR", "EUR\n",
    "A" * 64, "A" * 65, "A" * 128, "A" * 129, "é" * 64, "é" * 65, [], ["x"], {}, {"k": "v"}, {"k": 1},
    "2026-12-31T23:59:59Z", "next tuesday",
]  # fmt: skip


def example(schema: dict[str, Any]) -> Any:
    """A value the schema accepts: the required properties (and the optional ones) with plain values."""
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(sub) for name, sub in properties.items()}
    if kind == "string":
        if "enum" in schema:
            return schema["enum"][0]
        if "pattern" in schema:
            return "EUR"
        if schema.get("format") == "date-time":
            return "2026-12-31T23:59:59Z"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(schema.get("minimum", 1), 1) if "maximum" not in schema else schema["maximum"]
    if kind == "boolean":
        return True
    raise AssertionError(f"no example for {schema}")


def variants(tool: Tool) -> list[dict[str, Any]]:
    """The example arguments, then each property swapped for every odd value, dropped, or joined by an unknown one."""
    base = example(tool.input_schema)
    found = [base]
    for name, value in itertools.product(base, ODD_VALUES):
        found.append({**base, name: value})
    for name in base:
        found.append({key: value for key, value in base.items() if key != name})
    found.append({**base, "ammount": 5})
    if "metadata" in base:
        found.extend({**base, "metadata": {"k": value}} for value in ODD_VALUES)
    return found


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_the_quick_check_accepts_only_what_jsonschema_accepts(tool: Tool) -> None:
    check = quick_check(tool.input_schema)
    validator = jsonschema.Draft202012Validator(
        tool.input_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for arguments in variants(tool):
        if check is not None and check(arguments):
            assert validator.is_valid(arguments), (tool.name, arguments)
        # Whatever the quick check says, the tool names the same problems jsonschema finds.
        assert bool(tool.problems(arguments)) == (not validator.is_valid(arguments)), (tool.name, arguments)


def test_the_hot_tools_take_the_quick_path_for_ordinary_calls() -> None:
    by_name = {tool.name: tool for tool in TOOLS}
    for name in ("redeem_voucher", "validate_voucher", "get_voucher", "get_redemption", "list_vouchers"):
        check = quick_check(by_name[name].input_schema)
        assert check is not None, name
        assert check(example(by_name[name].input_schema)), name
    redeem = {"code": "WELCOME10", "amount": 4990, "currency": "EUR", "order_id": "o-1", "request_id": "r-1"}
    check = quick_check(by_name["redeem_voucher"].input_schema)
    assert check is not None and check(redeem)
    assert not check({**redeem, "currency": "eur"}) and not check({**redeem, "amount": True})


def test_a_keyword_it_does_not_know_leaves_the_schema_to_jsonschema() -> None:
    assert quick_check({"type": "string", "format": "date-time"}) is None
    assert quick_check({"type": "string", "enum": [1, 2]}) is None
    # In an object, only the calls that use such a property are left to jsonschema.
    check = quick_check({"type": "object", "properties": {"a": {"enum": [1, 2]}, "b": {"type": "string"}}})
    assert check is not None and check({"b": "x"}) and not check({"a": 1, "b": "x"})
    assert quick_check({"type": ["string", "null"]}) is None
