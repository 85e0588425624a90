"""Status subscriptions' shared rules: which addresses are accepted, contacts sealed to their subscription, address
indexes that survive a key rotation, and the mails (one-line subjects, the unsubscribe link in text and header)."""

from __future__ import annotations

import uuid

import pytest

from vauchflow_core import status_subscriptions as subs
from vauchflow_core.secret_box import KeyRing, SecretBoxError, generate_key
from vauchflow_delivery.mailer import StatusLinks, confirmation_mail, incident_mail


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("ops@example.com", None),
        ("First.Last+status@Mail.Example.DE", None),
        ("", "must not be empty"),
        ("no-at-sign.example.com", "is not an email address"),
        ("a@localhost", "is not an email address"),
        ("two words@example.com", "is not an email address"),
        ("a@example.com>\nBcc: b@example.com", "is not an email address"),
        ("<a@example.com>", "is not an email address"),
        ("a" * 250 + "@example.com", "at most 254 characters"),
    ],
)
def test_email_addresses(raw: str, problem: str | None) -> None:
    assert subs.email_problem(raw) == problem


def test_the_domain_is_lowercased_and_the_index_ignores_case() -> None:
    assert subs.normalize_email(" Ops.Team@Example.COM ") == "Ops.Team@example.com"
    ring = KeyRing.from_keys({1: generate_key()})
    assert subs.email_index(ring, "Ops.Team@example.com", 1) == subs.email_index(ring, "ops.team@example.com", 1)


def test_a_contact_opens_only_for_its_own_subscription() -> None:
    ring = KeyRing.from_keys({1: generate_key()})
    subscription_id = uuid.uuid4()
    contact = subs.Contact(unsubscribe_token=subs.new_token(), email="ops@example.com", confirm_token=subs.new_token())
    sealed = subs.seal_contact(ring, subscription_id, contact)
    assert b"ops@example.com" not in sealed.ciphertext
    assert subs.open_contact(ring, subscription_id, sealed) == contact
    with pytest.raises(SecretBoxError):
        subs.open_contact(ring, uuid.uuid4(), sealed)


def test_an_address_indexed_before_a_key_rotation_is_still_found() -> None:
    old = KeyRing.from_keys({1: generate_key()})
    rotated = old.with_key(2, generate_key())
    before = subs.email_index(old, "ops@example.com", old.newest_version)
    assert before in subs.email_indexes(rotated, "ops@example.com")
    assert subs.email_index(rotated, "ops@example.com", 2) != before


def test_tokens_are_random_and_only_their_hash_is_compared() -> None:
    first, second = subs.new_token(), subs.new_token()
    assert first != second and first.startswith("vf_st_") and len(first) > 40
    assert subs.token_hash(first) != subs.token_hash(second) and len(subs.token_hash(first)) == 32


def test_every_mail_carries_its_unsubscribe_link_and_a_one_line_subject() -> None:
    links = StatusLinks("https://status.example.com")
    confirmation = confirmation_mail("s <s@example.com>", "ops@example.com", links, "vf_st_confirm", "vf_st_stop")
    assert "https://status.example.com/status/subscriptions/confirm?token=vf_st_confirm" in confirmation.get_content()
    update = {"state": "RESOLVED", "message": "Fixed.", "catch_up_window": "30 minutes"}
    payload = {"data": {"incident": {"title": "Webhooks\r\nBcc: evil@example.com"}, "update": update}}
    mail = incident_mail("s <s@example.com>", "ops@example.com", links, payload, "vf_st_stop")
    assert mail["Subject"] == "[Vauchflow status] Resolved: Webhooks Bcc: evil@example.com"
    assert mail["Bcc"] is None
    stop = "https://status.example.com/status/subscriptions/unsubscribe?token=vf_st_stop"
    for message in (confirmation, mail):
        assert stop in message.get_content()
        assert message["List-Unsubscribe"] == f"<{stop}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Catch-up window for queued work: 30 minutes" in mail.get_content()
