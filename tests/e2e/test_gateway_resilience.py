"""Two API server replicas behind one real Envoy: the redemption invariant holds across them, a SIGKILLed replica is
ejected while traffic keeps succeeding, and a SIGTERMed replica finishes its in-flight redeem."""

from __future__ import annotations

import concurrent.futures
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest

from support.api_client import OwnerDatabase
from support.gateway import (
    Gateway,
    RestClient,
    RestResponse,
    assert_one_redeemed_rest_exhausted,
    concurrent_posts,
    expect_error,
    expect_json,
    new_tenant_key,
    start_gateway,
    wait_for_healthy_hosts,
)
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer, start_api_server
from vauchflow.v1 import redemption_pb2, redemption_service_pb2, redemption_service_pb2_grpc
from vauchflow_devstack import stop_child

ORDER = {"order": {"amount": "10000", "currency": "EUR"}}


@dataclass
class TwoReplicas:
    servers: list[ApiServer]
    gateway: Gateway
    merchant: RestClient

    def server_at(self, address: str) -> ApiServer:
        return next(server for server in self.servers if server.target == address)


@pytest.fixture
def replicas(migrated_db, redis_server, tmp_path) -> Iterator[TwoReplicas]:
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    servers: list[ApiServer] = []
    gateway = None
    try:
        for index in (1, 2):
            servers.append(
                start_api_server(
                    database=migrated_db,
                    redis_url=redis_server.url,
                    admin_token=admin_token,
                    port=free_port(),
                    log_path=tmp_path / f"server-{index}.log",
                )
            )
        gateway = start_gateway(tmp_path / "envoy", [server.target for server in servers])
        wait_for_healthy_hosts(gateway, 2)
        merchant = gateway.rest(new_tenant_key(gateway.rest(admin_token), name="Replicated GmbH"))
        yield TwoReplicas(servers, gateway, merchant)
    finally:
        if gateway is not None:
            gateway.stop()
        for server in servers:
            stop_child(server.process, name="api-server", sig=signal.SIGKILL, timeout=10)


def create_voucher(rest: RestClient, **fields) -> str:
    voucher = {"code": f"HA-{uuid.uuid4().hex[:12].upper()}", "discount": {"percent_off": 10}, **fields}
    return expect_json(rest.post("/v1/vouchers", voucher))["voucher"]["code"]


def test_100_concurrent_redeems_across_two_replicas(replicas):
    code = create_voucher(replicas.merchant, max_redemptions="1")
    before = {address: host.requests for address, host in replicas.gateway.api_hosts().items()}

    responses = concurrent_posts(replicas.merchant, f"/v1/vouchers/{code}:redeem", ORDER, count=100)

    assert_one_redeemed_rest_exhausted(responses)
    owner = OwnerDatabase(replicas.servers[0].owner_dsn)
    assert owner.fetchval("SELECT redemption_count FROM vouchers WHERE code = $1", code) == 1
    assert owner.fetchval("SELECT count(*) FROM redemptions WHERE voucher_code = $1", code) == 1
    served = {
        server.target: replicas.gateway.api_hosts()[server.target].requests - before[server.target]
        for server in replicas.servers
    }
    # Round-robin spreads the burst; both replicas took a real share of it.
    assert all(count >= 20 for count in served.values()), served


class RequestLoop:
    """A thread sending GET requests one after another (bounded by count and time), recording when each started
    and its status; failed responses are kept whole."""

    def __init__(self, rest: RestClient, path: str, *, max_requests: int = 5000, max_seconds: float = 40) -> None:
        self.results: list[tuple[float, int]] = []
        self.failed: list[RestResponse | OSError] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(rest, path, max_requests, max_seconds), daemon=True)

    def _run(self, rest: RestClient, path: str, max_requests: int, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds
        while not self._stop.is_set() and len(self.results) < max_requests and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = rest.get(path)
            except OSError as error:  # the connection itself failed
                self.failed.append(error)
                self.results.append((started, -1))
                continue
            if response.status != 200:
                self.failed.append(response)
            self.results.append((started, response.status))

    def started_after(self, moment: float) -> list[int]:
        return [status for started, status in list(self.results) if started > moment]

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the request loop hung"


def test_sigkilled_replica_is_ejected_and_requests_keep_succeeding(replicas):
    code = create_voucher(replicas.merchant)
    victim, survivor = replicas.servers
    gateway = replicas.gateway

    with RequestLoop(replicas.merchant, f"/v1/vouchers/{code}") as loop:
        wait_for(lambda: len(loop.results) >= 20, what="20 requests before the kill", timeout=20)
        assert loop.failed == []
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for(lambda: not gateway.api_hosts()[victim.target].healthy, what="Envoy ejects the killed replica",
                 timeout=15)  # fmt: skip
        ejected_at = time.monotonic()
        wait_for(lambda: len(loop.started_after(ejected_at)) >= 100, what="100 requests after the ejection",
                 timeout=30)  # fmt: skip

    after_ejection = loop.started_after(ejected_at)
    assert ejected_at - killed_at < 10
    assert len(after_ejection) >= 100 and set(after_ejection) == {200}, sorted(set(after_ejection))
    # Only requests already on the dead replica's connection when it died may fail (connection failures are
    # retried on the other replica), and even those get a JSON error, not a dropped connection.
    assert len(loop.failed) <= 5, (loop.failed, len(loop.results))
    for failure in loop.failed:
        assert not isinstance(failure, OSError), failure
        expect_error(failure, 503, "UPSTREAM_UNAVAILABLE")
    hosts = gateway.api_hosts()
    assert hosts[survivor.target].healthy
    assert hosts[victim.target].health_flags != "healthy", hosts[victim.target].health_flags


async def _wait_for_lock_waiter(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        for _ in range(600):
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'vauchflow_app' AND wait_event_type = 'Lock'"
            ):
                return
            await conn.execute("SELECT pg_sleep(0.05)")
        raise AssertionError("the redeem never reached the row lock")
    finally:
        await conn.close()


async def test_sigterm_drains_in_flight_redeem_while_the_other_replica_serves(replicas):
    code = create_voucher(replicas.merchant, max_redemptions="5")
    gateway, merchant = replicas.gateway, replicas.merchant

    # Hold the voucher's row lock so the redeem is provably in flight on one replica when SIGTERM arrives.
    locker = await asyncpg.connect(replicas.servers[0].owner_dsn)
    lock = locker.transaction()
    await lock.start()
    await locker.execute("SELECT 1 FROM vouchers WHERE code = $1 FOR UPDATE", code)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(merchant.post, f"/v1/vouchers/{code}:redeem", ORDER)
        try:
            await _wait_for_lock_waiter(replicas.servers[0].owner_dsn)
            busy: list[str] = []

            def one_replica_busy() -> bool:
                busy[:] = [address for address, host in gateway.api_hosts().items() if host.active_requests > 0]
                return len(busy) == 1

            wait_for(one_replica_busy, what="Envoy shows the redeem active on one replica", timeout=10)
            draining = replicas.server_at(busy[0])
            draining.process.send_signal(signal.SIGTERM)

            # While it drains, new requests go to the other replica and succeed.
            for _ in range(30):
                assert expect_json(merchant.get(f"/v1/vouchers/{code}"))["voucher"]["redemption_count"] == "0"
            assert draining.process.poll() is None, "the replica must wait for its in-flight redeem"
        finally:
            await lock.rollback()
            await locker.close()
        response = in_flight.result(timeout=30)

    redeemed = expect_json(response)
    assert redeemed["voucher"]["redemption_count"] == "1"
    wait_for(lambda: draining.process.poll() is not None, what="the drained replica exits", timeout=30)
    assert draining.process.returncode == 0
    for _ in range(20):
        expect_json(merchant.post(f"/v1/vouchers/{code}:validate", ORDER))
    second = expect_json(merchant.post(f"/v1/vouchers/{code}:redeem", ORDER))
    assert second["voucher"]["redemption_count"] == "2"


class RedeemLoad:
    """Worker threads redeeming one voucher through Envoy's gRPC port, each redeem with its own request_id and
    retried with the same request_id (short deadline, any error) until it succeeds, as a careful client does."""

    def __init__(self, target: str, secret: str, code: str, *, workers: int = 4, deadline: float = 3.0) -> None:
        self.succeeded: dict[str, str] = {}  # request_id -> redemption id
        self.failures: list[tuple[str, str]] = []  # (request_id, status code) of every failed attempt
        self._target, self._secret, self._code, self._deadline = target, secret, code, deadline
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(workers)]

    def _run(self, worker: int) -> None:
        with grpc.insecure_channel(self._target) as channel:
            stub = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
            metadata = (("authorization", f"Bearer {self._secret}"),)
            while not self._stop.is_set():
                request_id = str(uuid.uuid4())
                request = redemption_service_pb2.RedeemVoucherRequest(
                    code=self._code, request_id=request_id,
                    order=redemption_pb2.Order(id=f"w{worker}-{request_id[:8]}", amount=10_000, currency="EUR"),
                )  # fmt: skip
                give_up = time.monotonic() + 60
                while True:
                    try:
                        response = stub.RedeemVoucher(request, metadata=metadata, timeout=self._deadline)
                    except grpc.RpcError as error:
                        with self._lock:
                            self.failures.append((request_id, error.code().name))
                        assert time.monotonic() < give_up, f"{request_id} never succeeded"
                        continue
                    with self._lock:
                        self.succeeded[request_id] = response.redemption.id
                    break

    def count(self) -> int:
        with self._lock:
            return len(self.succeeded)

    def __enter__(self) -> RedeemLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # each worker finishes (retries) the redeem it has started
        for thread in self._threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in self._threads), "a redeem worker hung"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP], ids=lambda sig: sig.name)
def test_a_replica_stopped_under_load_redeems_every_request_exactly_once(replicas, sig):
    """SIGTERM: the replica drains and nothing fails. SIGKILL, SIGSTOP: what was in flight there fails (a stopped
    replica is then killed, as a supervisor would once it stops answering, so its open transactions roll back), and
    each retry with the same request_id lands exactly once."""
    code = create_voucher(replicas.merchant, max_redemptions="1000000")
    victim, survivor = replicas.servers
    gateway = replicas.gateway
    owner = OwnerDatabase(victim.owner_dsn)

    with RedeemLoad(gateway.grpc_target, replicas.merchant.token or "", code) as load:
        wait_for(lambda: load.count() >= 30, what="30 redeems before the signal", timeout=60)
        assert load.failures == []
        victim.process.send_signal(sig)
        wait_for(lambda: not gateway.api_hosts()[victim.target].healthy, what="Envoy stops sending to the victim",
                 timeout=30)  # fmt: skip
        if sig == signal.SIGSTOP:
            # Its in-flight redeems time out; the transaction one of them holds keeps the voucher's row locked, so
            # the survivor waits too until the stopped process is killed and PostgreSQL rolls its transaction back.
            wait_for(lambda: load.failures != [], what="the stopped replica's redeems fail", timeout=30)
            victim.process.kill()
        ejected = load.count()
        wait_for(lambda: load.count() >= ejected + 50, what="50 redeems on the survivor", timeout=60)
        victim.process.wait(timeout=30)

    redeemed = load.succeeded
    rows = owner.fetch("SELECT id::text AS id FROM redemptions WHERE voucher_code = $1", code)
    # Exactly once: one redemption per request_id, the one each request_id's answer named; the count agrees.
    assert sorted(row["id"] for row in rows) == sorted(redeemed.values())
    assert owner.fetchval("SELECT redemption_count FROM vouchers WHERE code = $1", code) == len(redeemed)
    retried = {request_id for request_id, _ in load.failures}
    assert retried <= set(redeemed), "every failed request succeeded on a retry"
    statuses = sorted({status for _, status in load.failures})
    print(f"\n{sig.name}: {len(redeemed)} redeemed, {len(load.failures)} failed attempts {statuses} "
          f"over {len(retried)} requests, each landed once on retry")  # fmt: skip
    if sig == signal.SIGTERM:
        assert load.failures == [], load.failures  # drained: nothing in flight failed
        assert victim.process.returncode == 0
    assert gateway.api_hosts()[survivor.target].healthy
