"""The Python client (`import vauchflow`) against the real stack: the API server behind the real Envoy, every
resource, typed refusals and errors, pagination, and retries that are safe (a redeem whose response was lost is
retried with the same request_id and lands once), and TLS with private root certificates."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import vauchflow
from support.api_client import OwnerDatabase, unique_code
from support.fault_injection import FlakyGrpcProxy
from support.gateway import Gateway
from support.services import ApiServer
from vauchflow.v1 import redemption_pb2, redemption_service_pb2, voucher_pb2, voucher_service_pb2

REDEEM = "/vauchflow.v1.RedemptionService/RedeemVoucher"
ROLLBACK = "/vauchflow.v1.RedemptionService/RollbackRedemption"


@pytest.fixture(scope="module")
def operator(api_server: ApiServer, gateway: Gateway) -> Iterator[vauchflow.OperatorClient]:
    with vauchflow.OperatorClient(api_server.admin_token, target=gateway.grpc_target) as client:
        yield client


def new_tenant(
    operator: vauchflow.OperatorClient, target: str, plan: str = "SCALE", **options: float
) -> vauchflow.Client:
    created = operator.tenants.create(f"client test {uuid.uuid4().hex[:8]}", plan=plan)
    return vauchflow.Client(created.secret, target=target, **options)  # type: ignore[arg-type]


@pytest.fixture
def client(operator: vauchflow.OperatorClient, gateway: Gateway) -> Iterator[vauchflow.Client]:
    with new_tenant(operator, gateway.grpc_target) as tenant_client:
        yield tenant_client


def test_getting_started_flow_with_a_typed_refusal(client: vauchflow.Client) -> None:
    code = unique_code("WELCOME")
    voucher = client.vouchers.create(
        code, percent_off=10, currency="EUR", min_order_amount=2000, max_redemptions=100, per_customer_limit=1
    )
    assert (voucher.code, voucher.discount.percent_off, voucher.status) == (code, 10, voucher_pb2.VOUCHER_STATUS_ACTIVE)
    check = client.redemptions.validate(code, customer_id="cus_42", amount=5000, currency="EUR")
    assert (check.valid, check.reason, check.discount_amount) == (True, "", 500)

    redeemed = client.redemptions.redeem(code, customer_id="cus_42", amount=5000, currency="EUR", order_id="o-1")
    assert redeemed.voucher.redemption_count == 1
    assert redeemed.redemption.order.id == "o-1"
    with pytest.raises(vauchflow.CustomerLimitReached) as refused:
        client.redemptions.redeem(code, customer_id="cus_42", amount=5000, currency="EUR")
    assert isinstance(refused.value, vauchflow.RedemptionRefused)
    assert (refused.value.reason, refused.value.grpc_code, refused.value.http_status) == (
        "CUSTOMER_LIMIT_REACHED",
        grpc.StatusCode.FAILED_PRECONDITION,
        400,
    )
    assert refused.value.error_reason == vauchflow.ErrorReason.ERROR_REASON_CUSTOMER_LIMIT_REACHED
    assert refused.value.request_id  # what a merchant quotes to support

    rolled_back = client.redemptions.rollback(redeemed.redemption.id, reason="order cancelled")
    assert rolled_back.status == redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK
    with pytest.raises(vauchflow.RedemptionAlreadyRolledBack):
        client.redemptions.rollback(redeemed.redemption.id)
    assert client.redemptions.get(redeemed.redemption.id).rollback_reason == "order cancelled"
    assert [r.id for r in client.redemptions.list(voucher_code=code)] == [redeemed.redemption.id]


def test_each_refusal_reason_raises_its_own_class(client: vauchflow.Client) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[type[vauchflow.RedemptionRefused], str, dict[str, object], dict[str, object]]] = [
        (vauchflow.VoucherExhausted, "VOUCHER_EXHAUSTED", {"max_redemptions": 1}, {}),
        (vauchflow.VoucherExpired, "VOUCHER_EXPIRED", {"valid_until": now - timedelta(days=1)}, {}),
        (vauchflow.VoucherNotYetValid, "VOUCHER_NOT_YET_VALID", {"valid_from": now + timedelta(days=1)}, {}),
        (vauchflow.OrderBelowMinimum, "ORDER_BELOW_MINIMUM", {"currency": "EUR", "min_order_amount": 10_000}, {}),
        (vauchflow.CurrencyMismatch, "CURRENCY_MISMATCH", {"currency": "EUR"}, {"currency": "USD"}),
    ]
    for expected, reason, voucher_fields, order_fields in cases:
        if "valid_until" in voucher_fields:
            voucher_fields["valid_from"] = now - timedelta(days=2)
        code = client.vouchers.create(percent_off=5, **voucher_fields).code  # type: ignore[arg-type]
        if expected is vauchflow.VoucherExhausted:
            client.redemptions.redeem(code, amount=5000, currency="EUR")
        order = {"amount": 5000, "currency": "EUR", **order_fields}
        with pytest.raises(expected) as refused:
            client.redemptions.redeem(code, **order)  # type: ignore[arg-type]
        assert (refused.value.reason, type(refused.value)) == (reason, expected)
        check = client.redemptions.validate(code, **order)  # type: ignore[arg-type]
        assert (check.valid, check.reason) == (False, reason)

    disabled = client.vouchers.create(percent_off=5)
    assert client.vouchers.disable(disabled.code).status == voucher_pb2.VOUCHER_STATUS_DISABLED
    with pytest.raises(vauchflow.VoucherDisabled):
        client.redemptions.redeem(disabled.code, amount=100, currency="EUR")


def test_errors_carry_reason_code_status_and_details(client: vauchflow.Client, gateway: Gateway) -> None:
    with pytest.raises(vauchflow.NotFoundError) as missing:
        client.vouchers.get("NOPE-" + uuid.uuid4().hex[:8].upper())
    assert (missing.value.reason, missing.value.grpc_code, missing.value.http_status) == (
        "VOUCHER_NOT_FOUND",
        grpc.StatusCode.NOT_FOUND,
        404,
    )

    with pytest.raises(vauchflow.InvalidRequestError) as invalid:
        client.vouchers.create("lower case is not a code", percent_off=500)
    fields = {violation.field for violation in invalid.value.field_violations}
    assert {"voucher.code", "voucher.discount.percent_off"} <= fields, invalid.value.field_violations

    code = client.vouchers.create(percent_off=5).code
    with pytest.raises(vauchflow.VoucherCodeTaken):
        client.vouchers.create(code, percent_off=5)
    client.vouchers.create(percent_off=5, request_id="same-key")
    with pytest.raises(vauchflow.IdempotencyKeyReused):
        client.vouchers.create(percent_off=50, request_id="same-key")

    created = client.api_keys.create("read only", permissions=["vouchers:read"])
    with vauchflow.Client(created.secret, target=gateway.grpc_target) as reader:
        assert reader.vouchers.get(code).code == code
        with pytest.raises(vauchflow.PermissionDeniedError) as denied:
            reader.vouchers.create(percent_off=5)
        assert denied.value.metadata["permission"] == "vouchers:write"
    with (
        vauchflow.Client("vf_sk_not_a_real_key", target=gateway.grpc_target) as stranger,
        pytest.raises(vauchflow.AuthenticationError) as unauthenticated,
    ):
        stranger.vouchers.get(code)
    assert (unauthenticated.value.reason, unauthenticated.value.http_status) == ("API_KEY_INVALID", 401)


def test_vouchers_update_and_list_every_page_lazily(client: vauchflow.Client) -> None:
    codes = {client.vouchers.create(percent_off=5 + n, metadata={"n": str(n)}).code for n in range(7)}
    pager = client.vouchers.list(page_size=3)
    assert {v.code for v in pager} == codes
    assert [len(page.vouchers) for page in pager.pages()] == [3, 3, 1]

    code = sorted(codes)[0]
    updated = client.vouchers.update(code, max_redemptions=42, metadata={"campaign": "spring"})
    assert (updated.max_redemptions, dict(updated.metadata)) == (42, {"campaign": "spring"})
    assert updated.discount.percent_off == client.vouchers.get(code).discount.percent_off  # unmasked: unchanged

    # The request message is accepted for fields without a keyword; keywords merge into it.
    voucher = voucher_pb2.Voucher(discount=voucher_pb2.Discount(amount_off=300), currency="EUR")
    request = voucher_service_pb2.CreateVoucherRequest(voucher=voucher)
    made = client.vouchers.create(unique_code("MSG"), request=request)
    assert (made.discount.amount_off, made.currency) == (300, "EUR")


def test_api_keys_create_list_revoke(client: vauchflow.Client, gateway: Gateway) -> None:
    created = client.api_keys.create("checkout", permissions=["redemptions:read", "redemptions:write"])
    assert created.secret.startswith("vf_sk_")
    assert created.api_key.id in {key.id for key in client.api_keys.list(page_size=1)}
    revoked = client.api_keys.revoke(created.api_key.id)
    assert revoked.HasField("revoke_time")
    with (
        vauchflow.Client(created.secret, target=gateway.grpc_target, max_retries=0) as checkout,
        pytest.raises(vauchflow.AuthenticationError),
    ):
        next(iter(checkout.redemptions.list()))


def test_whoami_tells_any_key_its_tenant_plan_limits_and_permissions(
    operator: vauchflow.OperatorClient, gateway: Gateway
) -> None:
    created = operator.tenants.create("Who Am I Ltd", plan="STARTER")
    with vauchflow.Client(created.secret, target=gateway.grpc_target) as owner:
        events_only = owner.api_keys.create("stream reader", permissions=["events:read"])
    with vauchflow.Client(events_only.secret, target=gateway.grpc_target) as reader:
        me = reader.whoami()
        assert (me.api_key.id, me.api_key.name, list(me.api_key.permissions)) == (
            events_only.api_key.id,
            "stream reader",
            ["events:read"],
        )
        assert (me.tenant.id, me.tenant.name, me.tenant.plan) == (
            created.tenant.id,
            "Who Am I Ltd",
            vauchflow.Plan.PLAN_STARTER,
        )
        # STARTER's defaults: 50 requests per second, bursts of 100, 10,000 vouchers, 5 endpoints.
        assert (me.limits.requests_per_second, me.limits.burst) == (50, 100)
        assert (me.limits.max_vouchers, me.limits.max_webhook_endpoints) == (10_000, 5)
        assert reader.api_keys.current() == me
        with pytest.raises(vauchflow.PermissionDeniedError):
            reader.vouchers.create(percent_off=5)  # the key itself is as limited as it says

    # The operator's overrides are what is in force; ENTERPRISE is unlimited until set.
    operator.tenants.update(created.tenant.id, plan="ENTERPRISE")
    with vauchflow.Client(created.secret, target=gateway.grpc_target) as owner:
        limits = owner.whoami().limits
        assert not limits.HasField("requests_per_second") and not limits.HasField("max_vouchers")


def test_webhook_endpoints_events_and_deliveries(client: vauchflow.Client) -> None:
    created = client.webhook_endpoints.create(
        "http://127.0.0.1:9/hooks", description="orders", event_types=["voucher.created"]
    )
    endpoint = created.webhook_endpoint
    assert created.secret.startswith("whsec_")
    assert client.webhook_endpoints.get(endpoint.id).description == "orders"
    assert [e.id for e in client.webhook_endpoints.list()] == [endpoint.id]

    updated = client.webhook_endpoints.update(endpoint.id, description="all events", event_types=[])
    assert (updated.description, list(updated.event_types), updated.url) == ("all events", [], endpoint.url)
    rotated = client.webhook_endpoints.rotate_secret(endpoint.id)
    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret

    test_event = client.webhook_endpoints.send_test_event(endpoint.id)
    assert test_event.type == "webhook.test"
    deliveries = list(client.webhook_endpoints.list_deliveries(endpoint.id))
    assert [d.event_id for d in deliveries] == [test_event.id]

    client.vouchers.create(percent_off=5)
    listed = list(client.events.list(page_size=1))
    assert [e.type for e in listed] == ["webhook.test", "voucher.created"]
    assert [e.type for e in client.events.list(types=["voucher.created"])] == ["voucher.created"]
    assert client.events.get(test_event.id).id == test_event.id
    redelivered = client.events.redeliver(test_event.id, endpoint_id=endpoint.id)
    assert [d.endpoint_id for d in redelivered] == [endpoint.id]
    assert client.webhook_endpoints.recover(endpoint.id) == 0  # nothing has failed for good yet

    assert client.webhook_endpoints.update(endpoint.id, enabled=False).disabled_reason == "MANUAL"
    with pytest.raises(vauchflow.WebhookEndpointDisabled):
        client.webhook_endpoints.send_test_event(endpoint.id)
    assert client.webhook_endpoints.delete(endpoint.id) is None
    with pytest.raises(vauchflow.NotFoundError) as gone:
        client.webhook_endpoints.get(endpoint.id)
    assert gone.value.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"


async def test_async_client_walks_pages_and_raises_typed_errors(
    operator: vauchflow.OperatorClient, gateway: Gateway
) -> None:
    secret = operator.tenants.create("async shop", plan="SCALE").secret
    async with vauchflow.AsyncClient(secret, target=gateway.grpc_target) as client:
        codes = {(await client.vouchers.create(percent_off=10, max_redemptions=1)).code for _ in range(5)}
        assert {v.code async for v in client.vouchers.list(page_size=2)} == codes
        code = sorted(codes)[0]
        redeemed = await client.redemptions.redeem(code, amount=1000, currency="EUR")
        assert redeemed.voucher.redemption_count == 1
        with pytest.raises(vauchflow.VoucherExhausted):
            await client.redemptions.redeem(code, amount=1000, currency="EUR")
        assert [r.id async for r in client.redemptions.list(voucher_code=code)] == [redeemed.redemption.id]


async def test_async_operator_client_manages_tenants(api_server: ApiServer, gateway: Gateway) -> None:
    async with vauchflow.AsyncOperatorClient(api_server.admin_token, target=gateway.grpc_target) as operator:
        created = await operator.tenants.create("Plan Switcher", plan=vauchflow.Plan.PLAN_FREE)
        updated = await operator.tenants.update(created.tenant.id, plan="GROWTH")
        assert (updated.plan, updated.name) == (vauchflow.Plan.PLAN_GROWTH, "Plan Switcher")
        assert (await operator.tenants.get(created.tenant.id)).plan == vauchflow.Plan.PLAN_GROWTH
        assert created.tenant.id in {t.id async for t in operator.tenants.list(page_size=100)}


# Retries


def _redeem_request_ids(proxy: FlakyGrpcProxy) -> list[str]:
    return [redemption_service_pb2.RedeemVoucherRequest.FromString(raw).request_id for raw in proxy.requests[REDEEM]]


def test_a_redeem_whose_response_was_lost_is_retried_with_one_request_id_and_lands_once(
    operator: vauchflow.OperatorClient, api_server: ApiServer
) -> None:
    with FlakyGrpcProxy(api_server.target) as proxy, new_tenant(operator, proxy.target) as client:
        code = client.vouchers.create(percent_off=10, max_redemptions=5).code
        proxy.fail_after_forwarding(REDEEM, times=2)
        redeemed = client.redemptions.redeem(code, amount=5000, currency="EUR")
        # The server applied all three attempts' request once: the retries replayed the first result.
        request_ids = _redeem_request_ids(proxy)
        assert len(request_ids) == 3 and len(set(request_ids)) == 1 and request_ids[0], request_ids
        assert redeemed.voucher.redemption_count == 1
        assert [r.id for r in client.redemptions.list(voucher_code=code)] == [redeemed.redemption.id]
        assert client.vouchers.get(code).redemption_count == 1
        rows = OwnerDatabase(api_server.owner_dsn).fetchval(
            "SELECT count(*) FROM redemptions WHERE voucher_code = $1", code
        )
        assert rows == 1

        # Out of retries: the error surfaces (and the call may have been applied, which the key makes safe).
        proxy.fail_after_forwarding(REDEEM, times=3)
        with pytest.raises(vauchflow.UnavailableError):
            client.with_options(max_retries=1).redemptions.redeem(code, amount=5000, currency="EUR")


def test_a_caller_request_id_is_kept_across_retries(operator: vauchflow.OperatorClient, api_server: ApiServer) -> None:
    with FlakyGrpcProxy(api_server.target) as proxy, new_tenant(operator, proxy.target) as client:
        code = client.vouchers.create(percent_off=10).code
        proxy.fail_after_forwarding(REDEEM, times=1)
        first = client.redemptions.redeem(code, amount=100, currency="EUR", request_id="order-77")
        again = client.redemptions.redeem(code, amount=100, currency="EUR", request_id="order-77")
        assert first.redemption.id == again.redemption.id
        assert _redeem_request_ids(proxy) == ["order-77"] * 3


def test_a_mutation_without_request_id_is_never_retried(
    operator: vauchflow.OperatorClient, api_server: ApiServer
) -> None:
    with FlakyGrpcProxy(api_server.target) as proxy, new_tenant(operator, proxy.target, max_retries=5) as client:
        code = client.vouchers.create(percent_off=10).code
        redemption = client.redemptions.redeem(code, amount=100, currency="EUR").redemption
        proxy.fail_after_forwarding(ROLLBACK, times=1)
        with pytest.raises(vauchflow.UnavailableError):
            client.redemptions.rollback(redemption.id)
        assert len(proxy.requests[ROLLBACK]) == 1
        # It was applied: a blind retry would have raised RedemptionAlreadyRolledBack instead of succeeding.
        assert client.redemptions.get(redemption.id).status == redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK


def test_rate_limited_reads_wait_for_retry_after_and_succeed(
    operator: vauchflow.OperatorClient, gateway: Gateway
) -> None:
    # FREE: 10 requests per second, bursts of 20; 40 back-to-back calls overrun it.
    with new_tenant(operator, gateway.grpc_target, plan="FREE", max_retries=0) as impatient:
        code = impatient.vouchers.create(percent_off=5).code
        with pytest.raises(vauchflow.RateLimitedError) as limited:
            for _ in range(40):
                impatient.vouchers.get(code)
        assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 1
        assert limited.value.http_status == 429
        patient = impatient.with_options(max_retries=10)
        assert all(patient.vouchers.get(code).code == code for _ in range(40))


# TLS


def _self_signed_localhost() -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for localhost and 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def test_tls_with_private_root_certificates(operator: vauchflow.OperatorClient, api_server: ApiServer) -> None:
    certificate, key = _self_signed_localhost()
    credentials = grpc.ssl_server_credentials([(key, certificate)])
    secret = operator.tenants.create("TLS GmbH", plan="SCALE").secret
    with FlakyGrpcProxy(api_server.target, server_credentials=credentials) as tls_endpoint:
        target = f"localhost:{tls_endpoint.port}"
        # Root certificates switch TLS on, also for a loopback host.
        with vauchflow.Client(secret, target=target, root_certificates=certificate) as client:
            assert client.settings.tls
            assert client.vouchers.create(percent_off=5).discount.percent_off == 5
        with (
            vauchflow.Client(secret, target=target, tls=False, max_retries=0, timeout=5) as plaintext,
            pytest.raises(vauchflow.UnavailableError),
        ):
            next(iter(plaintext.vouchers.list()))
        with (
            vauchflow.Client(secret, target=target, tls=True, max_retries=0, timeout=5) as untrusting,
            pytest.raises(vauchflow.UnavailableError),
        ):
            next(iter(untrusting.vouchers.list()))  # the system roots do not know this certificate
