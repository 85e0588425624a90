"""Dashboard sessions: sealed so Redis never holds a readable key, bound to their id, ended by idleness or sign-out."""

from __future__ import annotations

import secrets

from vauchflow_web.dashboard.sessions import InProcessBackend, SessionStore, new_session

SECRET = "vf_sk_" + "a" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(backend: InProcessBackend, key: bytes | None = None, idle_seconds: int = 1800) -> SessionStore:
    return SessionStore(backend, key or secrets.token_bytes(32), idle_seconds)


async def test_a_session_comes_back_whole_and_is_stored_sealed() -> None:
    backend = InProcessBackend()
    sessions = store(backend)
    session_id = await sessions.create(new_session(SECRET, "tenant", "Acme · default"))
    loaded = await sessions.load(session_id)
    assert loaded is not None and loaded.secret == SECRET and loaded.kind == "tenant"
    assert len(loaded.csrf_token) >= 32
    stored = b"".join(value for value, _ in backend._values.values())
    assert SECRET.encode() not in stored and session_id.encode() not in b"".join(k.encode() for k in backend._values)


async def test_unknown_ids_other_keys_and_moved_sessions_open_nothing() -> None:
    backend = InProcessBackend()
    session_id = await store(backend).create(new_session(SECRET, "tenant", "x"))
    assert await store(backend).load(session_id) is None  # sealed under another key
    sessions = store(InProcessBackend())
    first = await sessions.create(new_session(SECRET, "tenant", "x"))
    assert await sessions.load("not-" + first) is None
    assert await sessions.load("") is None
    # A sealed session copied under another session's storage key (a swapped cookie) does not open.
    moved_backend = InProcessBackend()
    moved = store(moved_backend, key=b"k" * 32)
    victim = await moved.create(new_session(SECRET, "tenant", "victim"))
    attacker = await moved.create(new_session("vf_sk_" + "b" * 40, "tenant", "attacker"))
    victim_key, attacker_key = list(moved_backend._values)
    moved_backend._values[attacker_key] = moved_backend._values[victim_key]
    assert await moved.load(attacker) is None
    assert (await moved.load(victim)) is not None


async def test_a_session_ends_after_its_idle_time_and_each_request_renews_it() -> None:
    clock = Clock()
    sessions = store(InProcessBackend(clock), idle_seconds=1800)
    session_id = await sessions.create(new_session(SECRET, "tenant", "x"))
    clock.now += 1799
    assert await sessions.load(session_id) is not None  # renewed here
    clock.now += 1799
    assert await sessions.load(session_id) is not None
    clock.now += 1800
    assert await sessions.load(session_id) is None


async def test_sign_out_ends_the_session() -> None:
    sessions = store(InProcessBackend())
    session_id = await sessions.create(new_session(SECRET, "operator", "Platform operator"))
    await sessions.end(session_id)
    assert await sessions.load(session_id) is None


async def test_a_session_keeps_the_highest_commit_position_and_an_ended_one_stays_ended() -> None:
    sessions = store(InProcessBackend())
    session_id = await sessions.create(new_session(SECRET, "tenant", "x"))
    session = await sessions.load(session_id)
    assert session is not None and session.commit_position is None
    await sessions.remember_commit_position(session_id, session, 500)
    remembered = await sessions.load(session_id)
    assert remembered is not None and remembered.commit_position == 500
    await sessions.remember_commit_position(session_id, remembered, 400)  # an older answer never lowers it
    await sessions.remember_commit_position(session_id, remembered, None)
    assert (await sessions.load(session_id)) == remembered
    await sessions.end(session_id)
    await sessions.remember_commit_position(session_id, remembered, 900)
    assert await sessions.load(session_id) is None
