"""Flash-sale rules that need no Redis: the voucher rule, and the key layout the scripts and reconciliation share."""

from __future__ import annotations

import uuid

import pytest

from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.redemption.flash_sale_gate import VoucherKey
from vauchflow_server.vouchers import VoucherTerms, check_terms


def test_a_flash_sale_needs_a_stock() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check(VoucherTerms(percent_off=10, flash_sale=True))
    assert "voucher.flash_sale" in {v.field for v in refused.value.violations}
    check(VoucherTerms(percent_off=10, flash_sale=True, max_redemptions=100))


def check(terms: VoucherTerms) -> None:
    violations = Violations()
    check_terms(terms, violations)
    violations.raise_if_any()


def test_keys_share_one_cluster_slot_per_voucher_and_parse_back() -> None:
    tenant = uuid.uuid4()
    key = VoucherKey(tenant, "SUMMER-2026")
    assert key.stock == f"vf:{{{tenant}:SUMMER-2026}}:stock"
    assert key.leases == f"vf:{{{tenant}:SUMMER-2026}}:leases"
    # Redis Cluster hashes only the part in braces: both keys land in the same slot.
    assert key.stock.split("{")[1].split("}")[0] == key.leases.split("{")[1].split("}")[0]
    assert VoucherKey.parse(key.stock) == key
    assert VoucherKey.parse(key.leases) is None
    assert VoucherKey.parse("vf:{not-a-tenant:X}:stock") is None
