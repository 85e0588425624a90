"""The flash-sale pre-gate: a Redis counter of remaining stock in front of PostgreSQL (DESIGN.md invariant 2).

A redeem of a flash-sale voucher first takes one unit here, atomically in a Lua script. When none is left the
request is refused without touching PostgreSQL; when one is taken, the normal PostgreSQL redemption runs and still
enforces `max_redemptions` on its own (invariant 1). Redis is never the system of record: the counter is built from
PostgreSQL (`max_redemptions - redemption_count`) whenever it is missing, deleted when a voucher's terms change, and
corrected by the reconciliation (flash_sale_reconciliation.py).

Errors are asymmetric, and every rule below keeps them on the safe side:
- a counter that is too HIGH only lets a few extra requests reach PostgreSQL, which refuses them; a refusal by
  PostgreSQL's own count then keeps the unit (does not give it back), so an excess burns itself off;
- a counter that is too LOW would refuse redemptions PostgreSQL would allow, so nothing here lowers a counter on a
  guess: units are taken only by admissions, and only the reconciliation corrects, under a rule that proves quiet.

Keys are hash-tagged per voucher, `vf:{<tenant id>:<CODE>}:...`, so a voucher's keys share one Redis Cluster slot
and the scripts (which touch several of them) run there unchanged. They are keyed by the code (immutable, unique per
tenant, and what a redeem request carries) so the gate runs before any SQL. Per voucher:
- `...:stock`, a hash: `units` (remaining stock) and `version` (changes with every change of `units`);
- `...:leases`, a sorted set: one member per admission (or rollback) whose PostgreSQL step has not finished yet,
  scored by its deadline, so the reconciliation can tell a quiet voucher from one with redemptions in flight.

When Redis fails, the gate steps aside: redeems run on PostgreSQL alone (still exact, only without the pre-gate),
counted as `bypassed`, and Redis is not asked again for a short while so an outage costs each request nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import redis.exceptions

from vauchflow_core.redis_client import RedisClient
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption_rules import GateAnswer

log = logging.getLogger(__name__)

_USE = "flash_sale"
# A counter nobody asks for disappears after a day and is rebuilt from PostgreSQL when next needed.
_COUNTER_TTL_SECONDS = 24 * 3600
# An admission whose PostgreSQL step has not finished after this long is presumed dead (its process crashed). Only
# the reconciliation reads leases; a live request outlasting its lease can at worst leave the counter too high.
# A lease whose settle was lost (a master that died before replicating it) also holds corrections back until then.
LEASE_SECONDS = 120.0
_KEY_PATTERN = re.compile(r"^vf:\{([0-9a-f-]{36}):([A-Z0-9_-]{1,64})\}:stock$")

# Every script is idempotent per lease id: the Redis client retries a call whose reply was lost, and a retried take
# or settle must not take or give back a second unit.
# KEYS: stock, leases. ARGV: lease id, lease deadline. → 1 admitted, 0 sold out, -1 no counter.
_TAKE = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 1 end
local units = redis.call('HGET', KEYS[1], 'units')
if not units then return -1 end
if tonumber(units) <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'units', -1)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# As _TAKE, after creating the counter with ARGV[4] units unless one exists (never overwrites a live counter).
# The version starts from a clock value so a rebuilt counter never repeats a version the reconciliation saw.
_BUILD_AND_TAKE = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 1 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'units', ARGV[4], 'version', ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
local units = tonumber(redis.call('HGET', KEYS[1], 'units'))
if units <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'units', -1)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: stock, leases. ARGV: lease id, 1 to give the unit back. Ends the lease; gives back only to a live counter
# (a missing one is rebuilt from PostgreSQL, which already counts the unit as free). → 1 if a unit went back.
_SETTLE = """
local held = redis.call('ZREM', KEYS[2], ARGV[1])
if held == 1 and ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'units', 1)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  return 1
end
return 0
"""

# KEYS: leases. ARGV: lease id, deadline, key ttl. A rollback holds a lease from before its COMMIT until it has
# given its unit back, so the reconciliation never sees PostgreSQL's count without the matching Redis change.
_HOLD = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: stock, leases. ARGV: now. Drops expired leases. → {units, version, live leases} or nil without a counter.
_SNAPSHOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'units', 'version')
if not state[1] then return nil end
return {state[1], state[2], redis.call('ZCARD', KEYS[2])}
"""

# KEYS: stock, leases. ARGV: version seen, correct units, now. Sets the units only if nothing changed since the
# snapshot and nothing is in flight. → 1 corrected, 0 already right, -1 changed meanwhile (try again later).
_CORRECT = """
local version = redis.call('HGET', KEYS[1], 'version')
if not version or version ~= ARGV[1] then return -1 end
if redis.call('ZCOUNT', KEYS[2], ARGV[3], '+inf') > 0 then return -1 end
if redis.call('HGET', KEYS[1], 'units') == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'units', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
"""

_REDIS_ERRORS = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)


PLAIN_MEMORY_SECONDS = 2.0
_MAX_PLAIN_MEMORY = 100_000


@dataclass(frozen=True)
class VoucherKey:
    tenant_id: UUID
    code: str

    @property
    def stock(self) -> str:
        return f"vf:{{{self.tenant_id}:{self.code}}}:stock"

    @property
    def leases(self) -> str:
        return f"vf:{{{self.tenant_id}:{self.code}}}:leases"

    @classmethod
    def parse(cls, stock_key: str) -> VoucherKey | None:
        match = _KEY_PATTERN.match(stock_key)
        return cls(UUID(match[1]), match[2]) if match else None


@dataclass(frozen=True)
class Snapshot:
    units: int
    version: str
    in_flight: int


class StockClaim:
    """One request's dealings with the gate for one voucher: take, maybe build, then settle exactly once."""

    def __init__(self, gate: FlashSaleGate, key: VoucherKey):
        self._gate = gate
        self.key = key
        self.answer = GateAnswer.BYPASSED
        self._lease: str | None = None

    @property
    def holds_unit(self) -> bool:
        return self._lease is not None

    async def take(self) -> GateAnswer:
        self.answer = await self._gate._take(self, remaining=None)
        return self.answer

    async def build_and_take(self, remaining: int) -> GateAnswer:
        """After PostgreSQL showed the voucher is a flash sale with `remaining` units and no counter existed."""
        self.answer = await self._gate._take(self, remaining=max(remaining, 0))
        return self.answer

    async def settle(self, *, give_back: bool) -> None:
        """Ends the admission: `give_back` when PostgreSQL did not count the unit. Safe to call when nothing is held.
        Shielded: a cancelled request still gets here, and cancelling the settle must not lose the unit."""
        lease, self._lease = self._lease, None
        if lease is not None:
            await asyncio.shield(self._gate._settle(self.key, lease, give_back))

    async def drop_counter(self) -> None:
        """For a voucher PostgreSQL shows is no longer a flash sale while a counter from before admitted this claim
        (its deletion failed): the unit goes back and the counter goes."""
        await self.settle(give_back=True)
        await self._gate.forget(self.key.tenant_id, self.key.code)

    def _hold(self, lease: str | None) -> None:
        self._lease = lease


class UnitReturn:
    """A rollback's unit going back to its flash-sale counter, as one scope around the rollback's transaction.

    `hold` inside the transaction, before COMMIT, so the reconciliation never sees PostgreSQL's count without the
    matching Redis change (see _HOLD). When the scope ends the unit goes back if the transaction committed (the scope
    ended without an error); after an error or a cancellation only the hold ends."""

    def __init__(self, gate: FlashSaleGate | None, tenant_id: UUID):
        self._gate = gate
        self._tenant_id = tenant_id
        self._claim: StockClaim | None = None

    async def hold(self, code: str) -> None:
        if self._gate is not None and self._claim is None:
            self._claim = await self._gate.hold_for_return(self._tenant_id, code)

    async def __aenter__(self) -> UnitReturn:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        claim, self._claim = self._claim, None
        if claim is not None:
            await claim.settle(give_back=exc_type is None)


class FlashSaleGate:
    def __init__(
        self,
        client: RedisClient,
        metrics: ServerMetrics,
        *,
        timeout_seconds: float = 0.5,
        retry_after_seconds: float = 1.0,
    ):
        self._client = client
        self._metrics = metrics
        self._timeout = timeout_seconds
        self._retry_after = retry_after_seconds
        self._down_until = 0.0
        # Loaded once (SCRIPT LOAD on first use) and called by SHA; redis-py reloads on NOSCRIPT (a restarted,
        # flushed or failed-over Redis).
        self._take_script = client.register_script(_TAKE)
        self._build_and_take_script = client.register_script(_BUILD_AND_TAKE)
        self._settle_script = client.register_script(_SETTLE)
        self._hold_script = client.register_script(_HOLD)
        self._snapshot_script = client.register_script(_SNAPSHOT)
        self._correct_script = client.register_script(_CORRECT)
        # Vouchers PostgreSQL has just shown are not flash sales: their redeems skip the Redis round trip for a
        # moment. A voucher made a flash sale on another replica is gated here after at most PLAIN_MEMORY_SECONDS;
        # until then PostgreSQL alone decides, which is still exact.
        self._plain_until: dict[tuple[UUID, str], float] = {}

    def claim(self, tenant_id: UUID, code: str) -> StockClaim | None:
        """A claim for the voucher, or None when it is known not to be a flash sale (no gate needed)."""
        if self._plain_until.get((tenant_id, code), 0.0) > time.monotonic():
            return None
        return StockClaim(self, VoucherKey(tenant_id, code))

    def remember_plain(self, tenant_id: UUID, code: str) -> None:
        if len(self._plain_until) >= _MAX_PLAIN_MEMORY:
            self._plain_until.clear()
        self._plain_until[(tenant_id, code)] = time.monotonic() + PLAIN_MEMORY_SECONDS

    async def _take(self, claim: StockClaim, remaining: int | None) -> GateAnswer:
        # `bypassed` is counted by the engine, once it knows the voucher is a flash sale.
        if self._resting():
            return GateAnswer.BYPASSED
        lease = uuid.uuid4().hex
        key = claim.key
        args: list[str | int | float] = [lease, time.time() + LEASE_SECONDS, int(LEASE_SECONDS) * 2]
        # Held before the call: a take that times out or is cancelled may still have run. Settling the lease later
        # gives the unit back, or keeps it counted, only if the take happened (the scripts are idempotent per lease),
        # so an unanswered take can never leave the counter too low.
        claim._hold(lease)
        try:
            if remaining is None:
                result = await self._call(self._take_script(keys=[key.stock, key.leases], args=args))
            else:
                args += [remaining, time.time_ns() // 1000, _COUNTER_TTL_SECONDS]
                result = await self._call(self._build_and_take_script(keys=[key.stock, key.leases], args=args))
        except _REDIS_ERRORS as error:
            # A timeout leaves it unknown whether the script ran: the lease stays held (see above).
            self._failed("take", key, error)
            return GateAnswer.BYPASSED
        if result == 1:
            self._metrics.flash_sale_gate.labels(GateAnswer.ADMITTED.value).inc()
            return GateAnswer.ADMITTED
        claim._hold(None)  # the script ran and took nothing
        if result == 0:
            self._metrics.flash_sale_gate.labels(GateAnswer.SOLD_OUT.value).inc()
            return GateAnswer.SOLD_OUT
        return GateAnswer.MISSING

    async def _settle(self, key: VoucherKey, lease: str, give_back: bool) -> None:
        try:
            try:
                returned = await self._call(
                    self._settle_script(keys=[key.stock, key.leases], args=[lease, 1 if give_back else 0])
                )
            except TimeoutError:
                # Once more (the script is idempotent per lease): a unit not settled stays held until its lease
                # expires, and a moment's stall of a busy process is more likely than Redis being gone.
                returned = await self._call(
                    self._settle_script(keys=[key.stock, key.leases], args=[lease, 1 if give_back else 0])
                )
        except _REDIS_ERRORS as error:
            # The unit stays taken in Redis (too low) until the lease expires and the reconciliation corrects it.
            self._failed("settle", key, error)
            return
        if returned:
            self._metrics.flash_sale_gate.labels("returned").inc()

    async def hold_for_return(self, tenant_id: UUID, code: str) -> StockClaim:
        """For a rollback of a flash-sale redemption, through UnitReturn: inside its transaction, before COMMIT;
        after COMMIT, `settle(give_back=True)` returns the unit (or `give_back=False` if the transaction failed)."""
        # Not self.claim(): PostgreSQL has just shown a flash sale, whatever this process remembers as plain.
        claim = StockClaim(self, VoucherKey(tenant_id, code))
        if self._resting():
            return claim
        lease = uuid.uuid4().hex
        key = claim.key
        try:
            await self._call(
                self._hold_script(keys=[key.leases], args=[lease, time.time() + LEASE_SECONDS, int(LEASE_SECONDS) * 2])
            )
        except _REDIS_ERRORS as error:
            self._failed("hold", key, error)
            return claim
        claim._hold(lease)
        return claim

    async def forget(self, tenant_id: UUID, code: str) -> None:
        """Drops the counter after the voucher's terms changed (committed); the next redeem rebuilds it."""
        self._plain_until.pop((tenant_id, code), None)
        key = VoucherKey(tenant_id, code)
        try:
            await self._call(self._client.delete(key.stock))
        except _REDIS_ERRORS as error:
            # Left as it was until the reconciliation finds it differs from PostgreSQL (or no longer a flash sale).
            self._failed("forget", key, error)

    # For the reconciliation

    async def counter_keys(self, batch: int = 500) -> AsyncIterator[VoucherKey]:
        """Every voucher with a counter (on a Redis Cluster the client scans every master in turn)."""
        async for raw in self._client.scan_iter(match="vf:{*}:stock", count=batch):
            key = VoucherKey.parse(raw.decode() if isinstance(raw, bytes) else raw)
            if key is not None:
                yield key

    async def snapshot(self, key: VoucherKey) -> Snapshot | None:
        state = await self._call(self._snapshot_script(keys=[key.stock, key.leases], args=[time.time()]))
        if state is None:
            return None
        units, version, in_flight = state
        return Snapshot(int(units), version.decode() if isinstance(version, bytes) else str(version), int(in_flight))

    async def correct(self, key: VoucherKey, seen: Snapshot, units: int) -> int:
        """1 corrected to `units`, 0 already right, -1 the counter changed since `seen` (leave it for next time)."""
        return int(
            await self._call(
                self._correct_script(keys=[key.stock, key.leases], args=[seen.version, units, time.time()])
            )
        )

    async def drop(self, key: VoucherKey) -> None:
        await self._call(self._client.delete(key.stock))

    # Redis failures

    async def _call(self, awaitable):
        return await asyncio.wait_for(awaitable, self._timeout)

    def _resting(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, step: str, key: VoucherKey, error: BaseException) -> None:
        self._metrics.redis_errors.labels(_USE).inc()
        already_down = self._resting()
        self._down_until = time.monotonic() + self._retry_after
        if already_down:
            return  # one warning per outage window, not one per request
        log.warning(
            "flash-sale gate: Redis unavailable, PostgreSQL alone decides",
            extra={"action": "flash_sale_gate_failed", "step": step, "tenant_id": str(key.tenant_id),
                   "voucher_code": key.code, "error_type": type(error).__name__},
        )  # fmt: skip
