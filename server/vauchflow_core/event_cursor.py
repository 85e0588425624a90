"""Event cursors: an event's position in its tenant's stream, (transaction_id, id), as an opaque token.

Events are ordered by the transaction that wrote them, then by id: a transaction that commits late with a lower
id is still seen after the cursor moved on, because only transactions older than every running one are read
(see migration 0002). The API's ListEvents and the delivery service's SubscribeEvents share this encoding, so a
cursor from one is good for the other.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from vauchflow_core.errors import InvalidArgument

# xid8 and bigint identity are both below 2**63 in practice; anything larger is forged.
_MAX = 2**63 - 1


@dataclass(frozen=True, order=True)
class EventPosition:
    transaction_id: int
    id: int


def encode(position: EventPosition) -> str:
    raw = f"{position.transaction_id}:{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, field_path: str = "after") -> EventPosition:
    """Raises InvalidArgument naming field_path when token is not a cursor this service handed out."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        transaction_text, colon, id_text = raw.partition(":")
        if not colon or not transaction_text.isdigit() or not id_text.isdigit():
            raise ValueError
        position = EventPosition(int(transaction_text), int(id_text))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument.single(field_path, "is not a cursor returned with an event") from None
    if position.transaction_id > _MAX or position.id > _MAX:
        raise InvalidArgument.single(field_path, "is not a cursor returned with an event")
    return position
