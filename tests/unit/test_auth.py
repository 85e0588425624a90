"""The Authenticator: bearer tokens, API key shape before any lookup, revocation, permissions, operator path."""

from __future__ import annotations

import uuid

import pytest

from vauchflow_core import api_key_secrets
from vauchflow_core.errors import PermissionMissing, Unauthenticated
from vauchflow_core.permissions import ALL_PERMISSIONS, ANY_KEY, OPERATOR, PUBLIC, REQUIRED_PERMISSION
from vauchflow_core.plans import LimitOverrides, RateLimit
from vauchflow_core.rpc.auth import ANONYMOUS, Authenticator, bearer_token
from vauchflow_core.tenancy import ApiKeyIdentity, Principal

ADMIN_TOKEN = "vf_op_the-operator-token-for-tests"
CREATE_VOUCHER = "/vauchflow.v1.VoucherService/CreateVoucher"
GET_VOUCHER = "/vauchflow.v1.VoucherService/GetVoucher"
CREATE_TENANT = "/vauchflow.v1.TenantService/CreateTenant"
HEALTH = "/grpc.health.v1.Health/Check"


class FakeKeyStore:
    """In memory: the keys by hash, and every hash it was asked about."""

    def __init__(self) -> None:
        self.keys: dict[bytes, ApiKeyIdentity] = {}
        self.calls: list[bytes] = []

    def add(self, permissions, *, revoked: bool = False) -> tuple[str, ApiKeyIdentity]:
        new = api_key_secrets.generate()
        identity = ApiKeyIdentity(
            uuid.uuid4(), uuid.uuid4(), frozenset(permissions), revoked, "STARTER", LimitOverrides(burst=300)
        )
        self.keys[new.secret_hash] = identity
        return new.secret, identity

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        self.calls.append(secret_hash)
        return self.keys.get(secret_hash)


@pytest.fixture
def store() -> FakeKeyStore:
    return FakeKeyStore()


@pytest.fixture
def auth(store: FakeKeyStore) -> Authenticator:
    return Authenticator(store, ADMIN_TOKEN)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def test_a_valid_key_with_the_permission_yields_its_tenant(auth: Authenticator, store: FakeKeyStore) -> None:
    secret, identity = store.add(["vouchers:write"])
    principal = await auth.authorize(CREATE_VOUCHER, bearer(secret))
    # The tenant's plan and effective request rate come with the key (the STARTER rate, the tenant's own burst).
    assert principal == Principal(
        identity.tenant_id, identity.key_id, identity.permissions, "STARTER", RateLimit(50, burst=300)
    )
    assert not principal.is_operator
    assert store.calls == [api_key_secrets.hash_secret(secret)]


def _tampered(secret: str) -> str:
    last = secret[-1]
    return secret[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(_tampered, id="bad-checksum"),
        pytest.param(lambda secret: secret[:-1], id="too-short"),
        pytest.param(lambda secret: "vf_pk_" + secret[6:], id="wrong-prefix"),
        pytest.param(lambda secret: "hello", id="garbage"),
        pytest.param(lambda secret: ADMIN_TOKEN, id="operator-token-on-a-tenant-rpc"),
    ],
)
async def test_malformed_keys_are_rejected_without_a_lookup(auth: Authenticator, store: FakeKeyStore,
                                                            make_token) -> None:  # fmt: skip
    secret, _ = store.add(ALL_PERMISSIONS)
    token = make_token(secret)
    with pytest.raises(Unauthenticated) as raised:
        await auth.authorize(GET_VOUCHER, bearer(token))
    assert raised.value.reason == "API_KEY_INVALID"
    assert store.calls == []


async def test_missing_or_non_bearer_credentials_are_unauthenticated(auth: Authenticator, store: FakeKeyStore) -> None:
    secret, _ = store.add(ALL_PERMISSIONS)
    for metadata in ([], [("authorization", secret)], [("authorization", f"Basic {secret}")],
                     [("authorization", "Bearer ")], [("x-api-key", secret)]):  # fmt: skip
        with pytest.raises(Unauthenticated):
            await auth.authorize(GET_VOUCHER, metadata)
    assert store.calls == []


async def test_an_unknown_well_formed_key_is_unauthenticated(auth: Authenticator, store: FakeKeyStore) -> None:
    stranger = api_key_secrets.generate().secret
    with pytest.raises(Unauthenticated):
        await auth.authorize(GET_VOUCHER, bearer(stranger))
    assert store.calls == [api_key_secrets.hash_secret(stranger)]


async def test_a_revoked_key_is_unauthenticated_even_with_every_permission(
    auth: Authenticator, store: FakeKeyStore
) -> None:
    secret, _ = store.add(ALL_PERMISSIONS, revoked=True)
    with pytest.raises(Unauthenticated) as raised:
        await auth.authorize(GET_VOUCHER, bearer(secret))
    assert raised.value.reason == "API_KEY_INVALID"
    assert secret not in raised.value.message


async def test_a_key_without_the_permission_is_refused_naming_it(auth: Authenticator, store: FakeKeyStore) -> None:
    secret, _ = store.add(["vouchers:read"])
    assert (await auth.authorize(GET_VOUCHER, bearer(secret))).permissions == frozenset(["vouchers:read"])
    with pytest.raises(PermissionMissing) as raised:
        await auth.authorize(CREATE_VOUCHER, bearer(secret))
    assert raised.value.reason == "PERMISSION_MISSING"
    assert raised.value.metadata == {"permission": "vouchers:write"}


@pytest.mark.parametrize(
    "method", sorted(m for m, p in REQUIRED_PERMISSION.items() if p not in (OPERATOR, PUBLIC, ANY_KEY))
)
async def test_every_tenant_rpc_needs_exactly_its_permission(auth: Authenticator, store: FakeKeyStore,
                                                             method: str) -> None:  # fmt: skip
    required = REQUIRED_PERMISSION[method]
    assert required in ALL_PERMISSIONS
    all_but, _ = store.add(set(ALL_PERMISSIONS) - {required})
    with pytest.raises(PermissionMissing):
        await auth.authorize(method, bearer(all_but))
    only, identity = store.add([required])
    assert (await auth.authorize(method, bearer(only))).tenant_id == identity.tenant_id


async def test_the_operator_token_opens_tenancy_calls_only(auth: Authenticator, store: FakeKeyStore) -> None:
    principal = await auth.authorize(CREATE_TENANT, bearer(ADMIN_TOKEN))
    assert principal.is_operator and principal.tenant_id is None
    secret, _ = store.add(ALL_PERMISSIONS)
    for token in (secret, ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1], "bearer"):
        with pytest.raises(Unauthenticated):
            await auth.authorize(CREATE_TENANT, bearer(token))
    with pytest.raises(Unauthenticated):
        await auth.authorize(CREATE_TENANT, [])
    # The operator path never consults the key store.
    assert store.calls == []


async def test_the_bearer_scheme_is_case_insensitive(auth: Authenticator) -> None:
    assert (await auth.authorize(CREATE_TENANT, [("authorization", f"bearer {ADMIN_TOKEN}")])).is_operator


async def test_unknown_methods_are_refused_before_anything_else(auth: Authenticator, store: FakeKeyStore) -> None:
    secret, _ = store.add(ALL_PERMISSIONS)
    for method in ("/vauchflow.v1.VoucherService/DeleteEverything", "/vauchflow.v1.Secret/Admin", ""):
        for metadata in (bearer(secret), bearer(ADMIN_TOKEN), []):
            with pytest.raises(PermissionMissing):
                await auth.authorize(method, metadata)
    assert store.calls == []


async def test_public_methods_need_no_credentials(auth: Authenticator, store: FakeKeyStore) -> None:
    assert await auth.authorize(HEALTH, []) is ANONYMOUS
    assert store.calls == []


def test_bearer_token_parsing() -> None:
    assert bearer_token([("authorization", "Bearer  abc ")]) == "abc"
    assert bearer_token([("other", "x"), ("authorization", "BEARER abc")]) == "abc"
    assert bearer_token([("authorization", b"Bearer abc")]) is None
    assert bearer_token([("authorization", "Token abc")]) is None
    assert bearer_token([]) is None


async def test_who_am_i_takes_any_valid_key_and_nothing_else(auth: Authenticator, store: FakeKeyStore) -> None:
    method = "/vauchflow.v1.ApiKeyService/GetCurrentApiKey"
    assert REQUIRED_PERMISSION[method] == ANY_KEY
    secret, identity = store.add(["events:read"])  # no permission about keys at all
    principal = await auth.authorize(method, bearer(secret))
    assert (principal.tenant_id, principal.key_id) == (identity.tenant_id, identity.key_id)
    revoked, _ = store.add(["events:read"], revoked=True)
    for token in (ADMIN_TOKEN, "vf_sk_garbage", revoked):
        with pytest.raises(Unauthenticated):
            await auth.authorize(method, bearer(token))


async def test_an_unknown_key_costs_one_lookup_however_often_it_is_tried(
    auth: Authenticator, store: FakeKeyStore
) -> None:
    stranger = api_key_secrets.generate().secret
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            await auth.authorize(GET_VOUCHER, bearer(stranger))
    assert store.calls == [api_key_secrets.hash_secret(stranger)]
    # A real key is still looked up (and only its own hash is ever remembered as unknown).
    secret, _ = store.add({"vouchers:read"})
    await auth.authorize(GET_VOUCHER, bearer(secret))
    assert len(store.calls) == 2
