"""A service acting for many callers (the web service) shares one client's connection and acts with each caller's
key, passing its request id and address on: with_options makes such a client without a second channel."""

from __future__ import annotations

import vauchflow


async def test_with_options_acts_with_another_key_on_the_same_connection() -> None:
    root = vauchflow.AsyncClient("vf_sk_root", target="127.0.0.1:1")
    caller = root.with_options(
        api_key="vf_sk_caller", x_request_id="req-42", metadata=(("x-forwarded-for", "203.0.113.9"),)
    )
    transport = caller._transport
    assert transport._channels is root._transport._channels  # one connection for both
    assert transport._metadata(transport._new_request_id()) == (
        ("authorization", "Bearer vf_sk_caller"),
        ("x-request-id", "req-42"),
        ("x-forwarded-for", "203.0.113.9"),
    )
    # The root client is unchanged, and still makes a fresh id per call.
    assert root._transport._metadata("x")[0] == ("authorization", "Bearer vf_sk_root")
    assert root._transport._new_request_id() != root._transport._new_request_id()
    await root.close()
