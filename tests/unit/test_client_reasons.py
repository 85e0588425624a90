"""The ErrorReason enum is the contract between server and client: every reason the server emits is in it, and
the client has a class for every value, so neither side can drift."""

from __future__ import annotations

import ast
from pathlib import Path

import vauchflow
from vauchflow import _errors
from vauchflow.v1 import error_reason_pb2

SERVER = Path(__file__).resolve().parents[2] / "server"
PREFIX = "ERROR_REASON_"


def _enum_reasons() -> set[str]:
    return {name.removeprefix(PREFIX) for name in error_reason_pb2.ErrorReason.keys()}  # noqa: SIM118 - an EnumTypeWrapper, not a dict - {"UNSPECIFIED"}


def test_every_reason_has_a_client_class() -> None:
    values = set(error_reason_pb2.ErrorReason.values()) - {error_reason_pb2.ERROR_REASON_UNSPECIFIED}
    missing = sorted(error_reason_pb2.ErrorReason.Name(v) for v in values - set(_errors.REASON_CLASSES))
    assert not missing, f"ErrorReason values without a client class in vauchflow._errors.REASON_CLASSES: {missing}"
    assert error_reason_pb2.ERROR_REASON_UNSPECIFIED not in _errors.REASON_CLASSES


def test_every_refusal_reason_has_a_refusal_class_of_its_own() -> None:
    refusals = {
        reason: cls for reason, cls in _errors.REASON_CLASSES.items() if issubclass(cls, vauchflow.RedemptionRefused)
    }
    assert len(set(refusals.values())) == len(refusals) == 10
    for reason, cls in refusals.items():
        # VoucherExhausted <-> VOUCHER_EXHAUSTED: the class says the reason.
        name = error_reason_pb2.ErrorReason.Name(reason).removeprefix(PREFIX)
        assert "".join(part.title() for part in name.split("_")) == cls.__name__


def _server_reasons() -> set[str]:
    """Every reason string server/ passes as `reason=` or sets as a class's `reason`, and the UPPER_SNAKE_CASE
    denial constants of errors.py. DomainError's own placeholder ("UNKNOWN") is never emitted: every error
    raised is a subclass or names its reason."""
    reasons: set[str] = set()
    for path in SERVER.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "reason" and isinstance(node.value, ast.Constant):
                reasons.add(node.value.value)
            elif isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (
                        isinstance(statement, ast.AnnAssign | ast.Assign)
                        and "reason" in {t.id for t in _targets(statement) if isinstance(t, ast.Name)}
                        and isinstance(statement.value, ast.Constant)
                        and node.name != "DomainError"
                    ):
                        reasons.add(statement.value.value)
        if path.name == "errors.py":
            for statement in tree.body:
                if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
                    name = statement.targets[0]
                    if isinstance(name, ast.Name) and name.id == statement.value.value:
                        reasons.add(statement.value.value)
    return {r for r in reasons if isinstance(r, str) and r.isupper()}


def _targets(statement: ast.AnnAssign | ast.Assign) -> list[ast.expr]:
    return [statement.target] if isinstance(statement, ast.AnnAssign) else list(statement.targets)


def test_every_reason_the_server_emits_is_in_the_enum() -> None:
    emitted = _server_reasons()
    assert {"VOUCHER_EXHAUSTED", "VOUCHER_NOT_FOUND", "RATE_LIMITED", "INTERNAL"} <= emitted  # the scan works
    assert not emitted - _enum_reasons(), f"add to protos/vauchflow/v1/error_reason.proto: {emitted - _enum_reasons()}"
