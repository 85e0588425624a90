"""Read-your-writes positions: what a client may send, which RPCs answer with one, and how the SDK keeps the
highest it has seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from vauchflow._transport import CommitPositions
from vauchflow_core.commit_positions import COMMIT_POSITION_HEADER, is_read_only, parse_position
from vauchflow_devstack.config import ConfigError, DevstackConfig


@pytest.mark.parametrize("text", ["0", "50465592", str(2**63 - 1)])
def test_a_decimal_position_parses(text: str) -> None:
    assert parse_position(text) == int(text)


@pytest.mark.parametrize("text", ["", "0/16B3748", "-1", "1.5", " 12", str(2**63), "1" * 21, "١٢"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="decimal WAL position"):
        parse_position(text)


@pytest.mark.parametrize(
    ("method", "read_only"),
    [
        ("/vauchflow.v1.VoucherService/ListVouchers", True),
        ("/vauchflow.v1.VoucherService/GetVoucher", True),
        ("/vauchflow.v1.RedemptionService/ValidateVoucher", True),
        ("/vauchflow.v1.HealthService/Check", True),
        ("/vauchflow.v1.VoucherService/CreateVoucher", False),
        ("/vauchflow.v1.RedemptionService/RedeemVoucher", False),
        ("/vauchflow.v1.RedemptionService/RollbackRedemption", False),
        ("/vauchflow.v1.WebhookService/Recover", False),
        ("/vauchflow.v1.WebhookService/RedeliverEvent", False),
        ("/vauchflow.v1.TenantService/UpdateTenant", False),
    ],
)
def test_writes_are_every_rpc_but_the_reading_verbs(method: str, read_only: bool) -> None:
    assert is_read_only(method) is read_only


def test_the_sdk_keeps_the_highest_position_it_was_answered_with() -> None:
    positions = CommitPositions()
    assert positions.highest is None
    positions.observe(((COMMIT_POSITION_HEADER, "200"), ("other", "999")))
    positions.observe(((COMMIT_POSITION_HEADER, "150"),))  # a slower, older write answering late
    positions.observe(((COMMIT_POSITION_HEADER, "not-a-number"),))
    positions.observe(None)
    assert positions.highest == 200
    assert CommitPositions(7).highest == 7


def test_the_dev_stack_replica_port_is_listened_on_only_when_asked_for(tmp_path: Path) -> None:
    off = DevstackConfig.from_env({}, tmp_path)
    assert off.postgres_replica_port is None
    on = DevstackConfig.from_env({"VAUCHFLOW_DEV_PG_REPLICA": "1"}, tmp_path)
    assert ("VAUCHFLOW_PG_REPLICA_PORT", 54330) in on.listening_ports()
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL needs DATABASE_URL"):
        DevstackConfig.from_env({"DATABASE_REPLICA_URL": "postgresql://o@db-replica/v"}, tmp_path)
