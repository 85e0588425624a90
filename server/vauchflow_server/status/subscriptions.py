"""Subscribing to the status page's incident notifications: email addresses (double opt-in) and webhook URLs.
No gRPC and no SQL here; the rows go through the database's status transaction, the sending is the delivery
service's (it reads the status outbox and the notifications queued here)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from vauchflow_core import status_subscriptions as subs
from vauchflow_core.errors import InvalidArgument, NotFound
from vauchflow_core.secret_box import KeyRing
from vauchflow_core.webhook_endpoints import (
    UrlPolicy,
    format_signing_secret,
    generate_signing_secret,
    url_problem,
)
from vauchflow_server.db.database import Database
from vauchflow_server.db.status_records import NewSubscription

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebhookSubscription:
    """Shown once to the subscriber."""

    id: UUID
    signing_secret: str
    unsubscribe_token: str


def _token_not_found() -> NotFound:
    # One answer for a malformed, unknown, used or expired token: it tells nothing about other subscriptions.
    return NotFound("no subscription has this token (it may have been used already)", reason="NOT_FOUND")


def _token_hash(token: str) -> bytes:
    if not token.startswith(subs.TOKEN_PREFIX) or len(token) > 100:
        raise _token_not_found()  # without a database lookup
    return subs.token_hash(token)


class StatusSubscriptions:
    def __init__(
        self, db: Database, key_ring: KeyRing, url_policy: UrlPolicy, clock: Callable[[], dt.datetime] = utc_now
    ):
        self._db = db
        self._ring = key_ring
        self._url_policy = url_policy
        self._clock = clock

    async def subscribe_email(self, raw_email: str) -> None:
        """Queues a confirmation mail. An address subscribed before gets its pending confirmation mail again (or
        nothing, once confirmed); the caller cannot tell which, so the call does not reveal who is subscribed."""
        problem = subs.email_problem(raw_email)
        if problem:
            raise InvalidArgument.single("email", problem)
        email = subs.normalize_email(raw_email)
        subscription_id = uuid.uuid4()
        confirm_token, unsubscribe_token = subs.new_token(), subs.new_token()
        contact = subs.Contact(unsubscribe_token=unsubscribe_token, email=email, confirm_token=confirm_token)
        version = self._ring.newest_version
        new = NewSubscription(
            id=subscription_id,
            kind=subs.EMAIL,
            sealed_contact=subs.seal_contact(self._ring, subscription_id, contact),
            unsubscribe_token_hash=subs.token_hash(unsubscribe_token),
            email_index=subs.email_index(self._ring, email, version),
            email_index_key_version=version,
            confirm_token_hash=subs.token_hash(confirm_token),
        )
        async with self._db.status_transaction() as tx:
            existing = await tx.subscription_by_email(subs.email_indexes(self._ring, email))
            if existing is None and await tx.insert_subscription(new, self._clock()):
                await tx.queue_confirmation(uuid.uuid4(), subscription_id)
                log.info("status subscription pending", extra={"action": "status_subscription_created",
                                                              "subscription_id": str(subscription_id)})  # fmt: skip
                return
            # Subscribed before (or concurrently, in which case the other transaction queued the mail).
            existing = existing or await tx.subscription_by_email(subs.email_indexes(self._ring, email))
            if existing is not None and not existing[1]:
                await tx.queue_confirmation(uuid.uuid4(), existing[0])

    async def subscribe_webhook(self, url: str) -> WebhookSubscription:
        """Checked by the same policy as merchants' endpoints; the delivery service checks the connected address
        again at every send."""
        problem = url_problem(url, self._url_policy)
        if problem:
            raise InvalidArgument.single("webhook_url", problem)
        subscription_id = uuid.uuid4()
        secret = format_signing_secret(generate_signing_secret())
        unsubscribe_token = subs.new_token()
        contact = subs.Contact(unsubscribe_token=unsubscribe_token, signing_secret=secret)
        now = self._clock()
        new = NewSubscription(
            id=subscription_id,
            kind=subs.WEBHOOK,
            sealed_contact=subs.seal_contact(self._ring, subscription_id, contact),
            unsubscribe_token_hash=subs.token_hash(unsubscribe_token),
            url=url,
            confirm_time=now,
        )
        async with self._db.status_transaction() as tx:
            await tx.insert_subscription(new, now)
        log.info("status webhook subscribed", extra={"action": "status_subscription_created",
                                                    "subscription_id": str(subscription_id)})  # fmt: skip
        return WebhookSubscription(subscription_id, secret, unsubscribe_token)

    async def confirm(self, token: str) -> UUID:
        token_hash = _token_hash(token)
        async with self._db.status_transaction() as tx:
            confirmed = await tx.confirm_subscription(token_hash, self._clock())
        if confirmed is None:
            raise _token_not_found()
        log.info("status subscription confirmed", extra={"action": "status_subscription_confirmed",
                                                         "subscription_id": str(confirmed)})  # fmt: skip
        return confirmed

    async def unsubscribe(self, token: str) -> UUID:
        token_hash = _token_hash(token)
        async with self._db.status_transaction() as tx:
            deleted = await tx.delete_subscription(token_hash)
        if deleted is None:
            raise _token_not_found()
        log.info("status subscription ended", extra={"action": "status_subscription_deleted",
                                                     "subscription_id": str(deleted)})  # fmt: skip
        return deleted
