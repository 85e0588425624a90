"""Validate, redeem and roll back: the use cases behind RedemptionService.

Redeem is one transaction: the atomic conditional UPDATE of the voucher's count (DESIGN.md invariant 1), the
per-customer limit as a conditional upsert, the redemption row and its outbox events. Any denial raises, which
rolls the whole transaction back, so a refused redemption leaves no trace.

Flash-sale vouchers (invariant 2) are gated before that transaction: the Redis pre-gate takes one unit of stock,
or refuses as VOUCHER_EXHAUSTED without any SQL. The gate is asked first for every code (keyed by tenant and code),
and answers "no counter" for ordinary vouchers; PostgreSQL's read then tells whether a counter must be built.
Whatever happens after a unit is taken — a denial, an error, a cancellation, an idempotent replay — the unit is
settled exactly once: kept when PostgreSQL counted it (or proved none was left), given back otherwise.

Under load a tenant's concurrent redeems share transactions (redemption_batches.py): one transaction claims
their request_ids, reads and locks their vouchers, decides each in arrival order with the same rules, and writes
them in one statement. Whatever a batch does not handle — per-customer limits, a flash-sale counter to build or
drop, a request_id already used — runs alone in its own transaction, as above, after the batch commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from uuid import UUID

from vauchflow_core import errors, events
from vauchflow_server import resource_events

from vauchflow_server import idempotency
from vauchflow_server.db.database import Database, TenantTransaction
from vauchflow_core.errors import InvalidArgument, NotFound, RedemptionDenied, Violations, shown_id
from vauchflow_server.redemption.flash_sale_gate import Decision, FlashSaleGate, StockClaim
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.pagination import Page, make_page, page_request
from vauchflow_server.redemption.batches import Pending, RedemptionBatcher

from vauchflow_server.redemption_rules import (
    Order,
    check_order,
    customer_denial,
    discount_amount,
    order_denial,
    voucher_denial,
)
from vauchflow_server.redemptions import Redemption
from vauchflow_server.admin.voucher_admin import voucher_not_found
from vauchflow_server.redemption.voucher_queue import PerVoucherLimit
from vauchflow_server.vouchers import ACTIVE, Voucher, check_metadata, normalize_code

log = logging.getLogger(__name__)

_REDEEM_OPERATION = "RedeemVoucher"
MAX_ROLLBACK_REASON_LENGTH = 500


@dataclass(frozen=True)
class RedeemVoucher:
    code: str
    order: Order
    customer_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    request_id: str = ""


@dataclass(frozen=True)
class Validation:
    voucher: Voucher
    denial: str | None
    discount_amount: int


@dataclass(frozen=True)
class RedeemResult:
    redemption: Redemption
    voucher: Voucher
    # The original result of an earlier request with the same request_id.
    replayed: bool = False


@dataclass
class _Queued:
    """A redeem waiting for a batch: its normalised code, its gate claim (if any) and its new redemption id."""

    code: str
    command: RedeemVoucher
    claim: StockClaim | None
    redemption_id: UUID
    # Set when a batch takes the redeem: from then on the batch settles its gate claim, whether or not the caller
    # is still waiting (a cancelled caller's redemption may still commit, and its unit must then be kept).
    taken_by_batch: bool = False


@dataclass
class _BatchProgress:
    """What a batch transaction has decided so far, kept so a failure can be answered precisely."""

    decided: list["_Decided"] = field(default_factory=list)
    alone: list[Pending[_Queued, "RedeemResult"]] = field(default_factory=list)
    # The batch's statements are done and COMMIT was sent: a failure now leaves the outcome unknown.
    committing: bool = False


_Decided = tuple[Pending[_Queued, RedeemResult], "RedeemResult | Exception"]


def redemption_not_found(redemption_id: object) -> NotFound:
    return NotFound(f"no redemption with id {shown_id(redemption_id)}", reason="REDEMPTION_NOT_FOUND")


def _parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        # Not a syntax error to the caller: an id that can't exist simply isn't found.
        raise redemption_not_found(raw) from None


class RedemptionEngine:
    def __init__(
        self,
        db: Database,
        clock=lambda: datetime.now(timezone.utc),
        *,
        gate: FlashSaleGate | None = None,
        metrics: ServerMetrics | None = None,
        per_voucher_concurrency: int = 0,
        max_batch: int = 64,
        batches_in_flight: int = 2,
    ):
        self._db = db
        self._voucher_limit = PerVoucherLimit(per_voucher_concurrency)
        # max_batch 0: every redeem in its own transaction.
        self._batcher: RedemptionBatcher[_Queued, RedeemResult] | None = (
            RedemptionBatcher(self._redeem_batch, max_batch=max_batch, batches_in_flight=batches_in_flight)
            if max_batch > 0
            else None
        )
        self._clock = clock
        # None: no Redis configured; flash sales run on PostgreSQL alone.
        self._gate = gate
        self._metrics = metrics or ServerMetrics()

    async def validate(self, tenant_id: UUID, code: str, order: Order, customer_id: str) -> Validation:
        _check_request(order, customer_id, {}, "")
        async with self._db.tenant_transaction(tenant_id) as tx:
            voucher = await tx.voucher_by_code(normalize_code(code))
            if voucher is None:
                raise voucher_not_found(code)
            denial = voucher_denial(voucher, self._clock()) or order_denial(voucher, order)
            if denial is None and customer_id and voucher.terms.per_customer_limit is not None:
                used = await tx.customer_redemption_count(voucher.id, customer_id)
                denial = customer_denial(voucher, used)
        discount = 0 if denial else discount_amount(voucher, order)
        return Validation(voucher, denial, discount)

    async def redeem(self, tenant_id: UUID, command: RedeemVoucher) -> RedeemResult:
        _check_request(command.order, command.customer_id, command.metadata, command.request_id)
        code = normalize_code(command.code)
        # Codes are case-insensitive, so "summer" and "SUMMER" are the same request for idempotency too.
        command = dataclasses.replace(command, code=code)
        outcome = "SUCCEEDED"
        try:
            return await self._redeem(tenant_id, code, command)
        except RedemptionDenied as denial:
            outcome = denial.reason
            raise
        except BaseException:
            outcome = "ERROR"
            raise
        finally:
            self._metrics.redemptions.labels(outcome).inc()

    async def _redeem(self, tenant_id: UUID, code: str, command: RedeemVoucher) -> RedeemResult:
        claim = self._gate.claim(tenant_id, code) if self._gate is not None else None
        if claim is not None and await claim.take() is Decision.SOLD_OUT:
            # Sold out: no SQL, except that a retry of a request that did succeed must still get its result.
            if command.request_id:
                return await self._replay_only(tenant_id, command)
            raise errors.denied(errors.VOUCHER_EXHAUSTED)
        if self._batcher is not None:
            queued = _Queued(code, command, claim, uuid.uuid4())
            try:
                return await self._batcher.submit(tenant_id, queued)
            except BaseException:
                if not queued.taken_by_batch:  # cancelled while queued: nothing ran, the unit goes back
                    await _settle(claim, None)
                raise
        try:
            async with self._voucher_limit.slot((tenant_id, code)):
                result = await self._redeem_in_transaction(tenant_id, code, command, claim)
        except BaseException as error:
            await _settle(claim, error)
            raise
        await _settle(claim, result)
        return result

    async def _redeem_batch(self, tenant_id: UUID, batch: list[Pending[_Queued, RedeemResult]]) -> None:
        """Runs one batch (see redemption_batches.py) and answers every redeem in it: from the batch once it has
        committed, or alone. Gate claims are settled here, before answering, callers still waiting or not."""
        for pending in batch:
            pending.item.taken_by_batch = True
        progress = _BatchProgress()
        try:
            await self._decide_batch(tenant_id, batch, progress)
        except Exception as error:
            # Type only: an exception's text can carry SQL.
            log.warning(
                "redemption batch failed",
                extra={"action": "redeem_batch_failed", "error_type": type(error).__name__, "redeems": len(batch),
                       "during_commit": progress.committing},
            )  # fmt: skip
            if progress.committing:
                # The batch may have committed: its redeems get the error (UNAVAILABLE: "may not have been
                # applied"; a retry with the same request_id tells), not a second attempt that could contradict it.
                progress.decided = [(pending, error) for pending, _ in progress.decided]
            else:
                # Nothing was written: each redeem gets its own answer, alone.
                progress.decided, progress.alone = [], batch
        await asyncio.gather(*(_settle(p.item.claim, outcome) for p, outcome in progress.decided if p.item.claim))
        for pending, outcome in progress.decided:
            if isinstance(outcome, Exception):
                pending.fail(outcome)
            else:
                pending.resolve(outcome)
        if progress.alone:
            await asyncio.gather(*(self._redeem_alone(tenant_id, pending) for pending in progress.alone))

    async def _redeem_alone(self, tenant_id: UUID, pending: Pending[_Queued, RedeemResult]) -> None:
        queued = pending.item
        if pending.outcome.done():  # its caller went away before it ran: nothing runs, the unit goes back
            await _settle(queued.claim, None)
            return
        try:
            async with self._voucher_limit.slot((tenant_id, queued.code)):
                result = await self._redeem_in_transaction(
                    tenant_id, queued.code, queued.command, queued.claim, queued.redemption_id
                )
        except Exception as error:
            await _settle(queued.claim, error)
            pending.fail(error)
        except BaseException:
            await _settle(queued.claim, None)
            raise
        else:
            await _settle(queued.claim, result)
            pending.resolve(result)

    async def _decide_batch(
        self, tenant_id: UUID, batch: list[Pending[_Queued, RedeemResult]], progress: _BatchProgress
    ) -> None:
        """One transaction for the batch; fills progress with the redeems decided here (answered after COMMIT)
        and those to run alone."""
        decided, alone = progress.decided, progress.alone
        async with self._db.tenant_transaction(tenant_id) as tx:
            # A request_id twice in one batch: the first is decided here, the second replays it afterwards.
            first_with_key: dict[str, Pending[_Queued, RedeemResult]] = {}
            for pending in batch:
                key = pending.item.command.request_id
                if key and key in first_with_key:
                    alone.append(pending)
                elif key:
                    first_with_key[key] = pending
            owned: set[str] = set()
            if first_with_key:
                owned = await tx.claim_idempotency_keys(
                    _REDEEM_OPERATION,
                    [(key, idempotency.fingerprint(p.item.command), p.item.redemption_id)
                     for key, p in sorted(first_with_key.items())],
                )  # fmt: skip
                # A key owned by an earlier request: run alone after COMMIT, which replays (or refuses) it.
                alone += [p for key, p in first_with_key.items() if key not in owned]
            released: list[str] = []  # keys claimed above for redeems this batch does not write
            waiting = set(map(id, alone))
            ready = [p for p in batch if id(p) not in waiting]
            unsettled = [p for p in ready if p.item.claim is not None and p.item.claim.decision is not Decision.ADMITTED]
            if unsettled:
                # The gate had no counter: a flash sale's counter is built (in its own transaction) before it waits
                # for the row, as a redeem alone would; so look before locking, without a lock.
                peeked = await tx.vouchers_by_codes(sorted({p.item.code for p in unsettled}))
                for pending in unsettled:
                    voucher = peeked.get(pending.item.code)
                    if voucher is not None and not self._batchable(voucher, pending.item.claim):
                        alone.append(pending)
                        waiting.add(id(pending))
                        if pending.item.command.request_id in owned:
                            released.append(pending.item.command.request_id)
                ready = [p for p in ready if id(p) not in waiting]
            vouchers = await tx.vouchers_for_batch(sorted({p.item.code for p in ready})) if ready else {}
            now = self._clock()
            winners: list[tuple[Pending[_Queued, RedeemResult], Redemption, Voucher]] = []
            for pending in ready:
                queued = pending.item
                voucher = vouchers.get(queued.code)
                if voucher is None:
                    decided.append((pending, voucher_not_found(queued.command.code)))
                elif not self._batchable(voucher, queued.claim):
                    alone.append(pending)
                else:
                    if self._gate is not None and not voucher.terms.flash_sale:
                        self._gate.remember_plain(tenant_id, queued.code)
                    denial = voucher_denial(voucher, now) or order_denial(voucher, queued.command.order)
                    if not denial:
                        redemption = self._new_redemption(queued.redemption_id, voucher, queued.command)
                        voucher = vouchers[queued.code] = dataclasses.replace(
                            voucher, redemption_count=voucher.redemption_count + 1
                        )
                        winners.append((pending, redemption, voucher))
                        continue
                    decided.append((pending, errors.denied(denial)))
                # Not written by this batch: the key it claimed for this redeem goes too.
                if queued.command.request_id:
                    released.append(queued.command.request_id)
            if winners or released:
                batch_events = []
                for _, redemption, voucher in winners:
                    batch_events.append(resource_events.redemption_event(events.REDEMPTION_SUCCEEDED, redemption))
                    if voucher.remaining == 0:
                        batch_events.append(resource_events.voucher_event(events.VOUCHER_EXHAUSTED, voucher))
                redeemed_at = await tx.redeem_batch(
                    Counter(redemption.voucher_id for _, redemption, _ in winners),
                    [redemption for _, redemption, _ in winners],
                    batch_events,
                    _REDEEM_OPERATION,
                    released,
                )
                for pending, redemption, voucher in winners:
                    result = RedeemResult(
                        dataclasses.replace(redemption, create_time=redeemed_at),
                        dataclasses.replace(voucher, update_time=redeemed_at),
                    )
                    decided.append((pending, result))
            progress.committing = True

    def _batchable(self, voucher: Voucher, claim: StockClaim | None) -> bool:
        """Whether a batch can decide this redeem: not with a per-customer limit, nor when the gate's answer must
        first be brought in line with the voucher (a counter to build or drop, Redis unavailable)."""
        if voucher.terms.per_customer_limit is not None:
            return False
        if claim is None:
            return True  # known plain, or no Redis: PostgreSQL alone decides, which is exact
        if voucher.terms.flash_sale:
            return claim.decision is Decision.ADMITTED
        return claim.decision is Decision.MISSING

    def _new_redemption(self, redemption_id: UUID, voucher: Voucher, command: RedeemVoucher) -> Redemption:
        return Redemption(
            id=redemption_id,
            voucher_id=voucher.id,
            voucher_code=voucher.code,
            customer_id=command.customer_id,
            order=command.order,
            discount_amount=discount_amount(voucher, command.order),
            status="SUCCEEDED",
            metadata=command.metadata,
        )

    async def _redeem_in_transaction(
        self,
        tenant_id: UUID,
        code: str,
        command: RedeemVoucher,
        claim: StockClaim | None,
        redemption_id: UUID | None = None,
    ) -> RedeemResult:
        redemption_id = redemption_id or uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                original = await idempotency.claim(
                    tx, _REDEEM_OPERATION, command.request_id, idempotency.fingerprint(command), redemption_id
                )
                if original is not None:
                    return await _replay(tx, original)
            result = await self._redeem_in(tx, code, command, redemption_id, claim)
        return result

    async def _replay_only(self, tenant_id: UUID, command: RedeemVoucher) -> RedeemResult:
        """For a request the gate found sold out: the original result if request_id already redeemed, otherwise
        VOUCHER_EXHAUSTED. The key is claimed as a redeem would claim it, so a first request with this key still
        in its transaction is waited for (and replayed); the claim is always rolled back: nothing is written."""
        async with self._db.tenant_transaction(tenant_id) as tx:
            original = await idempotency.claim(
                tx, _REDEEM_OPERATION, command.request_id, idempotency.fingerprint(command), uuid.uuid4()
            )
            if original is None:
                raise errors.denied(errors.VOUCHER_EXHAUSTED)  # rolls the claim back
            return await _replay(tx, original)

    async def _redeem_in(
        self, tx: TenantTransaction, code: str, command: RedeemVoucher, redemption_id: UUID, claim: StockClaim | None
    ) -> RedeemResult:
        now = self._clock()
        voucher = await tx.voucher_by_code(code)
        if voucher is None:
            raise voucher_not_found(command.code)
        if claim is not None:
            await self._gate_checked(tx, voucher, claim)
        if self._gate is not None and not voucher.terms.flash_sale:
            self._gate.remember_plain(tx.tenant_id, code)
        # Refusals known from the voucher as read cost no write and no lock (a sold-out voucher stays cheap).
        denial = voucher_denial(voucher, now) or order_denial(voucher, command.order)
        if denial:
            raise errors.denied(denial)
        limit = voucher.terms.per_customer_limit
        if limit is not None:
            if not command.customer_id:
                raise InvalidArgument.single("customer_id", "is required: this voucher has a per-customer limit")
            if not await tx.take_customer_redemption(voucher.id, command.customer_id, limit):
                raise errors.denied(errors.CUSTOMER_LIMIT_REACHED)
        redemption = self._new_redemption(redemption_id, voucher, command)
        # The atomic conditional UPDATE, the redemption row and its events in one statement, last, so the
        # voucher's row lock is held only until COMMIT. It re-checks everything that can change under concurrency.
        if_exhausted = dataclasses.replace(voucher, redemption_count=voucher.terms.max_redemptions or 0)
        redeemed = await tx.redeem(
            redemption,
            now,
            resource_events.redemption_event(events.REDEMPTION_SUCCEEDED, redemption),
            resource_events.voucher_event(events.VOUCHER_EXHAUSTED, if_exhausted),
        )
        if redeemed is None:
            current = await tx.voucher_by_id(voucher.id)
            reason = current and (voucher_denial(current, now) or order_denial(current, command.order))
            # No nameable reason left means the state moved on (a concurrent rollback): the race for the last
            # unit was still lost.
            raise errors.denied(reason or errors.VOUCHER_EXHAUSTED)
        taken, stored = redeemed
        return RedeemResult(stored, taken)

    async def _gate_checked(self, tx: TenantTransaction, voucher: Voucher, claim: StockClaim) -> None:
        """Brings the gate's answer in line with the voucher as PostgreSQL has it."""
        if not voucher.terms.flash_sale:
            if claim.decision is Decision.ADMITTED:
                # A counter left from before flash_sale was turned off (its deletion failed): drop it.
                await claim.settle(give_back=True)
                assert self._gate is not None
                await self._gate.forget(tx.tenant_id, voucher.code)
            return
        if claim.decision is Decision.MISSING and voucher.terms.status == ACTIVE:
            # Built from this transaction's read; if a redemption commits before the counter exists, the counter
            # is one too high, which PostgreSQL corrects (see flash_sale_gate.py).
            decision = await claim.build_and_take(voucher.remaining or 0)
            if decision is Decision.SOLD_OUT:
                raise errors.denied(errors.VOUCHER_EXHAUSTED)
        if claim.decision is Decision.BYPASSED:
            self._metrics.flash_sale_gate.labels(Decision.BYPASSED.value).inc()

    async def get(self, tenant_id: UUID, redemption_id: str) -> Redemption:
        ident = _parse_id(redemption_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            redemption = await tx.get_redemption(ident)
        if redemption is None:
            raise redemption_not_found(redemption_id)
        return redemption

    async def list(self, tenant_id: UUID, voucher_code: str, page_size: int, page_token: str) -> Page[Redemption]:
        request = page_request(page_size, page_token)
        async with self._db.tenant_transaction(tenant_id) as tx:
            voucher_id = None
            if voucher_code:
                voucher = await tx.voucher_by_code(normalize_code(voucher_code))
                if voucher is None:
                    raise voucher_not_found(voucher_code)
                voucher_id = voucher.id
            rows = await tx.list_redemptions(voucher_id, request.after, request.size + 1)
        return make_page(rows, request, lambda r: (r.create_time, r.id))

    async def rollback(self, tenant_id: UUID, redemption_id: str, reason: str) -> Redemption:
        if len(reason) > MAX_ROLLBACK_REASON_LENGTH:
            raise InvalidArgument.single("reason", f"at most {MAX_ROLLBACK_REASON_LENGTH} characters")
        ident = _parse_id(redemption_id)
        claim: StockClaim | None = None
        try:
            async with self._db.tenant_transaction(tenant_id) as tx:
                redemption = await tx.roll_back_redemption(ident, reason)
                if redemption is None:
                    if await tx.get_redemption(ident) is None:
                        raise redemption_not_found(redemption_id)
                    raise errors.denied(errors.REDEMPTION_ALREADY_ROLLED_BACK)
                # The customer's count before the voucher's: a redeem locks them in that order too, so the two
                # never wait on each other in a circle (the other order deadlocked, answered as ABORTED).
                if redemption.customer_id:
                    await tx.give_back_customer_redemption(redemption.voucher_id, redemption.customer_id)
                voucher = await tx.give_back_redemption(redemption.voucher_id)
                await tx.record_event(resource_events.redemption_event(events.REDEMPTION_ROLLED_BACK, redemption))
                if self._gate is not None and voucher is not None and voucher.terms.flash_sale:
                    # Held from before COMMIT until the unit is back in Redis (see flash_sale_gate._HOLD).
                    claim = await self._gate.hold_for_return(tenant_id, voucher.code)
        except BaseException:
            if claim is not None:
                await claim.settle(give_back=False)
            raise
        if claim is not None:
            await claim.settle(give_back=True)
        return redemption


def _check_request(order: Order, customer_id: str, metadata: dict[str, str], request_id: str) -> None:
    violations = Violations()
    check_order(order, customer_id, violations)
    check_metadata(metadata, violations, "metadata")
    idempotency.check_key(request_id, violations)
    violations.raise_if_any()


async def _replay(tx: TenantTransaction, redemption_id: UUID) -> RedeemResult:
    redemption = await tx.get_redemption(redemption_id)
    assert redemption is not None, "an idempotency key commits only with its redemption"
    voucher = await tx.voucher_by_id(redemption.voucher_id)
    assert voucher is not None
    return RedeemResult(redemption, voucher, replayed=True)


async def _settle(claim: StockClaim | None, outcome: object) -> None:
    """Ends a gate claim by what happened to its redeem: a new redemption keeps the unit; a refusal because
    PostgreSQL found none left keeps it too (the counter was too high, keeping lowers it); anything else — another
    refusal, an error, a replay, nothing run (None) — gives it back."""
    if claim is None:
        return
    if isinstance(outcome, RedeemResult):
        give_back = outcome.replayed
    elif isinstance(outcome, RedemptionDenied):
        give_back = outcome.reason != errors.VOUCHER_EXHAUSTED
    else:
        give_back = True
    await claim.settle(give_back=give_back)
