"""The campaign-generation row of `make bench`: one GenerateCampaignCodes operation of a million codes, timed from
the call to the operation's end, with the API server's peak memory (VmHWM) before and after.

The target (issue 17) is a million codes in under 60 s on the development machine. Also runnable alone, on a
private dev stack: `.venv/bin/python bench/campaign_generation.py [--count N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc

from vauchflow.v1 import (
    campaign_pb2,
    campaign_service_pb2,
    campaign_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
)


@dataclass(frozen=True)
class GenerationFigures:
    count: int
    generated: int
    seconds: float
    rss_before_mib: float
    peak_rss_mib: float

    @property
    def rate(self) -> float:
        return self.generated / self.seconds


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(target: str, admin_token: str, server_pid: int, count: int = 1_000_000) -> GenerationFigures:
    """A fresh ENTERPRISE tenant (no voucher quota) generates `count` codes into a new campaign."""
    with grpc.insecure_channel(target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="Generation bench", plan=tenant_pb2.PLAN_ENTERPRISE),
            metadata=[("authorization", f"Bearer {admin_token}")],
        )
        key = [("authorization", f"Bearer {created.secret}")]
        campaigns = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        campaign = campaigns.CreateCampaign(
            campaign_service_pb2.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(name="a million", discount=voucher_pb2.Discount(percent_off=10))
            ),
            metadata=key,
        ).campaign
        operations = operations_pb2_grpc.OperationsStub(channel)
        rss_before = peak_rss_mib(server_pid)
        started = time.monotonic()
        operation = campaigns.GenerateCampaignCodes(
            campaign_service_pb2.GenerateCampaignCodesRequest(
                campaign_id=campaign.id,
                count=count,
                code_pattern=campaign_pb2.CodePattern(pattern="????-????-????", prefix="BENCH-"),
            ),
            metadata=key,
        )
        while not operation.done:
            time.sleep(0.2)
            operation = operations.GetOperation(operations_pb2.GetOperationRequest(name=operation.name), metadata=key)
        seconds = time.monotonic() - started
        metadata = campaign_pb2.GenerateCampaignCodesMetadata()
        operation.metadata.Unpack(metadata)
        if operation.HasField("error"):
            raise RuntimeError(f"generation failed: {operation.error.message}")
    return GenerationFigures(count, metadata.generated_count, seconds, rss_before, peak_rss_mib(server_pid))


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import start_stack  # bench/run.py: the private dev stack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vauchflow-generation-") as tmp:
        stack = start_stack(Path(tmp), 1)
        try:
            admin_token = (Path(tmp) / "operator-token").read_text().strip()
            (server_pid,) = [pid for name, pid in stack.child_pids().items() if name.startswith("api-server")]
            figures = measure(stack.grpc_targets[0], admin_token, server_pid, args.count)
        finally:
            stack.stop()
    print(
        f"generated {figures.generated:,} of {figures.count:,} codes in {figures.seconds:.1f} s "
        f"({figures.rate:,.0f}/s); API server peak RSS {figures.rss_before_mib:.0f} MiB before, "
        f"{figures.peak_rss_mib:.0f} MiB after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
