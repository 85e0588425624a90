from __future__ import annotations

from vauchflow.v1 import health_service_pb2 as pb
from vauchflow.v1 import health_service_pb2_grpc

from vauchflow_server.health import HealthChecker


class HealthServicer(health_service_pb2_grpc.HealthServiceServicer):
    def __init__(self, checker: HealthChecker):
        self._checker = checker

    async def Check(self, request: pb.CheckRequest, context) -> pb.CheckResponse:
        report = await self._checker.check()
        return pb.CheckResponse(
            status=report.status,
            components={name: pb.ComponentHealth(status=status) for name, status in report.components.items()},
        )
