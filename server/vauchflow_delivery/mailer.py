"""Status page mails: what they say (the opt-in mail, incident updates), and sending them through SMTP.

Every mail carries its unsubscribe link in the text and in List-Unsubscribe (with RFC 8058 one-click), and says it
was sent automatically. smtplib runs in a worker thread: a mail is rare, and the standard library's client is the
one SMTP implementation every relay has been tested against. Error text never leaves here (it can name hosts):
a failed send reports the exception's type and the SMTP code.
"""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

TLS_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str = ""
    password: str = ""
    sender: str = "Vauchflow status <status@localhost>"
    # starttls (port 587), tls (implicit, port 465) or none (a local relay, and the tests' server).
    tls: str = "starttls"
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:  # the password stays out of logs
        return f"SmtpSettings(host={self.host!r}, port={self.port}, tls={self.tls!r})"


@dataclass(frozen=True)
class MailResult:
    sent: bool
    error: str = ""
    # A 5xx answer: the address or the message is refused for good; retrying will not help.
    permanent: bool = False


@dataclass(frozen=True)
class StatusLinks:
    """Where a mail's links point: the public status page (behind Envoy)."""

    public_url: str

    def confirm(self, token: str) -> str:
        return f"{self.public_url}/status/subscriptions/confirm?token={quote(token)}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.public_url}/status/subscriptions/unsubscribe?token={quote(token)}"

    @property
    def page(self) -> str:
        return f"{self.public_url}/status"


def _message(sender: str, to: str, subject: str, text: str, unsubscribe_url: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    # A title is one line in a header: line breaks would be refused (or, unchecked, smuggle headers in).
    message["Subject"] = " ".join(subject.split())
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain="vauchflow.status")
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text + f"\n\n--\nTo stop these mails, unsubscribe: {unsubscribe_url}\n")
    return message


def confirmation_mail(
    sender: str, to: str, links: StatusLinks, confirm_token: str, unsubscribe_token: str
) -> EmailMessage:
    text = (
        "Someone (we hope you) asked to receive Vauchflow's status notifications at this address.\n\n"
        f"Confirm the subscription: {links.confirm(confirm_token)}\n\n"
        "If you did not ask for this, ignore this mail: without the confirmation you will get nothing more."
    )
    return _message(
        sender, to, "Confirm your Vauchflow status subscription", text, links.unsubscribe(unsubscribe_token)
    )


_STATE_LABELS = {"INVESTIGATING": "Investigating", "IDENTIFIED": "Identified", "MONITORING": "Monitoring",
                 "RESOLVED": "Resolved"}  # fmt: skip


def incident_mail(
    sender: str, to: str, links: StatusLinks, payload: dict[str, Any], unsubscribe_token: str
) -> EmailMessage:
    data = payload.get("data", {})
    incident, update = data.get("incident", {}), data.get("update", {})
    state = _STATE_LABELS.get(update.get("state", ""), update.get("state", ""))
    lines = [f"{state}: {incident.get('title', '')}", "", update.get("message", "")]
    if incident.get("components"):
        lines += ["", "Affected: " + ", ".join(incident["components"])]
    if update.get("affected_endpoints"):
        lines.append("Endpoints: " + ", ".join(update["affected_endpoints"]))
    if update.get("workaround"):
        lines.append("Workaround: " + update["workaround"])
    if update.get("expected_resolution_time"):
        lines.append("Expected resolution: " + update["expected_resolution_time"])
    if update.get("catch_up_window"):
        lines.append("Catch-up window for queued work: " + update["catch_up_window"])
    lines += ["", f"Status page: {links.page}"]
    subject = f"[Vauchflow status] {state}: {incident.get('title', '')}"
    return _message(sender, to, subject, "\n".join(lines), links.unsubscribe(unsubscribe_token))


class Mailer:
    def __init__(self, settings: SmtpSettings):
        self._settings = settings

    @property
    def sender(self) -> str:
        return self._settings.sender

    async def send(self, message: EmailMessage) -> MailResult:
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except smtplib.SMTPResponseException as error:
            return MailResult(False, f"SMTP_{error.smtp_code}", permanent=500 <= error.smtp_code < 600)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            return MailResult(False, f"SMTP_RECIPIENT_REFUSED_{codes[0] if codes else ''}",
                              permanent=all(500 <= c < 600 for c in codes))  # fmt: skip
        except (OSError, smtplib.SMTPException) as error:
            return MailResult(False, type(error).__name__)
        return MailResult(True)

    def _send_blocking(self, message: EmailMessage) -> None:
        s = self._settings
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if s.tls == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with client:
            if s.tls == "starttls":
                client.starttls(context=context)
            if s.username:
                client.login(s.username, s.password)
            client.send_message(message)
