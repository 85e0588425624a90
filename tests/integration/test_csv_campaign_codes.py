"""Importing existing codes into a campaign (client-streaming gRPC) and exporting a campaign's codes (server
streaming), against the real server and PostgreSQL: per-row errors, all-or-nothing, BOM/CRLF, the plan quota,
tenant isolation, and the codes redeeming with the campaign's terms."""

from __future__ import annotations

import csv
import io
import json
import random
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.api_client import (
    BoundStub,
    TenantClient,
    assert_error,
    expect_rpc_error,
    unique_code,
)
from support.metrics import sample, scrape
from support.polling import wait_for
from vauchflow.v1 import (
    campaign_pb2,
    campaign_service_pb2,
    campaign_service_pb2_grpc,
    data_exchange_service_pb2_grpc,
    tenant_pb2,
    voucher_pb2,
    voucher_service_pb2,
)
from vauchflow.v1 import data_exchange_service_pb2 as pb


def exchange(tenant: TenantClient, secret: str | None = None) -> Any:
    return BoundStub(data_exchange_service_pb2_grpc.DataExchangeServiceStub(tenant.channel), secret or tenant.secret)


def new_campaign(tenant: TenantClient, **fields: Any) -> campaign_pb2.Campaign:
    stub = BoundStub(campaign_service_pb2_grpc.CampaignServiceStub(tenant.channel), tenant.secret)
    campaign = campaign_pb2.Campaign(
        name=f"import {uuid.uuid4().hex[:6]}", discount=voucher_pb2.Discount(percent_off=15), **fields
    )
    return stub.CreateCampaign(campaign_service_pb2.CreateCampaignRequest(campaign=campaign)).campaign


def requests(campaign_id: str, data: bytes, chunk: int = 5, import_valid_rows: bool = False) -> Iterator[Any]:
    yield pb.ImportCampaignCodesRequest(campaign_id=campaign_id, import_valid_rows=import_valid_rows)
    for start in range(0, len(data), chunk):
        yield pb.ImportCampaignCodesRequest(
            csv=httpbody_pb2.HttpBody(content_type="text/csv", data=data[start : start + chunk])
        )


def import_codes(tenant: TenantClient, campaign_id: str, data: bytes, **options: Any) -> pb.ImportCampaignCodesResponse:
    return exchange(tenant).ImportCampaignCodes(requests(campaign_id, data, **options))


def exported_codes(tenant: TenantClient, campaign_id: str, secret: str | None = None) -> list[dict[str, str]]:
    bodies = exchange(tenant, secret).ExportCampaignCodes(pb.ExportCampaignCodesRequest(campaign_id=campaign_id))
    rows = list(csv.reader(io.StringIO(b"".join(b.data for b in bodies).decode(), newline="")))
    assert rows[0] == ["code", "status", "redemption_count", "max_redemptions", "create_time"]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def codes_of(db, tenant: TenantClient, campaign_id: str) -> list[str]:
    rows = db.fetch(
        "SELECT code FROM vouchers WHERE tenant_id = $1 AND campaign_id = $2 ORDER BY code",
        uuid.UUID(tenant.id),
        uuid.UUID(campaign_id),
    )
    return [r["code"] for r in rows]


def violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [f"{v.field} {v.description}" for v in bad.field_violations]
    return found


def lines(*rows: str, end: str = "\r\n") -> bytes:
    return "".join(row + end for row in rows).encode()


def test_a_file_with_bom_and_crlf_imports_its_codes_with_the_campaigns_terms(api, db):
    tenant = api.new_tenant()
    campaign = new_campaign(tenant, code_redemption_limit=2)
    data = b"\xef\xbb\xbf" + lines("Code", "flyer-0001", "FLYER-0002", "", "  flyer-0003  ")
    report = import_codes(tenant, campaign.id, data, chunk=3)
    assert (report.imported_count, report.row_count, report.error_count) == (3, 3, 0)
    assert codes_of(db, tenant, campaign.id) == ["FLYER-0001", "FLYER-0002", "FLYER-0003"]
    voucher = tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code="FLYER-0002")).voucher
    assert voucher.campaign_id == campaign.id and voucher.discount.percent_off == 15 and voucher.max_redemptions == 2
    tenant.redeem("flyer-0002")
    exported = exported_codes(tenant, campaign.id)
    assert [(r["code"], r["status"], r["redemption_count"], r["max_redemptions"]) for r in exported] == [
        ("FLYER-0001", "ACTIVE", "0", "2"),
        ("FLYER-0002", "ACTIVE", "1", "2"),
        ("FLYER-0003", "ACTIVE", "0", "2"),
    ]


def test_one_bad_row_and_nothing_is_imported_with_every_reason_by_row(api, db):
    tenant = api.new_tenant()
    taken = tenant.create_voucher().code
    campaign = new_campaign(tenant)
    data = lines("code", "GOOD-1", "GOOD-2", "good-1", taken, "bad code!", "X" * 65, ",", "GOOD-3", end="\n")
    error = expect_rpc_error(lambda: import_codes(tenant, campaign.id, data))
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
    assert "5 of 8 rows refused, nothing imported" in error.details()
    assert violations(error) == [
        "csv row 4: DUPLICATE_IN_FILE: the code appears on an earlier row of the file",
        "csv row 5: CODE_TAKEN: the tenant already has a voucher with this code",
        "csv row 6: BAD_CHARACTERS: a code holds only letters A-Z, digits, '-' and '_'",
        "csv row 7: TOO_LONG: a code has at most 64 characters",
        "csv row 8: EMPTY: the code cell is empty",
    ]
    assert codes_of(db, tenant, campaign.id) == []
    assert "campaign.codes_imported" not in db.event_types(tenant.id)

    report = import_codes(tenant, campaign.id, data, import_valid_rows=True)
    assert (report.imported_count, report.row_count, report.error_count) == (3, 8, 5)
    assert [(e.row, e.reason) for e in report.errors] == [
        (4, "DUPLICATE_IN_FILE"),
        (5, "CODE_TAKEN"),
        (6, "BAD_CHARACTERS"),
        (7, "TOO_LONG"),
        (8, "EMPTY"),
    ]
    assert codes_of(db, tenant, campaign.id) == ["GOOD-1", "GOOD-2", "GOOD-3"]
    # One event for the import (in its transaction), not one per code.
    (payload,) = [
        r["payload"]
        for r in db.fetch(
            "SELECT payload FROM outbox_events WHERE tenant_id = $1 AND type = 'campaign.codes_imported'",
            uuid.UUID(tenant.id),
        )
    ]
    assert json.loads(payload)["data"] == {
        "campaign_id": campaign.id,
        "imported_count": 3,
        "row_count": 8,
        "refused_row_count": 5,
    }


def test_an_exported_file_imports_back_and_formula_cells_round_trip(api, db):
    tenant = api.new_tenant()
    source = new_campaign(tenant)
    import_codes(tenant, source.id, lines("-LEADING-DASH", "PLAIN"))
    exported = b"".join(
        b.data for b in exchange(tenant).ExportCampaignCodes(pb.ExportCampaignCodesRequest(campaign_id=source.id))
    )
    assert b"'-LEADING-DASH" in exported  # neutralised for spreadsheets
    db.fetch(
        "DELETE FROM vouchers WHERE tenant_id = $1 AND campaign_id = $2", uuid.UUID(tenant.id), uuid.UUID(source.id)
    )
    target = new_campaign(tenant)
    report = import_codes(tenant, target.id, exported, chunk=4096)
    assert report.imported_count == 2
    assert codes_of(db, tenant, target.id) == ["-LEADING-DASH", "PLAIN"]


def test_the_plan_quota_counts_imported_codes(api, db):
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)  # 100 vouchers
    campaign = new_campaign(tenant)
    error = expect_rpc_error(lambda: import_codes(tenant, campaign.id, lines(*(f"Q-{n}" for n in range(101)))))
    assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    assert codes_of(db, tenant, campaign.id) == []
    assert import_codes(tenant, campaign.id, lines(*(f"Q-{n}" for n in range(100)))).imported_count == 100


def test_another_tenant_can_neither_import_into_nor_export_a_campaign(api, db):
    owner = api.new_tenant()
    campaign = new_campaign(owner)
    import_codes(owner, campaign.id, lines("MINE-1"))
    stranger = api.new_tenant()
    error = expect_rpc_error(lambda: import_codes(stranger, campaign.id, lines("THEIRS-1")))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND")
    error = expect_rpc_error(lambda: exported_codes(stranger, campaign.id))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND")
    assert codes_of(db, owner, campaign.id) == ["MINE-1"]
    assert db.fetchval("SELECT count(*) FROM vouchers WHERE code = 'THEIRS-1'") == 0


def test_import_and_export_need_their_permissions(api):
    tenant = api.new_tenant()
    campaign = new_campaign(tenant)
    _, reader = tenant.create_key(["vouchers:read"])
    error = expect_rpc_error(lambda: exchange(tenant, reader).ImportCampaignCodes(requests(campaign.id, lines("P-1"))))
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    assert exported_codes(tenant, campaign.id, reader) == []
    _, redeemer = tenant.create_key(["redemptions:read"])
    error = expect_rpc_error(lambda: exported_codes(tenant, campaign.id, redeemer))
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "campaign_id"),
        ([pb.ImportCampaignCodesRequest(csv=httpbody_pb2.HttpBody(data=b"A\n"))], "campaign_id"),
    ],
)
def test_an_import_without_a_campaign_is_invalid(api, messages: Iterable[Any], field: str):
    tenant = api.new_tenant()
    error = expect_rpc_error(lambda: exchange(tenant).ImportCampaignCodes(iter(messages)))
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
    assert violations(error) == [f"{field} is required"]


def _imports_in_progress(metrics_port: int, phase: str) -> float:
    return sample(scrape(metrics_port), "vauchflow_code_imports_in_progress", phase=phase)


def _app_transactions(db) -> int:
    """The API server's open transactions in its database (the owner's connection runs none)."""
    return db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'vauchflow_app' "
        "AND xact_start IS NOT NULL"
    )


def test_a_stalled_upload_holds_no_database_connection_until_it_is_complete(api, api_server, db):
    """An upload's rows wait in a spooled file: a client that stalls halfway holds no transaction (a slow client
    can't pin the connection pool), and the import completes once the rest of the file arrives."""
    tenant = api.new_tenant()
    campaign = new_campaign(tenant)
    first, rest = lines("code", "STALL-0001", "STALL-0002"), lines("STALL-0003")
    resume = threading.Event()

    def stalling() -> Iterator[Any]:
        yield pb.ImportCampaignCodesRequest(campaign_id=campaign.id)
        yield pb.ImportCampaignCodesRequest(csv=httpbody_pb2.HttpBody(content_type="text/csv", data=first))
        resume.wait(timeout=60)
        yield pb.ImportCampaignCodesRequest(csv=httpbody_pb2.HttpBody(content_type="text/csv", data=rest))

    stub = data_exchange_service_pb2_grpc.DataExchangeServiceStub(tenant.channel)
    call = stub.ImportCampaignCodes.future(stalling(), metadata=(("authorization", f"Bearer {tenant.secret}"),),
                                           timeout=60)  # fmt: skip
    try:
        wait_for(lambda: _imports_in_progress(api_server.metrics_port, "upload") == 1, what="the upload", timeout=30)
        wait_for(lambda: _app_transactions(db) == 0, what="no transaction during the upload", timeout=30)
        assert _imports_in_progress(api_server.metrics_port, "upload") == 1  # still stalled, still uploading
    finally:
        resume.set()
    report = call.result()
    assert (report.imported_count, report.row_count) == (3, 3)
    assert codes_of(db, tenant, campaign.id) == ["STALL-0001", "STALL-0002", "STALL-0003"]
    assert _imports_in_progress(api_server.metrics_port, "upload") == 0
    assert _imports_in_progress(api_server.metrics_port, "transaction") == 0


def test_an_unknown_campaign_is_not_found(api):
    tenant = api.new_tenant()
    error = expect_rpc_error(lambda: import_codes(tenant, str(uuid.uuid4()), lines(unique_code())))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND")
    error = expect_rpc_error(lambda: import_codes(tenant, "not-a-uuid", lines(unique_code())))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND")


def test_hostile_uploads_are_refused_with_reasons_never_a_server_error(api, db):
    tenant = api.new_tenant()
    campaign = new_campaign(tenant)
    rng = random.Random(17)
    garbage = bytes(rng.randrange(256) for _ in range(200_000))
    report = import_codes(tenant, campaign.id, garbage, chunk=8192, import_valid_rows=True)
    assert report.error_count > 0 and report.imported_count == len(codes_of(db, tenant, campaign.id))
    for data, expected in (
        (b"A" * 100_000, "longer than 65536 characters"),
        (b'"' + b"x" * 70_000, "longer than 65536 characters"),
    ):
        error = expect_rpc_error(lambda data=data: import_codes(tenant, campaign.id, data, chunk=8192))
        assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
        assert expected in error.details()
    error = expect_rpc_error(lambda: import_codes(tenant, "a\0b", b"A\n"))
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
    error = expect_rpc_error(
        lambda: list(exchange(tenant).ExportRedemptions(pb.ExportRedemptionsRequest(customer_id="x\0y")))
    )
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
    error = expect_rpc_error(
        lambda: list(exchange(tenant).ExportRedemptions(pb.ExportRedemptionsRequest(voucher_code="V" * 10_000)))
    )
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
