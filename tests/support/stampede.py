"""A flash-sale stampede: many real threads redeeming one voucher at the same moment, over one or several targets."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from support.api_client import order, outcome
from vauchflow.v1 import redemption_service_pb2, redemption_service_pb2_grpc


def stampede(targets: str | Sequence[str], secret: str, code: str, threads: int, channels: int = 10,
             order_id: Callable[[int], str] = lambda index: f"order-{index}") -> list[Any]:  # fmt: skip
    """`threads` real threads, each issuing its own RedeemVoucher at the same moment (a Barrier). They share a few
    channels (HTTP/2 connections), spread round-robin over `targets` (several API replicas): 1,000 connection
    set-ups would dominate the test's time on 2 cores."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    shared = [grpc.insecure_channel(targets[index % len(targets)]) for index in range(max(channels, len(targets)))]
    try:
        for channel in shared:
            grpc.channel_ready_future(channel).result(timeout=30)
        metadata = (("authorization", f"Bearer {secret}"),)
        barrier = threading.Barrier(threads, timeout=60)
        results: list[Any] = [None] * threads

        def client(index: int) -> None:
            stub = redemption_service_pb2_grpc.RedemptionServiceStub(shared[index % len(shared)])
            request = redemption_service_pb2.RedeemVoucherRequest(code=code, order=order(5_000, "EUR", order_id(index)))
            try:
                barrier.wait()
                results[index] = stub.RedeemVoucher(request, metadata=metadata, timeout=90)
            except grpc.RpcError as error:
                results[index] = error
            except BaseException as error:
                barrier.abort()
                results[index] = error

        previous = threading.stack_size(512 * 1024)
        try:
            workers = [threading.Thread(target=client, args=(i,), name=f"redeemer-{i}") for i in range(threads)]
        finally:
            threading.stack_size(previous)
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=150)
        assert not any(worker.is_alive() for worker in workers), "a client thread hung"
        broken = [r for r in results if isinstance(r, BaseException) and not isinstance(r, grpc.RpcError)]
        assert not broken, f"client threads failed outside gRPC: {broken[:3]!r}"
        return results
    finally:
        for channel in shared:
            channel.close()


def outcomes(results: list[Any]) -> Counter[str]:
    return Counter(outcome(r) for r in results)
