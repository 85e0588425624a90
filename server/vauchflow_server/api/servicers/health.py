from __future__ import annotations

from vauchflow.v1 import health_service_pb2 as pb
from vauchflow.v1 import health_service_pb2_grpc
from vauchflow_server.health import UP, HealthChecker


class HealthServicer(health_service_pb2_grpc.HealthServiceServicer):
    def __init__(self, checker: HealthChecker):
        self._checker = checker

    async def Check(self, request: pb.CheckRequest, context) -> pb.CheckResponse:
        report = await self._checker.check()
        return pb.CheckResponse(
            status=report.status,
            components=_components(report.components),
        )

    async def CheckLiveness(self, request: pb.CheckLivenessRequest, context) -> pb.CheckLivenessResponse:
        # Answering at all is the proof of life.
        return pb.CheckLivenessResponse(status=UP)

    async def CheckReadiness(self, request: pb.CheckReadinessRequest, context) -> pb.CheckReadinessResponse:
        report = await self._checker.readiness()
        return pb.CheckReadinessResponse(status=report.status, components=_components(report.components))


def _components(components: dict[str, str]) -> dict[str, pb.ComponentHealth]:
    return {name: pb.ComponentHealth(status=status) for name, status in components.items()}
