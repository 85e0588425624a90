"""The api_server fixture runs the real entry point against its own database and answers as the operator."""

from __future__ import annotations

import grpc
import pytest

from support.grpc_health import is_serving
from support.services import ApiServer
from vauchflow.v1 import tenant_pb2, tenant_service_pb2, tenant_service_pb2_grpc


def test_api_server_is_serving_and_accepts_its_operator_token(api_server: ApiServer) -> None:
    assert api_server.process.poll() is None
    assert is_serving(api_server.target)
    with grpc.insecure_channel(api_server.target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="fixture tenant", plan=tenant_pb2.PLAN_STARTER),
            metadata=[("authorization", f"Bearer {api_server.admin_token}")],
            timeout=10,
        )
    assert created.tenant.name == "fixture tenant"
    assert created.secret.startswith("vf_sk_")


def test_api_server_rejects_a_wrong_operator_token(api_server: ApiServer) -> None:
    with grpc.insecure_channel(api_server.target) as channel, pytest.raises(grpc.RpcError) as raised:
        tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="intruder", plan=tenant_pb2.PLAN_FREE),
            metadata=[("authorization", "Bearer vf_op_not-the-operator-token")],
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
