"""Status page notifications: relays the status outbox (incident changes, written by the API server in the same
transaction as the change) to the confirmed subscribers, and sends what is due — signed webhooks through the same
sender, address policy, signing and retry schedule as merchants' webhooks, and mails through SMTP.

Status events are platform events, not a tenant's, so they have an outbox of their own (status_events) instead of
rows in the tenant-keyed outbox_events; see docs/status.md. They are few (an incident update every few minutes at
most), so the loop polls every `poll_seconds` and relays by stamping each event (claimed FOR UPDATE SKIP LOCKED)
rather than by a cursor: an event committed late is still unstamped, and is relayed on the next round.
A notification is leased while it is sent (at-least-once: a crash before the outcome is recorded sends it again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from vauchflow_core.secret_box import KeyRing, SecretBoxError
from vauchflow_core.status_subscriptions import EMAIL, Contact, open_contact
from vauchflow_core.wakeups import wait_any
from vauchflow_delivery.dispatcher import encode_payload
from vauchflow_delivery.http_sender import HttpSender
from vauchflow_delivery.mailer import Mailer, MailResult, StatusLinks, confirmation_mail, incident_mail
from vauchflow_delivery.retry_schedule import RetrySchedule
from vauchflow_delivery.signing import SecretFormatError, webhook_headers
from vauchflow_delivery.store import ClaimedNotification, DeliveryStore, StoreUnavailable

log = logging.getLogger(__name__)

CONFIRMATION = "CONFIRMATION"
SMTP_NOT_CONFIGURED = "SMTP_NOT_CONFIGURED"


@dataclass(frozen=True)
class NotifierSettings:
    links: StatusLinks
    poll_seconds: float = 1.0
    lease_seconds: float = 60.0
    batch_size: int = 50


@dataclass(frozen=True)
class Outcome:
    sent: bool
    error: str = ""
    # Do not try again (a permanent SMTP refusal, an unopenable contact).
    final: bool = False
    retry_after: float | None = None


class StatusNotifier:
    def __init__(
        self,
        store: DeliveryStore,
        sender: HttpSender,
        mailer: Mailer | None,
        key_ring: KeyRing,
        schedule: RetrySchedule,
        settings: NotifierSettings,
    ):
        self._store = store
        self._sender = sender
        self._mailer = mailer
        self._key_ring = key_ring
        self._schedule = schedule
        self._settings = settings

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("status notifier started", extra={"action": "status_notifier_started",
                                                   "smtp": self._mailer is not None})  # fmt: skip
        while not stopping.is_set():
            try:
                more = await self.run_once()
            except StoreUnavailable as error:
                log.warning("status notifier failed", extra={"action": "status_notifier_failed",
                                                            "error_type": str(error)})  # fmt: skip
                more = False
            if not more:
                await wait_any(stopping, timeout=self._settings.poll_seconds)
        log.info("status notifier stopped", extra={"action": "status_notifier_stopped"})

    async def run_once(self) -> bool:
        """Relays waiting events, then sends one batch of due notifications; True when a full batch was due."""
        await self._store.relay_status_events(self._settings.batch_size)
        claimed = await self._store.claim_status_notifications(self._settings.batch_size, self._settings.lease_seconds)
        await asyncio.gather(*(self._deliver(n) for n in claimed))
        return len(claimed) == self._settings.batch_size

    async def _deliver(self, notification: ClaimedNotification) -> None:
        try:
            outcome = await self._send(notification)
        except Exception as error:  # one bad notification must not stop the others (nor the loop)
            log.error("status notification crashed", extra={"action": "status_notification_crashed",
                                                           "error_type": type(error).__name__})  # fmt: skip
            outcome = Outcome(False, type(error).__name__)
        retry_in = None
        if not outcome.sent and not outcome.final:
            retry_in = self._schedule.next_delay(notification.attempt_number, outcome.retry_after)
        try:
            await self._store.record_status_notification(notification.id, outcome.error, retry_in, sent=outcome.sent)
        except StoreUnavailable as error:
            log.warning("status notification outcome not recorded",
                        extra={"action": "status_notification_record_failed", "error_type": str(error)})  # fmt: skip
            return
        log.info(
            "status notification",
            extra={"action": "status_notification", "notification_id": str(notification.id),
                   "kind": notification.kind, "channel": notification.subscription_kind,
                   "attempt_number": notification.attempt_number, "sent": outcome.sent, "error": outcome.error,
                   "retry_in_s": round(retry_in, 3) if retry_in is not None else None},
        )  # fmt: skip

    async def _send(self, notification: ClaimedNotification) -> Outcome:
        try:
            contact = open_contact(self._key_ring, notification.subscription_id, notification.sealed_contact)
        except SecretBoxError:
            log.error("cannot open a status subscription's contact",
                      extra={"action": "secret_unavailable",
                             "subscription_id": str(notification.subscription_id)})  # fmt: skip
            # Retried: the key ring may be missing a version another replica has.
            return Outcome(False, "SECRET_UNAVAILABLE")
        if notification.subscription_kind == EMAIL:
            return await self._mail(notification, contact)
        return await self._post(notification, contact)

    async def _mail(self, notification: ClaimedNotification, contact: Contact) -> Outcome:
        if self._mailer is None:
            return Outcome(False, SMTP_NOT_CONFIGURED)
        assert contact.email is not None
        links, sender = self._settings.links, self._mailer.sender
        if notification.kind == CONFIRMATION:
            if contact.confirm_token is None:
                return Outcome(False, "NO_CONFIRM_TOKEN", final=True)
            message = confirmation_mail(sender, contact.email, links, contact.confirm_token, contact.unsubscribe_token)
        else:
            message = incident_mail(sender, contact.email, links, notification.payload or {},
                                    contact.unsubscribe_token)  # fmt: skip
        result: MailResult = await self._mailer.send(message)
        return Outcome(result.sent, result.error, final=result.permanent)

    async def _post(self, notification: ClaimedNotification, contact: Contact) -> Outcome:
        payload = notification.payload or {}
        if notification.url is None or contact.signing_secret is None:
            return Outcome(False, "NOT_A_WEBHOOK", final=True)
        body = encode_payload(payload)
        message_id = payload.get("id") or f"evt_{notification.id.hex}"
        try:
            headers = webhook_headers([contact.signing_secret], message_id, int(time.time()), body)
        except SecretFormatError:
            return Outcome(False, "SECRET_UNAVAILABLE", final=True)
        result = await self._sender.send(notification.url, body, headers)
        if result.succeeded:
            return Outcome(True)
        error = result.error or f"HTTP_{result.status}"
        # 410 Gone: the receiver says it is gone for good.
        return Outcome(False, error, final=result.status == 410, retry_after=result.retry_after)
