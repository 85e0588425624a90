"""CSV exports and imports as REST clients see them, through the real Envoy: `text/csv` streamed from the first
second however large, its own routes past the 1 MiB body limit and the 15 s route timeout, JSON errors."""

from __future__ import annotations

import asyncio
import csv
import http.client
import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

import vauchflow
from support.api_client import OwnerDatabase
from support.gateway import RestClient, expect_error, expect_json, new_tenant_key
from vauchflow_core import csv_format


class Download:
    """A streamed response read as it arrives: when the first bytes came, then everything."""

    def __init__(self, gateway, path: str, token: str):
        self.connection = http.client.HTTPConnection(gateway.public_url.removeprefix("http://"), timeout=120)
        started = time.perf_counter()
        self.connection.request("GET", path, headers={"authorization": f"Bearer {token}"})
        self.response = self.connection.getresponse()
        self.first = self.response.read1(65536) if self.response.status == 200 else b""
        self.first_after = time.perf_counter() - started

    def body(self) -> bytes:
        try:
            return self.first + self.response.read()
        finally:
            self.connection.close()


def upload(gateway, path: str, token: str, body: bytes | Iterable[bytes]) -> tuple[int, dict[str, Any], str]:
    """POSTs a CSV body (bytes: with a length; an iterable: chunked); returns status, JSON body, content type."""
    connection = http.client.HTTPConnection(gateway.public_url.removeprefix("http://"), timeout=300)
    try:
        headers = {"authorization": f"Bearer {token}", "content-type": "text/csv"}
        chunked = not isinstance(body, bytes)
        connection.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("content-type", "")
    finally:
        connection.close()


@pytest.fixture
def merchant(gateway, api_server) -> tuple[RestClient, str]:
    key = new_tenant_key(gateway.rest(api_server.admin_token))
    return gateway.rest(key), key


def seed_redemptions(db: OwnerDatabase, tenant_id: str, count: int) -> str:
    code = f"BULK-{uuid.uuid4().hex[:8].upper()}"
    db.fetch(
        """
        WITH v AS (
            INSERT INTO vouchers (tenant_id, id, code, percent_off, status)
            VALUES ($1, gen_random_uuid(), $2, 10, 'ACTIVE') RETURNING id
        )
        INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount,
                                 currency, discount_amount, status, create_time, metadata)
        SELECT $1, gen_random_uuid(), v.id, $2, 'customer-' || n, 'order-' || n, 1000 + n, 'EUR', 100,
               CASE WHEN n % 10 = 0 THEN 'ROLLED_BACK' ELSE 'SUCCEEDED' END,
               timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second',
               jsonb_build_object('note', repeat('x', 40))
        FROM v, generate_series(1, $3) AS n
        """,
        uuid.UUID(tenant_id),
        code,
        count,
    )
    return code


def own_tenant_id(rest: RestClient) -> str:
    return expect_json(rest.get("/v1/api-keys:current"))["api_key"]["tenant_id"]


def test_a_large_export_streams_as_csv_from_the_first_second_past_every_body_limit(gateway, merchant, api_server):
    rest, key = merchant
    seed_redemptions(OwnerDatabase(api_server.owner_dsn), own_tenant_id(rest), 120_000)
    download = Download(gateway, "/v1/redemptions:export", key)
    assert download.response.status == 200
    assert download.response.getheader("content-type") == "text/csv; charset=utf-8"
    assert download.first_after < 1.0, f"first bytes after {download.first_after:.2f} s"
    assert download.response.getheader("grpc-status") is None
    data = download.body()
    # Well past the transcoder's 8 MiB response limit and Envoy's 1 MiB buffers: nothing was held back whole.
    assert len(data) > 16 * 1024 * 1024
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert len(rows) == 120_001 and rows[0][0] == "id"
    assert [r[5] for r in rows[1:]] == [f"order-{n}" for n in range(1, 120_001)]


def test_filters_travel_as_query_parameters(gateway, merchant, api_server):
    rest, key = merchant
    code = seed_redemptions(OwnerDatabase(api_server.owner_dsn), own_tenant_id(rest), 50)
    query = urllib.parse.urlencode(
        {
            "status": "REDEMPTION_STATUS_ROLLED_BACK",
            "voucher_code": code,
            "start_time": "2026-01-01T00:00:10Z",
            "end_time": "2026-01-01T00:00:40Z",
        }
    )
    rows = list(csv.reader(io.StringIO(Download(gateway, f"/v1/redemptions:export?{query}", key).body().decode())))
    assert [r[4] for r in rows[1:]] == ["customer-10", "customer-20", "customer-30"]
    alone = Download(gateway, "/v1/redemptions:export?customer_id=customer-7", key).body().decode()
    assert [r[4] for r in csv.reader(io.StringIO(alone))][1:] == ["customer-7"]


def test_export_errors_are_json_before_any_csv(gateway, merchant):
    rest, _ = merchant
    expect_error(rest.get("/v1/redemptions:export?voucher_code=NOPE-404"), 404, "VOUCHER_NOT_FOUND")
    expect_error(gateway.rest("vf_sk_not-a-key").get("/v1/redemptions:export"), 401, "API_KEY_INVALID")


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_the_python_client_streams_an_export_through_envoys_grpc_port(gateway, merchant, api_server, tmp_path):
    rest, key = merchant
    seed_redemptions(OwnerDatabase(api_server.owner_dsn), own_tenant_id(rest), 20_000)
    with vauchflow.Client(key, target=gateway.grpc_target) as client:
        chunks = client.csv.export_redemptions(status="ROLLED_BACK")
        first = next(chunks)
        assert first.startswith(b"id,create_time,status,")
        rows = list(csv.reader(io.StringIO((first + b"".join(chunks)).decode(), newline="")))
        assert len(rows) == 2_001 and {r[2] for r in rows[1:]} == {"ROLLED_BACK"}
        written = client.csv.save(client.csv.export_redemptions(customer_id="customer-3"), tmp_path / "one.csv")
        assert written == (tmp_path / "one.csv").stat().st_size
        assert (tmp_path / "one.csv").read_text().count("customer-3") == 1
        with pytest.raises(vauchflow.NotFoundError):
            b"".join(client.csv.export_redemptions(voucher_code="NOPE-404"))

    async def export_async() -> int:
        async with vauchflow.AsyncClient(key, target=gateway.grpc_target) as client:
            return await client.csv.save(client.csv.export_redemptions(), tmp_path / "all.csv")

    assert asyncio.run(export_async()) == (tmp_path / "all.csv").stat().st_size
    assert (tmp_path / "all.csv").read_bytes().count(b"\r\n") == 20_001


def new_campaign_rest(rest: RestClient) -> str:
    body = {"name": "flyers", "discount": {"percent_off": 10}}
    return expect_json(rest.post("/v1/campaigns", body))["campaign"]["id"]


def test_a_large_import_streams_past_the_1_mib_limit_chunked_or_with_a_length(gateway, merchant):
    rest, key = merchant
    campaign = new_campaign_rest(rest)
    # ~3 MiB with a BOM and CRLF, sent chunked: three times the limit of every other REST route.
    data = b"\xef\xbb\xbfcode\r\n" + b"".join(b"CHUNKED-%07d\r\n" % n for n in range(200_000))
    status, body, content_type = upload(gateway, f"/v1/campaigns/{campaign}/codes:import", key, chunks_of(data, 65536))
    assert status == 200 and content_type.startswith("application/json"), body
    assert (body["imported_count"], body["row_count"], body["error_count"]) == ("200000", "200000", "0")
    # The same size with a Content-Length: the route's own limit, not the 1 MiB one, applies.
    data = b"".join(b"LENGTH-%07d\n" % n for n in range(150_000))
    status, body, _ = upload(gateway, f"/v1/campaigns/{campaign}/codes:import?import_valid_rows=true", key, data)
    assert status == 200 and body["imported_count"] == "150000", body
    download = Download(gateway, f"/v1/campaigns/{campaign}/codes:export", key)
    rows = list(csv.reader(io.StringIO(download.body().decode(), newline="")))
    assert len(rows) == 350_001 and rows[1][0] == "CHUNKED-0000000" and rows[-1][0] == "LENGTH-0149999"


def test_a_refused_import_is_a_json_400_naming_rows_and_imports_nothing(gateway, merchant):
    rest, key = merchant
    campaign = new_campaign_rest(rest)
    data = b"code\r\nOK-1\r\nOK-1\r\nnot ok\r\nOK-2\r\n"
    status, body, _ = upload(gateway, f"/v1/campaigns/{campaign}/codes:import", key, data)
    assert status == 400 and "2 of 4 rows refused, nothing imported" in body["message"], body
    described = [v["description"] for d in body["details"] for v in d.get("field_violations", [])]
    assert described == [
        "row 3: DUPLICATE_IN_FILE: the code appears on an earlier row of the file",
        "row 4: BAD_CHARACTERS: a code holds only letters A-Z, digits, '-' and '_'",
    ]
    assert expect_json(rest.get(f"/v1/campaigns/{campaign}"))["campaign"]["code_count"] == "0"
    status, body, _ = upload(gateway, f"/v1/campaigns/{campaign}/codes:import?import_valid_rows=true", key, data)
    assert status == 200 and body["imported_count"] == "2" and body["error_count"] == "2", body
    assert [(e["row"], e["reason"]) for e in body["errors"]] == [("3", "DUPLICATE_IN_FILE"), ("4", "BAD_CHARACTERS")]


def test_a_body_over_the_import_limit_is_refused_before_it_is_read(gateway, merchant):
    _, key = merchant
    connection = http.client.HTTPConnection(gateway.public_url.removeprefix("http://"), timeout=30)
    try:
        connection.putrequest("POST", f"/v1/campaigns/{uuid.uuid4()}/codes:import")
        connection.putheader("authorization", f"Bearer {key}")
        connection.putheader("content-type", "text/csv")
        connection.putheader("content-length", str(csv_format.MAX_IMPORT_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["details"][0]["reason"] == "REQUEST_TOO_LARGE"
    finally:
        connection.close()


def test_tenant_b_can_neither_import_into_nor_export_the_campaign_of_tenant_a(gateway, merchant, api_server):
    rest, key = merchant
    campaign = new_campaign_rest(rest)
    upload(gateway, f"/v1/campaigns/{campaign}/codes:import", key, b"A-ONLY-1\n")
    other = new_tenant_key(gateway.rest(api_server.admin_token), name="B GmbH")
    status, body, _ = upload(gateway, f"/v1/campaigns/{campaign}/codes:import", other, b"B-SNEAK-1\n")
    assert status == 404 and body["details"][0]["reason"] == "CAMPAIGN_NOT_FOUND", body
    expect_error(gateway.rest(other).get(f"/v1/campaigns/{campaign}/codes:export"), 404, "CAMPAIGN_NOT_FOUND")
    assert expect_json(rest.get(f"/v1/campaigns/{campaign}"))["campaign"]["code_count"] == "1"


def test_the_python_client_imports_a_file_through_envoy(gateway, merchant, tmp_path):
    rest, key = merchant
    campaign = new_campaign_rest(rest)
    path = tmp_path / "codes.csv"
    path.write_bytes(b"\xef\xbb\xbfcode\r\n" + b"".join(b"FILE-%06d\r\n" % n for n in range(50_000)))
    with vauchflow.Client(key, target=gateway.grpc_target) as client:
        report = client.csv.import_campaign_codes(campaign, path)
        assert (report.imported_count, report.row_count) == (50_000, 50_000)
        with pytest.raises(vauchflow.InvalidRequestError) as refused:
            client.csv.import_campaign_codes(campaign, [b"FILE-000001\n", b"NEW-1\n"])
        assert "1 of 2 rows refused" in str(refused.value)
        report = client.csv.import_campaign_codes(campaign, b"FILE-000001\nNEW-1\n", import_valid_rows=True)
        assert (report.imported_count, report.error_count, report.errors[0].reason) == (1, 1, "CODE_TAKEN")
        codes = b"".join(client.csv.export_campaign_codes(campaign)).decode().splitlines()
        assert len(codes) == 50_002 and codes[-1].startswith("NEW-1,ACTIVE,0,1,")

    async def import_async() -> int:
        async def chunks():
            yield b"ASYNC-1\n"
            yield b"ASYNC-2\n"

        async with vauchflow.AsyncClient(key, target=gateway.grpc_target) as client:
            return (await client.csv.import_campaign_codes(campaign, chunks())).imported_count

    assert asyncio.run(import_async()) == 2
