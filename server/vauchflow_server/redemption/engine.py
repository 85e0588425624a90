"""Validate, redeem and roll back: the use cases behind RedemptionService.

Which path a redeem takes, and why:
- Sold out: the flash-sale gate's counter (Redis, DESIGN.md invariant 2) has no unit left, so no SQL runs and the
  answer is VOUCHER_EXHAUSTED; only a request_id that already redeemed gets its original result instead, because a
  retry of a redeem that succeeded must still learn that it did (`_replay_only`).
- Batch (the default, max_batch > 0): a tenant's concurrent redeems share one transaction (batches.py), which is
  what lets a hot voucher go faster than its row lock: it claims their request_ids, locks their vouchers, decides
  each in arrival order and writes all of them in one statement.
- Alone (one transaction per redeem): always with batching off; and after a batch commits, for each redeem the batch
  could not decide: a per-customer limit (taken by its own atomic upsert), a gate answer to bring in line with the
  voucher first (a flash-sale counter to build, a stale counter to drop, Redis unavailable), a request_id already
  used or twice in the batch (the alone run replays it). If a batch fails before COMMIT, all its redeems run alone;
  if it fails during COMMIT its outcome is unknown, so they get the error instead of a second attempt.

Every path decides with the one rule, `redemption_rules.decide_redeem`. A redeem alone is one transaction: the
atomic conditional UPDATE of the voucher's count (invariant 1), the per-customer limit as a conditional upsert, the
redemption row and its outbox events. Those statements guard atomically what the decision saw, and when one
refuses, the decision run again on the current row names the reason. Any denial raises, which rolls the whole
transaction back, so a refused redemption leaves no trace.

A redeem's gate claim is one scope (`GateClaim`), opened before any SQL and settled exactly once when it ends: kept
when PostgreSQL counted the unit (or proved none was left), given back otherwise — after a denial, an error, a
cancellation or an idempotent replay. A batch takes over the claims of the redeems it takes, so a caller cancelled
mid-batch cannot give back a unit its redemption then commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from uuid import UUID

from vauchflow_core import errors, events
from vauchflow_core.errors import InvalidArgument, NotFound, RedemptionDenied, Violations, shown_id
from vauchflow_server import idempotency, resource_events
from vauchflow_server.admin.voucher_admin import voucher_not_found
from vauchflow_server.db.database import Database, TenantTransaction
from vauchflow_server.list_filters import RedemptionFilter
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.pagination import Page, make_page, page_request
from vauchflow_server.redemption.batches import Pending, RedemptionBatcher
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate, StockClaim, UnitReturn
from vauchflow_server.redemption.voucher_queue import PerVoucherLimit
from vauchflow_server.redemption_rules import (
    GateAnswer,
    Order,
    Redeem,
    Refuse,
    check_order,
    decide_redeem,
)
from vauchflow_server.redemptions import Redemption
from vauchflow_server.refusal_counts import RefusalCounts
from vauchflow_server.vouchers import ACTIVE, Voucher, check_metadata, lookup_code

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


class GateClaim:
    """A redeem's flash-sale claim (flash_sale_gate.py) as one scope: entering takes a unit, or learns that none is
    left or that there is no counter; the scope's end settles the unit exactly once, by the redeem's `outcome`:

    - kept when PostgreSQL counted it (a new redemption), or refused as VOUCHER_EXHAUSTED (it proved none was left:
      the counter was too high, and keeping the unit lowers it);
    - given back after anything else: another refusal, an error, a cancellation, a replay, nothing run.

    Whoever holds the scope settles it: the caller, until a batch takes its redeem (`hand_over`), and from then on
    the batch, whether or not the caller still waits (a cancelled caller's redemption may still commit, and its
    unit must then be kept). Without a gate, or for a voucher known not to be a flash sale, it holds nothing."""

    def __init__(self, stock: StockClaim | None):
        self.stock = stock
        # What became of the redeem, set by whoever learns it; an exception leaving the scope counts as the outcome.
        self.outcome: RedeemResult | BaseException | None = None
        self._taken = False  # the take happened: entering again (a batch's scope) does not take again
        self._handed_over = False
        self._settled = False

    @property
    def answer(self) -> GateAnswer | None:
        """The gate's answer; None when there is no claim (no gate, or a voucher known not to be a flash sale)."""
        return self.stock.answer if self.stock is not None else None

    def hand_over(self) -> GateClaim:
        """The same claim as a new scope for a batch to settle; leaving this one then settles nothing."""
        self._handed_over = True
        successor = GateClaim(self.stock)
        successor._taken = True
        return successor

    async def __aenter__(self) -> GateClaim:
        if self.stock is not None and not self._taken:
            self._taken = True
            try:
                await self.stock.take()
            except BaseException as error:  # cancelled mid-take: the take may have run (its lease is held)
                await self._settle(error)
                raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._settle(error if error is not None else self.outcome)

    async def _settle(self, outcome: RedeemResult | BaseException | None) -> None:
        if self._handed_over or self._settled:
            return
        self._settled = True
        if self.stock is not None:
            await self.stock.settle(give_back=not _keeps_unit(outcome))


def _keeps_unit(outcome: RedeemResult | BaseException | None) -> bool:
    if isinstance(outcome, RedeemResult):
        return not outcome.replayed  # a replay took nothing new
    return isinstance(outcome, RedemptionDenied) and outcome.reason == errors.VOUCHER_EXHAUSTED


@dataclass
class _Queued:
    """A redeem waiting for a batch: its normalised code, its gate claim and its new redemption id."""

    code: str
    command: RedeemVoucher
    # The caller's scope until a batch takes the redeem; then the batch's (GateClaim.hand_over).
    claim: GateClaim
    redemption_id: UUID


class _Route(enum.Enum):
    ALONE = "alone"  # run alone after the batch commits


@dataclass(frozen=True)
class _Won:
    """A redeem the batch admitted, before its write: the redemption, and the voucher as counted with it."""

    redemption: Redemption
    voucher: Voucher
    exhausts: bool


# Where each redeem of a batch stands: decided here (won, then its result once written, or refused), or alone.
_Answer = _Won | RedeemResult | Exception | _Route
_Pending = Pending[_Queued, RedeemResult]


@dataclass
class _BatchProgress:
    """What a batch transaction has decided so far, kept so a failure can be answered precisely."""

    routes: dict[_Pending, _Answer] = field(default_factory=dict)
    # The batch's statements are done and COMMIT was sent: a failure now leaves the outcome unknown.
    committing: bool = False


def redemption_not_found(redemption_id: object) -> NotFound:
    return NotFound(f"no redemption with id {shown_id(redemption_id)}", reason="REDEMPTION_NOT_FOUND")


def _parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        # Not a syntax error to the caller: an id that can't exist simply isn't found.
        raise redemption_not_found(raw) from None


def _batch_can_decide(voucher: Voucher, answer: GateAnswer | None) -> bool:
    """Whether a batch can decide this redeem: not with a per-customer limit, nor when the gate's answer must first
    be brought in line with the voucher (a counter to build or drop, Redis unavailable)."""
    if voucher.terms.per_customer_limit is not None:
        return False
    if voucher.campaign is not None and voucher.campaign.has_shared_limits:
        return False  # counted on the campaign's rows too, alone (a campaign without such limits stays batched)
    if answer is None:
        return True  # known plain, or no Redis: PostgreSQL alone decides, which is exact
    if voucher.terms.flash_sale:
        return answer is GateAnswer.ADMITTED
    return answer is GateAnswer.MISSING


class RedemptionEngine:
    def __init__(
        self,
        db: Database,
        clock=lambda: datetime.now(UTC),
        *,
        gate: FlashSaleGate | None = None,
        metrics: ServerMetrics | None = None,
        per_voucher_concurrency: int = 0,
        max_batch: int = 64,
        batches_in_flight: int = 2,
        refusals: RefusalCounts | None = None,
    ):
        self._db = db
        # Refusals by reason for the usage summary; counted in Redis only (a refusal writes nothing to PostgreSQL).
        self._refusals = refusals
        self._voucher_limit = PerVoucherLimit(per_voucher_concurrency)
        self._metrics = metrics or ServerMetrics()
        # max_batch 0: every redeem in its own transaction.
        self._batcher: RedemptionBatcher[_Queued, RedeemResult] | None = (
            RedemptionBatcher(
                self._redeem_batch,
                max_batch=max_batch,
                batches_in_flight=batches_in_flight,
                observe_batch_size=self._metrics.redemption_batch_size.observe,
            )
            if max_batch > 0
            else None
        )
        self._clock = clock
        # None: no Redis configured; flash sales run on PostgreSQL alone.
        self._gate = gate

    async def validate(self, tenant_id: UUID, code: str, order: Order, customer_id: str) -> Validation:
        _check_request(order, customer_id, {}, "")
        async with self._db.tenant_transaction(tenant_id) as tx:
            voucher = await tx.voucher_by_code(lookup_code(code))
            if voucher is None:
                raise voucher_not_found(code)
            used = campaign_used = None
            if customer_id and voucher.terms.per_customer_limit is not None:
                used = await tx.customer_redemption_count(voucher.id, customer_id)
            campaign = voucher.campaign
            if customer_id and campaign is not None and campaign.per_customer_limit is not None:
                campaign_used = await tx.campaign_customer_redemption_count(campaign.id, customer_id)
        decision = decide_redeem(
            voucher, order, self._clock(), customer_redemptions=used, campaign_customer_redemptions=campaign_used
        )
        if isinstance(decision, Refuse):
            return Validation(voucher, decision.reason, 0)
        return Validation(voucher, None, decision.discount_amount)

    async def redeem(self, tenant_id: UUID, command: RedeemVoucher) -> RedeemResult:
        _check_request(command.order, command.customer_id, command.metadata, command.request_id)
        code = lookup_code(command.code)
        # Codes are case-insensitive, so "summer" and "SUMMER" are the same request for idempotency too.
        command = dataclasses.replace(command, code=code)
        outcome = "SUCCEEDED"
        try:
            return await self._redeem(tenant_id, code, command)
        except (RedemptionDenied, NotFound) as refusal:
            outcome = refusal.reason
            if self._refusals is not None:
                await self._refusals.count(tenant_id, refusal.reason, self._clock())
            raise
        except BaseException:
            outcome = "ERROR"
            raise
        finally:
            self._metrics.redemptions.labels(outcome).inc()

    async def _redeem(self, tenant_id: UUID, code: str, command: RedeemVoucher) -> RedeemResult:
        async with GateClaim(self._gate.claim(tenant_id, code) if self._gate is not None else None) as claim:
            if claim.answer is GateAnswer.SOLD_OUT:
                # Sold out: no SQL, except that a retry of a request that did succeed must still get its result.
                if command.request_id:
                    return await self._replay_only(tenant_id, command)
                raise errors.denied(errors.VOUCHER_EXHAUSTED)
            if self._batcher is not None:
                # Cancelled while queued, nothing ran: leaving the scope gives the unit back. Once a batch has the
                # redeem, the batch settles it.
                return await self._batcher.submit(tenant_id, _Queued(code, command, claim, uuid.uuid4()))
            result = await self._redeem_alone(tenant_id, code, command, claim)
            claim.outcome = result
            return result

    async def _redeem_batch(self, tenant_id: UUID, batch: list[_Pending]) -> None:
        """Runs one batch (see batches.py) and answers every redeem in it: from the batch once it has committed, or
        alone. The batch holds the redeems' gate claims from here on and settles each before answering it, callers
        still waiting or not; one it leaves unanswered (the server stopping) gives its unit back."""
        async with contextlib.AsyncExitStack() as unanswered:
            for pending in batch:
                pending.item.claim = await unanswered.enter_async_context(pending.item.claim.hand_over())
            routes = await self._route_batch(tenant_id, batch)
            await asyncio.gather(*(self._answer(tenant_id, p, a) for p, a in routes.items() if a is not _Route.ALONE))
            await asyncio.gather(*(self._answer(tenant_id, p, a) for p, a in routes.items() if a is _Route.ALONE))

    async def _route_batch(self, tenant_id: UUID, batch: list[_Pending]) -> dict[_Pending, _Answer]:
        """The batch's transaction, and what each redeem's answer is when it ends (a failure included)."""
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
            if not progress.committing:
                # Nothing was written: each redeem gets its own answer, alone.
                return dict.fromkeys(batch, _Route.ALONE)
            # The batch may have committed: its redeems get the error (UNAVAILABLE: "may not have been applied"; a
            # retry with the same request_id tells), not a second attempt that could contradict it.
            return {p: a if a is _Route.ALONE else error for p, a in progress.routes.items()}
        return progress.routes

    async def _answer(self, tenant_id: UUID, pending: _Pending, answer: _Answer) -> None:
        """Settles the redeem's gate claim by its outcome, then answers its caller: the batch's answer, or the
        redeem run alone (unless its caller went away before it ran: then nothing runs, and the unit goes back)."""
        queued = pending.item
        outcome: RedeemResult | Exception | None = None
        async with queued.claim as claim:
            if answer is not _Route.ALONE:
                assert not isinstance(answer, _Won), "a batch's winners have their results once written"
                outcome = answer
            elif not pending.outcome.done():
                try:
                    outcome = await self._redeem_alone(
                        tenant_id, queued.code, queued.command, claim, queued.redemption_id
                    )
                except Exception as error:
                    outcome = error
            claim.outcome = outcome
        if isinstance(outcome, RedeemResult):
            pending.resolve(outcome)
        elif outcome is not None:
            pending.fail(outcome)

    async def _decide_batch(self, tenant_id: UUID, batch: list[_Pending], progress: _BatchProgress) -> None:
        """One transaction for the batch; gives each redeem its answer in progress.routes: decided here (answered
        after COMMIT) or alone."""
        routes = progress.routes
        async with self._db.tenant_transaction(tenant_id) as tx:
            # A request_id twice in one batch: the first is decided here, the second replays it afterwards.
            key_owners: dict[str, _Pending] = {}
            for pending in batch:
                key = pending.item.command.request_id
                if key and key in key_owners:
                    routes[pending] = _Route.ALONE
                elif key:
                    key_owners[key] = pending
            if key_owners:
                owned = await tx.claim_idempotency_keys(
                    _REDEEM_OPERATION,
                    [(key, idempotency.fingerprint(p.item.command), p.item.redemption_id)
                     for key, p in sorted(key_owners.items())],
                )  # fmt: skip
                # A key owned by an earlier request: run alone after COMMIT, which replays (or refuses) it.
                for key in [key for key in key_owners if key not in owned]:
                    routes[key_owners.pop(key)] = _Route.ALONE
            unadmitted = [
                p for p in batch if p not in routes and p.item.claim.answer not in (None, GateAnswer.ADMITTED)
            ]
            if unadmitted:
                # The gate had no counter: a flash sale's counter is built (in its own transaction) before it waits
                # for the row, as a redeem alone would; so look before locking, without a lock.
                peeked = await tx.vouchers_by_codes(sorted({p.item.code for p in unadmitted}))
                for pending in unadmitted:
                    voucher = peeked.get(pending.item.code)
                    if voucher is not None and not _batch_can_decide(voucher, pending.item.claim.answer):
                        routes[pending] = _Route.ALONE
            ready = [p for p in batch if p not in routes]
            vouchers = await tx.vouchers_for_batch(sorted({p.item.code for p in ready})) if ready else {}
            now = self._clock()
            admitted: Counter[str] = Counter()  # units each voucher has given this batch's earlier redeems
            for pending in ready:
                routes[pending] = self._decide_in_batch(tenant_id, pending.item, vouchers, admitted, now)
            won = [(p, a) for p, a in routes.items() if isinstance(a, _Won)]
            # Keys claimed above for redeems this batch does not write go, in the batch's statement.
            released = [key for key, p in key_owners.items() if not isinstance(routes[p], _Won)]
            if won or released:
                batch_events = []
                for _, winner in won:
                    batch_events.append(
                        resource_events.redemption_event(events.REDEMPTION_SUCCEEDED, winner.redemption)
                    )
                    if winner.exhausts:
                        batch_events.append(resource_events.voucher_event(events.VOUCHER_EXHAUSTED, winner.voucher))
                redeemed_at = await tx.redeem_batch(
                    Counter(winner.redemption.voucher_id for _, winner in won),
                    [winner.redemption for _, winner in won],
                    batch_events,
                    _REDEEM_OPERATION,
                    released,
                )
                for pending, winner in won:
                    routes[pending] = RedeemResult(
                        dataclasses.replace(winner.redemption, create_time=redeemed_at),
                        dataclasses.replace(winner.voucher, update_time=redeemed_at),
                    )
            progress.committing = True

    def _decide_in_batch(
        self, tenant_id: UUID, queued: _Queued, vouchers: dict[str, Voucher], admitted: Counter[str], now: datetime
    ) -> _Answer:
        """One redeem of a batch, on its voucher as locked, after the batch's earlier redeems."""
        voucher = vouchers.get(queued.code)
        if voucher is None:
            return voucher_not_found(queued.command.code)
        if not _batch_can_decide(voucher, queued.claim.answer):
            return _Route.ALONE
        if self._gate is not None and not voucher.terms.flash_sale:
            self._gate.remember_plain(tenant_id, queued.code)
        decision = decide_redeem(
            voucher, queued.command.order, now, admitted_in_batch=admitted[queued.code], gate=queued.claim.answer
        )
        if isinstance(decision, Refuse):
            return errors.denied(decision.reason)
        admitted[queued.code] += 1
        counted = dataclasses.replace(voucher, redemption_count=voucher.redemption_count + admitted[queued.code])
        redemption = self._new_redemption(queued.redemption_id, voucher, queued.command, decision)
        return _Won(redemption, counted, decision.exhausts)

    def _new_redemption(
        self, redemption_id: UUID, voucher: Voucher, command: RedeemVoucher, decision: Redeem
    ) -> Redemption:
        return Redemption(
            id=redemption_id,
            voucher_id=voucher.id,
            voucher_code=voucher.code,
            customer_id=command.customer_id,
            order=command.order,
            discount_amount=decision.discount_amount,
            status="SUCCEEDED",
            metadata=command.metadata,
        )

    async def _redeem_alone(
        self,
        tenant_id: UUID,
        code: str,
        command: RedeemVoucher,
        claim: GateClaim,
        redemption_id: UUID | None = None,
    ) -> RedeemResult:
        async with self._voucher_limit.slot((tenant_id, code)):
            return await self._redeem_in_transaction(tenant_id, code, command, claim, redemption_id)

    async def _redeem_in_transaction(
        self,
        tenant_id: UUID,
        code: str,
        command: RedeemVoucher,
        claim: GateClaim,
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
        self, tx: TenantTransaction, code: str, command: RedeemVoucher, redemption_id: UUID, claim: GateClaim
    ) -> RedeemResult:
        now = self._clock()
        voucher = await tx.voucher_by_code(code)
        if voucher is None:
            raise voucher_not_found(command.code)
        await self._gate_checked(tx, voucher, claim)
        if self._gate is not None and not voucher.terms.flash_sale:
            self._gate.remember_plain(tx.tenant_id, code)
        # Refusals known from the voucher as read cost no write and no lock (a sold-out voucher stays cheap). The
        # customer's count is not known yet: its atomic upsert below both checks and takes it.
        decision = decide_redeem(voucher, command.order, now, gate=claim.answer)
        if isinstance(decision, Refuse):
            raise errors.denied(decision.reason)
        limit = voucher.terms.per_customer_limit
        if limit is not None:
            if not command.customer_id:
                raise InvalidArgument.single("customer_id", "is required: this voucher has a per-customer limit")
            if not await tx.take_customer_redemption(voucher.id, command.customer_id, limit):
                used = await tx.customer_redemption_count(voucher.id, command.customer_id)
                refusal = decide_redeem(voucher, command.order, now, customer_redemptions=used)
                # No nameable reason means a rollback lowered the count since: the race for the last use was lost.
                raise errors.denied(_reason(refusal, errors.CUSTOMER_LIMIT_REACHED))
        if voucher.campaign is not None and voucher.campaign.has_shared_limits:
            await self._take_campaign_counts(tx, voucher, command, now)
        redemption = self._new_redemption(redemption_id, voucher, command, decision)
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
            # The UPDATE's guard refused: the decision on the row as it is now names the reason. None left to name
            # means the state moved on (a concurrent rollback): the race for the last unit was still lost.
            current = await tx.voucher_by_id(voucher.id)
            now_decided = decide_redeem(current, command.order, now) if current is not None else None
            raise errors.denied(_reason(now_decided, errors.VOUCHER_EXHAUSTED))
        taken, stored = redeemed
        return RedeemResult(stored, taken)

    async def _take_campaign_counts(
        self, tx: TenantTransaction, voucher: Voucher, command: RedeemVoucher, now: datetime
    ) -> None:
        """The campaign's per-customer and campaign-wide counts, each an atomic conditional write that refuses past
        its limit; taken after the voucher's customer count and before the voucher's row, the order a rollback
        gives them back in, so a redeem and a rollback never wait on each other in a circle."""
        campaign = voucher.campaign
        assert campaign is not None
        if campaign.per_customer_limit is not None:
            if not command.customer_id:
                raise InvalidArgument.single("customer_id", "is required: this campaign has a per-customer limit")
            if not await tx.take_campaign_customer_redemption(
                campaign.id, command.customer_id, campaign.per_customer_limit
            ):
                raise errors.denied(errors.CUSTOMER_LIMIT_REACHED)
        if campaign.max_redemptions is not None and not await tx.take_campaign_redemption(campaign.id):
            # Refused: the campaign as it is now names the reason (paused meanwhile, or the last unit went).
            current = await tx.voucher_by_id(voucher.id)
            now_decided = decide_redeem(current, command.order, now) if current is not None else None
            raise errors.denied(_reason(now_decided, errors.CAMPAIGN_EXHAUSTED))

    async def _gate_checked(self, tx: TenantTransaction, voucher: Voucher, claim: GateClaim) -> None:
        """Brings the gate's answer in line with the voucher as PostgreSQL has it."""
        if claim.stock is None:
            return
        if not voucher.terms.flash_sale:
            if claim.answer is GateAnswer.ADMITTED:
                # A counter left from before flash_sale was turned off (its deletion failed): drop it.
                await claim.stock.drop_counter()
            return
        if claim.answer is GateAnswer.MISSING and voucher.terms.status == ACTIVE:
            # Built from this transaction's read; if a redemption commits before the counter exists, the counter
            # is one too high, which PostgreSQL corrects (see flash_sale_gate.py). Sold out: the decision refuses.
            await claim.stock.build_and_take(voucher.remaining or 0)
        if claim.answer is GateAnswer.BYPASSED:
            self._metrics.flash_sale_gate.labels(GateAnswer.BYPASSED.value).inc()

    async def get(self, tenant_id: UUID, redemption_id: str) -> Redemption:
        ident = _parse_id(redemption_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            redemption = await tx.get_redemption(ident)
        if redemption is None:
            raise redemption_not_found(redemption_id)
        return redemption

    async def list(
        self, tenant_id: UUID, filters: RedemptionFilter, page_size: int, page_token: str
    ) -> Page[Redemption]:
        request = page_request(page_size, page_token, filters.scope())
        async with self._db.tenant_read(tenant_id) as tx:
            voucher_id = None
            if filters.voucher_code:
                voucher = await tx.voucher_by_code(lookup_code(filters.voucher_code, "voucher_code"))
                if voucher is None:
                    raise voucher_not_found(filters.voucher_code)
                voucher_id = voucher.id
            rows = await tx.list_redemptions(voucher_id, filters, request.after, request.size + 1)
        return make_page(rows, request, _list_position)

    async def rollback(self, tenant_id: UUID, redemption_id: str, reason: str) -> Redemption:
        if len(reason) > MAX_ROLLBACK_REASON_LENGTH:
            raise InvalidArgument.single("reason", f"at most {MAX_ROLLBACK_REASON_LENGTH} characters")
        ident = _parse_id(redemption_id)
        # Around the transaction: a flash-sale unit is held before COMMIT, and goes back to Redis once it committed.
        async with UnitReturn(self._gate, tenant_id) as unit_return, self._db.tenant_transaction(tenant_id) as tx:
            redemption = await tx.roll_back_redemption(ident, reason)
            if redemption is None:
                if await tx.get_redemption(ident) is None:
                    raise redemption_not_found(redemption_id)
                raise errors.denied(errors.REDEMPTION_ALREADY_ROLLED_BACK)
            # The customer's count before the voucher's: a redeem locks them in that order too, so the two
            # never wait on each other in a circle (the other order deadlocked, answered as ABORTED).
            if redemption.customer_id:
                await tx.give_back_customer_redemption(redemption.voucher_id, redemption.customer_id)
            # Then the campaign's counts (kept only for campaigns created with those limits), in a redeem's order.
            code = await tx.voucher_by_id(redemption.voucher_id)
            campaign = code.campaign if code is not None else None
            if campaign is not None:
                if campaign.per_customer_limit is not None and redemption.customer_id:
                    await tx.give_back_campaign_customer_redemption(campaign.id, redemption.customer_id)
                if campaign.max_redemptions is not None:
                    await tx.give_back_campaign_redemption(campaign.id)
            voucher = await tx.give_back_redemption(redemption.voucher_id)
            await tx.record_event(resource_events.redemption_event(events.REDEMPTION_ROLLED_BACK, redemption))
            if voucher is not None and voucher.terms.flash_sale:
                await unit_return.hold(voucher.code)
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


def _reason(decision: Redeem | Refuse | None, otherwise: str) -> str:
    """The reason a decision gives for refusing, or `otherwise` when it would not refuse."""
    return decision.reason if isinstance(decision, Refuse) else otherwise


def _list_position(redemption: Redemption) -> tuple[datetime, UUID]:
    assert redemption.create_time is not None, "a stored redemption has its time"
    return redemption.create_time, redemption.id
