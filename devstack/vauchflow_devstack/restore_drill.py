"""The restore drill: proves on a throwaway cluster that backups restore to a point in time and to the latest WAL.

`python -m vauchflow_devstack.restore_drill` (`make restore-drill`) and tests/e2e/test_restore_drill.py run it.
It never touches the dev stack's data: everything lives in a fresh temporary folder, on ports the kernel picks.

1. A durable PostgreSQL 18 (migrated), Redis, the real backup job (`python -m vauchflow_backup`, encrypted
   repository) and the real API server. The job takes its start-up base backup and streams WAL.
2. Tenants redeem vouchers through the API; T is noted; they redeem more; PostgreSQL is SIGKILLed mid-load and
   its data directory deleted.
3. Restore to T into a fresh directory and start PostgreSQL on it: every redemption acknowledged before T is
   there and none after; every voucher's redemption_count equals its redemption rows; the app role sees only the
   tenant it sets (row-level security); webhook signing secrets decrypt with the key ring; the API server starts
   on it and serves the restored vouchers.
4. Restore to the latest WAL: the redemptions lost are those acknowledged in the last moments before the kill,
   at most 60 seconds' worth (the figure is measured and printed).

Each check and the elapsed times are printed; any failed check raises DrillFailed (exit code 1).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg
import grpc

from vauchflow.v1 import (
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from vauchflow_backup import BackupConfig, Repository
from vauchflow_backup.restore import restore
from vauchflow_core.db.migrate import APP_ROLE, migrate
from vauchflow_core.secret_box import KeyRing, Sealed, generate_key_ring_text
from vauchflow_core.webhook_endpoints import format_signing_secret, open_signing_secret
from vauchflow_devstack.child_process import ChildProcessFailed, start_child, stop_child, wait_until
from vauchflow_devstack.postgres import EmbeddedPostgres
from vauchflow_devstack.redis import EmbeddedRedis
from vauchflow_devstack.stack import grpc_serving

DATABASE = "vauchflow"
TENANTS = 3
VOUCHERS_PER_TENANT = 2
# The promise the drill checks: at most this much of the newest data is lost when the database disappears.
MAX_LOSS_SECONDS = 60.0
CALL_TIMEOUT = 10.0


class DrillFailed(AssertionError):
    """A check of the drill failed; the message says which and by how much."""


@dataclass(frozen=True)
class Redeemed:
    tenant_id: str
    redemption_id: str
    voucher_code: str
    acknowledged_at: float  # time.time() when the API answered


@dataclass
class DrillTenant:
    tenant_id: str
    secret: str
    voucher_codes: list[str]
    webhook_endpoint_id: str = ""
    webhook_secret: str = ""


@dataclass
class DrillReport:
    checks: list[str] = field(default_factory=list)
    backup_seconds: float = 0.0
    backup_bytes: int = 0
    redeemed_before_target: int = 0
    redeemed_after_target: int = 0
    restore_to_time_seconds: float = 0.0
    recovery_to_time_seconds: float = 0.0
    api_start_on_restore_seconds: float = 0.0
    restore_latest_seconds: float = 0.0
    recovery_latest_seconds: float = 0.0
    lost_at_latest: int = 0
    # Seconds between the oldest lost redemption's acknowledgement and the kill; 0 when none was lost.
    lost_window_seconds: float = 0.0
    total_seconds: float = 0.0


class Drill:
    def __init__(self, work_dir: Path, *, load_seconds: float = 3.0, say: Callable[[str], None] = print) -> None:
        self.work_dir = work_dir
        self.load_seconds = load_seconds
        self._say = say
        self.report = DrillReport()
        self.started = time.monotonic()
        self._stops: list[Callable[[], object]] = []
        self.app_password = secrets.token_urlsafe(24)
        self.delivery_password = secrets.token_urlsafe(24)
        self.admin_token = "vf_op_" + secrets.token_urlsafe(24)
        self.webhook_keys = generate_key_ring_text()
        self.backup_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.repository_dir = work_dir / "repository"
        self.tenants: list[DrillTenant] = []

    # -- output -------------------------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self._say(f"[{time.monotonic() - self.started:6.1f}s] {message}")

    def check(self, ok: bool, description: str, detail: str = "") -> None:
        line = f"{description}{f' ({detail})' if detail else ''}"
        if not ok:
            self.say(f"FAILED  {line}")
            raise DrillFailed(line)
        self.report.checks.append(line)
        self.say(f"ok      {line}")

    # -- the drill ----------------------------------------------------------------------------------------------

    def run(self) -> DrillReport:
        try:
            self._run()
        finally:
            while self._stops:
                try:
                    self._stops.pop()()
                except Exception as error:  # keep stopping the rest
                    self.say(f"could not stop a process: {error}")
        self.report.total_seconds = time.monotonic() - self.started
        self.say(f"drill finished in {self.report.total_seconds:.1f}s")
        return self.report

    def _run(self) -> None:
        source = EmbeddedPostgres(self.work_dir / "source", _free_port())
        source.start()
        self._stops.append(source.stop)
        source.create_database(DATABASE)
        asyncio.run(migrate(source.owner_dsn(DATABASE), self.app_password, self.delivery_password))
        redis = EmbeddedRedis(self.work_dir / "redis", _free_port())
        redis.start()
        self._stops.append(redis.stop)
        self.redis_url = redis.url
        self.say(f"throwaway cluster on port {source.port}, migrated; Redis on {redis.port}")

        job = self._start_backup_job(source)
        backup_started = time.monotonic()
        repository = Repository(self.repository_dir)
        wait_until(lambda: bool(repository.read_catalog().restorable), process=job, name="backup job",
                   timeout=120, log_path=self.work_dir / "backup-job.log")  # fmt: skip
        backup = repository.read_catalog().restorable[-1]
        self.report.backup_seconds, self.report.backup_bytes = backup.duration_seconds, backup.size_bytes
        self.say(f"base backup {backup.id}: {backup.size_bytes / 2**20:.1f} MiB in {backup.duration_seconds:.1f}s "
                 f"(job up to backup {time.monotonic() - backup_started:.1f}s); WAL streaming")  # fmt: skip

        server = self._start_api_server(source, "api-source")
        self._create_tenants(server)
        self.say(f"{TENANTS} tenants with {VOUCHERS_PER_TENANT} vouchers and a webhook endpoint each")

        before = self._redeem_for(server, self.load_seconds)
        target = _server_time(source)
        self.say(f"{len(before)} redemptions acknowledged; T = {target.isoformat()}")
        after, killed_at = self._redeem_then_kill(server, source)
        self.report.redeemed_before_target, self.report.redeemed_after_target = len(before), len(after)
        self.say(f"{len(after)} more redemptions acknowledged after T; PostgreSQL SIGKILLed mid-load")
        shutil.rmtree(source.data_dir)
        self.say(f"data directory {source.data_dir} deleted")
        self._stop_child(server, "api-source")
        code = self._stop_child(job, "backup job")
        self.check(code == 0, "the backup job stops cleanly on SIGTERM", f"exit code {code}")

        config = BackupConfig(database_url="", repository_dir=self.repository_dir,
                              encryption_key=base64.b64decode(self.backup_key))  # fmt: skip
        at_target = self._restore(config, source, "restored-at-t", target)
        self._check_restored_at_target(at_target, before, after)
        self._check_api_serves(at_target, before)
        at_target.stop()

        latest = self._restore(config, source, "restored-latest", None)
        self._check_latest(latest, before + after, killed_at)
        latest.stop()

    # -- steps --------------------------------------------------------------------------------------------------

    def _start_backup_job(self, source: EmbeddedPostgres) -> subprocess.Popen[bytes]:
        env = _clean_env()
        env.update(
            DATABASE_URL=source.owner_dsn(DATABASE),
            VAUCHFLOW_BACKUP_DIR=str(self.repository_dir),
            VAUCHFLOW_BACKUP_ENCRYPTION_KEY=self.backup_key,
            VAUCHFLOW_BACKUP_METRICS_PORT=str(_free_port()),
            VAUCHFLOW_BACKUP_WAL_SWEEP_SECONDS="0.5",
        )
        job = start_child([sys.executable, "-m", "vauchflow_backup"], name="backup", env=env,
                          log_path=self.work_dir / "backup-job.log")  # fmt: skip
        self._stops.append(lambda: stop_child(job, name="backup", timeout=30))
        return job

    def _start_api_server(self, cluster: EmbeddedPostgres, name: str) -> subprocess.Popen[bytes]:
        port = _free_port()
        env = _clean_env()
        env.update(
            DATABASE_URL=cluster.dsn(DATABASE, APP_ROLE, self.app_password),
            REDIS_URL=self.redis_url,
            VAUCHFLOW_ADMIN_TOKEN=self.admin_token,
            VAUCHFLOW_GRPC_HOST="127.0.0.1",
            VAUCHFLOW_GRPC_PORT=str(port),
            VAUCHFLOW_WEBHOOK_KEYS=self.webhook_keys,
            VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
            VAUCHFLOW_WEBHOOK_ALLOW_HTTP="true",
        )
        log_path = self.work_dir / f"{name}.log"
        server = start_child([sys.executable, "-m", "vauchflow_server"], name=name, env=env, log_path=log_path)
        self._stops.append(lambda: stop_child(server, name=name, timeout=30))
        self.server_target = f"127.0.0.1:{port}"
        target = self.server_target
        wait_until(lambda: grpc_serving(target), process=server, name=name, timeout=60, log_path=log_path,
                   interval=0.1)  # fmt: skip
        return server

    def _stop_child(self, process: subprocess.Popen[bytes], name: str) -> int:
        return stop_child(process, name=name, sig=signal.SIGTERM, timeout=30)

    def _create_tenants(self, _server: subprocess.Popen[bytes]) -> None:
        with grpc.insecure_channel(self.server_target) as channel:
            operator = _bearer(self.admin_token)
            for index in range(TENANTS):
                created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
                    tenant_service_pb2.CreateTenantRequest(name=f"drill merchant {index}", plan=tenant_pb2.PLAN_SCALE),
                    metadata=operator, timeout=CALL_TIMEOUT,
                )  # fmt: skip
                key = _bearer(created.secret)
                tenant = DrillTenant(created.tenant.id, created.secret, [])
                for number in range(VOUCHERS_PER_TENANT):
                    code = f"DRILL{index}-{number}-{uuid.uuid4().hex[:6].upper()}"
                    voucher_service_pb2_grpc.VoucherServiceStub(channel).CreateVoucher(
                        voucher_service_pb2.CreateVoucherRequest(
                            voucher=voucher_pb2.Voucher(code=code, discount=voucher_pb2.Discount(amount_off=100),
                                                        currency="EUR", max_redemptions=1_000_000),
                            request_id=str(uuid.uuid4()),
                        ),
                        metadata=key, timeout=CALL_TIMEOUT,
                    )  # fmt: skip
                    tenant.voucher_codes.append(code)
                endpoint = webhook_service_pb2_grpc.WebhookServiceStub(channel).CreateWebhookEndpoint(
                    webhook_service_pb2.CreateWebhookEndpointRequest(
                        webhook_endpoint=webhook_pb2.WebhookEndpoint(url=f"http://127.0.0.1:9/drill-{index}"),
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=key, timeout=CALL_TIMEOUT,
                )  # fmt: skip
                tenant.webhook_endpoint_id, tenant.webhook_secret = endpoint.webhook_endpoint.id, endpoint.secret
                self.tenants.append(tenant)

    def _redeem_for(self, _server: subprocess.Popen[bytes], seconds: float) -> list[Redeemed]:
        stop = threading.Event()
        results: list[Redeemed] = []
        threads = [
            threading.Thread(target=self._redeem_loop, args=(tenant, stop, threading.Event(), results))
            for tenant in self.tenants
        ]
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        return results

    def _redeem_then_kill(self, _server: subprocess.Popen[bytes], source: EmbeddedPostgres,
                          ) -> tuple[list[Redeemed], float]:  # fmt: skip
        """Redeems for load_seconds, then SIGKILLs PostgreSQL while the redemptions keep coming."""
        stop, dying = threading.Event(), threading.Event()
        results: list[Redeemed] = []
        threads = [
            threading.Thread(target=self._redeem_loop, args=(tenant, stop, dying, results)) for tenant in self.tenants
        ]
        for thread in threads:
            thread.start()
        stop.wait(self.load_seconds)
        # Before the kill: from here on a failed redemption is expected, however late this thread gets to stop.set().
        dying.set()
        source.kill()
        # After the kill returns: every acknowledgement the API sent came before this moment.
        killed_at = time.time()
        stop.set()
        for thread in threads:
            thread.join()
        return results, killed_at

    def _redeem_loop(
        self, tenant: DrillTenant, stop: threading.Event, dying: threading.Event, results: list[Redeemed]
    ) -> None:
        key = _bearer(tenant.secret)
        with grpc.insecure_channel(self.server_target) as channel:
            stub = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
            number = 0
            while not stop.is_set():
                number += 1
                code = tenant.voucher_codes[number % len(tenant.voucher_codes)]
                order = f"order-{uuid.uuid4().hex[:12]}"
                try:
                    response = stub.RedeemVoucher(
                        redemption_service_pb2.RedeemVoucherRequest(
                            code=code, customer_id=f"customer-{number}", request_id=order,
                            order=redemption_pb2.Order(id=order, amount=5_000, currency="EUR"),
                        ),
                        metadata=key, timeout=CALL_TIMEOUT,
                    )  # fmt: skip
                except grpc.RpcError:
                    # Only once PostgreSQL is being killed; what was not acknowledged does not count as redeemed.
                    if dying.is_set():
                        return
                    raise
                results.append(Redeemed(tenant.tenant_id, response.redemption.id, code, time.time()))

    def _restore(self, config: BackupConfig, source: EmbeddedPostgres, name: str,
                 target: datetime | None) -> EmbeddedPostgres:  # fmt: skip
        cluster = EmbeddedPostgres(self.work_dir / name, _free_port())
        cluster.root_dir.mkdir()
        # The owner's password is a secret kept apart from the data (like the webhook key ring), not restored.
        shutil.copy(source.root_dir / "owner.password", cluster.root_dir / "owner.password")
        result = restore(config, Repository(self.repository_dir), cluster.data_dir, target)
        what = "to T" if target is not None else "to the latest WAL"
        # Recovery runs from the server's start: replaying the WAL, then promotion to a new timeline.
        recovery_started = time.monotonic()
        cluster.start(timeout=120)
        self._stops.append(cluster.stop)
        _wait_promoted(cluster)
        recovery = time.monotonic() - recovery_started
        self.check(result.wal_gap_after is None, f"the WAL restored {'to T' if target else 'to latest'} has no holes",
                   f"{result.wal_files_staged} file(s) from segment {result.backup.start_wal_file}")  # fmt: skip
        if target is not None:
            self.report.restore_to_time_seconds, self.report.recovery_to_time_seconds = result.seconds, recovery
        else:
            self.report.restore_latest_seconds, self.report.recovery_latest_seconds = result.seconds, recovery
        self.say(f"restored {what}: backup {result.backup.id} + {result.wal_files_staged} WAL file(s) "
                 f"{'(with the open segment) ' if result.includes_partial_segment else ''}unpacked in "
                 f"{result.seconds:.1f}s; PostgreSQL recovered and promoted in {recovery:.1f}s")  # fmt: skip
        return cluster

    def _check_restored_at_target(self, cluster: EmbeddedPostgres, before: list[Redeemed],
                                  after: list[Redeemed]) -> None:  # fmt: skip
        present = asyncio.run(_redemption_ids(cluster.owner_dsn(DATABASE)))
        missing = [r for r in before if r.redemption_id not in present]
        self.check(not missing, "every redemption acknowledged before T is restored",
                   f"{len(before) - len(missing)} of {len(before)}")  # fmt: skip
        leaked = [r for r in after if r.redemption_id in present]
        self.check(not leaked, "no redemption from after T is restored", f"{len(leaked)} of {len(after)} present")
        self.check(len(present) == len(before), "nothing else was restored",
                   f"{len(present)} rows, {len(before)} expected")  # fmt: skip
        mismatched = asyncio.run(_vouchers_with_wrong_count(cluster.owner_dsn(DATABASE)))
        self.check(not mismatched, "every voucher's redemption_count equals its redemption rows",
                   f"{len(mismatched)} mismatched" if mismatched else "")  # fmt: skip
        app_dsn = cluster.dsn(DATABASE, APP_ROLE, self.app_password)
        for tenant in self.tenants:
            seen = asyncio.run(_tenants_visible_to_app(app_dsn, tenant.tenant_id))
            expected = sum(1 for r in before if r.tenant_id == tenant.tenant_id)
            self.check(seen == {tenant.tenant_id: expected},
                       f"RLS: the app role as tenant {tenant.tenant_id[:8]} sees only its own {expected} redemptions",
                       f"saw {dict((k[:8], v) for k, v in seen.items())}")  # fmt: skip
        self.check(asyncio.run(_tenants_visible_to_app(app_dsn, None)) == {},
                   "RLS: the app role without a tenant sees no redemptions")  # fmt: skip
        ring = KeyRing.parse(self.webhook_keys)
        opened = asyncio.run(_open_webhook_secrets(cluster.owner_dsn(DATABASE), ring))
        expected_secrets = {t.webhook_endpoint_id: t.webhook_secret for t in self.tenants}
        self.check(opened == expected_secrets, "webhook signing secrets decrypt with the key ring and match",
                   f"{len(opened)} endpoints")  # fmt: skip

    def _check_api_serves(self, cluster: EmbeddedPostgres, before: list[Redeemed]) -> None:
        started = time.monotonic()
        server = self._start_api_server(cluster, "api-restored")
        self.report.api_start_on_restore_seconds = time.monotonic() - started
        counts: dict[str, int] = {}
        with grpc.insecure_channel(self.server_target) as channel:
            stub = voucher_service_pb2_grpc.VoucherServiceStub(channel)
            for tenant in self.tenants:
                for code in tenant.voucher_codes:
                    voucher = stub.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code),
                                              metadata=_bearer(tenant.secret),
                                              timeout=CALL_TIMEOUT).voucher  # fmt: skip
                    counts[code] = voucher.redemption_count
        expected = {voucher_code: sum(1 for r in before if r.voucher_code == voucher_code) for voucher_code in counts}
        self.check(counts == expected, "the API server starts on the restored database and serves its vouchers",
                   f"SERVING after {self.report.api_start_on_restore_seconds:.1f}s; "
                   f"{sum(counts.values())} redemptions counted")  # fmt: skip
        exit_code = self._stop_child(server, "api-restored")
        self.check(exit_code == 0, "the API server on the restore stops cleanly", f"exit code {exit_code}")

    def _check_latest(self, cluster: EmbeddedPostgres, acknowledged: list[Redeemed], killed_at: float) -> None:
        present = asyncio.run(_redemption_ids(cluster.owner_dsn(DATABASE)))
        lost = [r for r in acknowledged if r.redemption_id not in present]
        # Acknowledged (so committed and flushed on the primary) but not yet sent to pg_receivewal when the
        # server died: asynchronous streaming's window, usually a few milliseconds.
        window = max(0.0, killed_at - min(r.acknowledged_at for r in lost)) if lost else 0.0
        self.report.lost_at_latest, self.report.lost_window_seconds = len(lost), window
        self.check(window <= MAX_LOSS_SECONDS,
                   f"restore to the latest point loses at most {MAX_LOSS_SECONDS:.0f}s of redemptions",
                   f"{len(lost)} of {len(acknowledged)} acknowledged redemptions lost"
                   + (f", all from the last {window:.3f}s before the kill" if lost else ""))  # fmt: skip
        mismatched = asyncio.run(_vouchers_with_wrong_count(cluster.owner_dsn(DATABASE)))
        self.check(not mismatched, "after the latest restore too, every redemption_count equals its rows")


# -- database checks (as the owner unless said otherwise) ----------------------------------------------------------


async def _redemption_ids(owner_dsn: str) -> set[str]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return {str(row["id"]) for row in await conn.fetch("SELECT id FROM redemptions")}
    finally:
        await conn.close()


async def _vouchers_with_wrong_count(owner_dsn: str) -> list[str]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT v.code FROM vouchers v
            WHERE v.redemption_count <> (SELECT count(*) FROM redemptions r
                                         WHERE r.tenant_id = v.tenant_id AND r.voucher_id = v.id
                                           AND r.status = 'SUCCEEDED')
            """
        )
        return [row["code"] for row in rows]
    finally:
        await conn.close()


async def _tenants_visible_to_app(app_dsn: str, tenant_id: str | None) -> dict[str, int]:
    """Redemption counts by tenant as the app role sees them with tenant_id set for the transaction (or none)."""
    conn = await asyncpg.connect(app_dsn)
    try:
        async with conn.transaction():
            if tenant_id is not None:
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            rows = await conn.fetch("SELECT tenant_id, count(*) AS n FROM redemptions GROUP BY tenant_id")
        return {str(row["tenant_id"]): int(row["n"]) for row in rows}
    finally:
        await conn.close()


async def _open_webhook_secrets(owner_dsn: str, ring: KeyRing) -> dict[str, str]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT tenant_id, id, secret_ciphertext, secret_nonce, secret_key_version FROM webhook_endpoints"
        )
    finally:
        await conn.close()
    opened = {}
    for row in rows:
        sealed = Sealed(bytes(row["secret_ciphertext"]), bytes(row["secret_nonce"]), row["secret_key_version"])
        raw = open_signing_secret(ring, sealed, tenant_id=UUID(str(row["tenant_id"])),
                                  endpoint_id=UUID(str(row["id"])))  # fmt: skip
        opened[str(row["id"])] = format_signing_secret(raw)
    return opened


def _server_time(cluster: EmbeddedPostgres) -> datetime:
    """Now by PostgreSQL's clock, which stamps the commits recovery compares the target with."""
    text = cluster.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def _wait_promoted(cluster: EmbeddedPostgres, timeout: float = 120.0) -> float:
    """Seconds until the restored server has finished recovery and accepts writes."""
    started = time.monotonic()
    while cluster.psql("SELECT pg_is_in_recovery()").strip() != "f":
        if cluster.process is None or cluster.process.poll() is not None:
            raise DrillFailed(f"PostgreSQL exited during recovery; see {cluster.log_path}")
        if time.monotonic() - started > timeout:
            raise DrillFailed(f"recovery did not finish within {timeout:.0f}s; see {cluster.log_path}")
        time.sleep(0.1)
    return time.monotonic() - started


def _bearer(secret: str) -> tuple[tuple[str, str | bytes], ...]:
    return (("authorization", f"Bearer {secret}"),)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """This process's environment without Vauchflow settings, so a developer's shell cannot redirect the drill."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("VAUCHFLOW_") and key not in ("DATABASE_URL", "REDIS_URL")}  # fmt: skip


def print_summary(report: DrillReport, say: Callable[[str], None] = print) -> None:
    say("restore drill passed:")
    say(f"  base backup            {report.backup_seconds:6.1f}s  ({report.backup_bytes / 2**20:.1f} MiB, encrypted)")
    say(f"  restore to T           {report.restore_to_time_seconds:6.1f}s unpack + "
        f"{report.recovery_to_time_seconds:.1f}s recovery  ({report.redeemed_before_target} redemptions before T, "
        f"{report.redeemed_after_target} after)")  # fmt: skip
    say(f"  API server on restore  {report.api_start_on_restore_seconds:6.1f}s to SERVING")
    say(f"  restore to latest      {report.restore_latest_seconds:6.1f}s unpack + "
        f"{report.recovery_latest_seconds:.1f}s recovery")  # fmt: skip
    say(f"  lost at latest         {report.lost_at_latest} redemptions (window {report.lost_window_seconds:.3f}s; "
        f"limit {MAX_LOSS_SECONDS:.0f}s)")  # fmt: skip
    say(f"  total                  {report.total_seconds:6.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m vauchflow_devstack.restore_drill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the drill's folder (logs, repository) afterwards")
    parser.add_argument("--load-seconds", type=float, default=3.0, help="how long each redemption phase runs")
    arguments = parser.parse_args()
    if arguments.load_seconds <= 0:
        parser.error("--load-seconds must be positive")
    work_dir = Path(tempfile.mkdtemp(prefix="vauchflow-restore-drill-"))
    print(f"restore drill in {work_dir}", flush=True)
    try:
        report = Drill(work_dir, load_seconds=arguments.load_seconds, say=lambda m: print(m, flush=True)).run()
    except (DrillFailed, ChildProcessFailed) as error:
        print(f"restore drill FAILED: {error}", file=sys.stderr)
        print(f"logs kept in {work_dir}", file=sys.stderr)
        return 1
    print_summary(report)
    if arguments.keep:
        print(f"kept {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
