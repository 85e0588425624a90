"""Revoking a key on one API server stops it on another that had it cached (NOTIFY evicts the cache)."""

from __future__ import annotations

import secrets
import signal

import grpc

from support.polling import wait_for
from support.ports import free_port
from support.services import start_api_server
from vauchflow.v1 import (
    api_key_service_pb2,
    api_key_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
)
from vauchflow_devstack import stop_child


def test_a_key_revoked_on_one_replica_is_refused_by_the_other(migrated_db, redis_server, tmp_path):
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    servers = [
        start_api_server(
            database=migrated_db,
            redis_url=redis_server.url,
            admin_token=admin_token,
            port=free_port(),
            log_path=tmp_path / f"server-{n}.log",
        )
        for n in (1, 2)
    ]
    channels = [grpc.insecure_channel(server.target) for server in servers]
    try:
        created = tenant_service_pb2_grpc.TenantServiceStub(channels[0]).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="Revocation GmbH"),
            metadata=[("authorization", f"Bearer {admin_token}")],
        )
        admin_key = [("authorization", f"Bearer {created.secret}")]
        extra = api_key_service_pb2_grpc.ApiKeyServiceStub(channels[0]).CreateApiKey(
            api_key_service_pb2.CreateApiKeyRequest(name="checkout", permissions=["vouchers:read"]),
            metadata=admin_key,
        )
        checkout_key = [("authorization", f"Bearer {extra.secret}")]
        on_second = voucher_service_pb2_grpc.VoucherServiceStub(channels[1])
        list_request = voucher_service_pb2.ListVouchersRequest()
        on_second.ListVouchers(list_request, metadata=checkout_key)  # now cached on the second server

        api_key_service_pb2_grpc.ApiKeyServiceStub(channels[0]).RevokeApiKey(
            api_key_service_pb2.RevokeApiKeyRequest(id=extra.api_key.id), metadata=admin_key
        )

        def refused_on_second() -> bool:
            try:
                on_second.ListVouchers(list_request, metadata=checkout_key)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                return True
            return False

        # Well inside the cache TTL (5 s): only the notification can make this true this fast.
        waited = wait_for(refused_on_second, what="revoked key refused by the other replica", timeout=2)
        print(f"revocation reached the other replica after {waited * 1000:.0f} ms")
    finally:
        for channel in channels:
            channel.close()
        for server in servers:
            assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
