"""What stands between a browser and a dashboard page: the session cookie, the CSRF check, the key's permissions,
and the security headers every page carries.

A handler wrapped by `tenant_page` or `operator_page` receives a `Caller`: the session, a client acting with the
session's secret, and (for a tenant) who the key is right now. Asking the API on every request is what ends the
session of a key revoked elsewhere at its next request, and keeps the offered actions in step with the key.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import vauchflow
from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.dashboard.rendering import Renderer
from vauchflow_web.dashboard.sessions import Session, SessionStore

log = logging.getLogger(__name__)

SESSION_COOKIE = "vf_session"
# Sign-in has no session yet: its form carries a token that must equal this cookie (double submit).
SIGN_IN_COOKIE = "vf_sign_in"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Caller:
    session: Session
    session_id: str
    client: vauchflow.AsyncClient | None
    # The tenant key's permissions as the API reports them now; empty for the operator.
    permissions: frozenset[str]
    whoami: Any | None
    # For an operator session: its client for this request (ApiAccess.as_operator).
    operator: vauchflow.AsyncOperatorClient | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def operator_api(self) -> vauchflow.AsyncOperatorClient:
        if self.operator is None:
            raise RuntimeError("an operator page ran without PageGuard.operator_page")
        return self.operator


Handler = Callable[[Request, Caller], Awaitable[Response]]


def cookies_secure(request: Request) -> bool:
    """Secure cookies when the browser reached us over TLS (Envoy says so in x-forwarded-proto)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="strict", secure=cookies_secure(request), path="/"
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=cookies_secure(request), path="/")


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def client_address(request: Request) -> str | None:
    """The browser's address: the entry Envoy appended to x-forwarded-for (the last one: earlier entries are
    whatever the browser sent), else the peer's own address when reached directly."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()[:64] or None
    return request.client.host if request.client else None


class PageGuard:
    def __init__(self, config: WebConfig, api: ApiAccess, sessions: SessionStore, renderer: Renderer) -> None:
        self._config = config
        self._api = api
        self._sessions = sessions
        self._renderer = renderer

    async def current_session(self, request: Request) -> tuple[str, Session] | None:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = await self._sessions.load(session_id)
        return (session_id, session) if session else None

    def tenant_page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            found = await self.current_session(request)
            if found is None or found[1].kind != "tenant":
                return self._to_sign_in(request, ended=found is None and SESSION_COOKIE in request.cookies)
            session_id, session = found
            refused = await self._refuse_without_csrf(request, session)
            if refused:
                return refused
            client = self._api.as_caller(
                session.secret,
                request_id=request.state.request_id,
                client_address=client_address(request),
                commit_position=session.commit_position,
            )
            try:
                whoami = await client.api_keys.current()
            except vauchflow.AuthenticationError:
                # The key was revoked (or the tenant removed) since sign-in: the session ends here.
                await self._sessions.end(session_id)
                log.info("session ended: key no longer valid", extra={"action": "dashboard_session_key_invalid"})
                return self._to_sign_in(request, ended=True)
            caller = Caller(session, session_id, client, frozenset(whoami.api_key.permissions), whoami)
            try:
                return await self._answer(request, caller, handler)
            finally:
                # The session's writes raised the position: its next page reads at or after them.
                await self._sessions.remember_commit_position(session_id, session, client.commit_position)

        return guarded

    def operator_page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            found = await self.current_session(request)
            if found is None or found[1].kind != "operator":
                return self._to_sign_in(request, ended=False)
            session_id, session = found
            refused = await self._refuse_without_csrf(request, session)
            if refused:
                return refused
            async with self._api.as_operator(
                session.secret, request_id=request.state.request_id, client_address=client_address(request)
            ) as operator:
                caller = Caller(session, session_id, None, frozenset(), None, operator)
                return await self._answer(request, caller, handler)

        return guarded

    async def _answer(self, request: Request, caller: Caller, handler: Handler) -> Response:
        try:
            return await handler(request, caller)
        except vauchflow.AuthenticationError:
            await self._sessions.end(caller.session_id)
            return self._to_sign_in(request, ended=True)
        except vauchflow.PermissionDeniedError:
            return self._renderer.page(
                request, caller, "message.html", {"title": "Not allowed", "text": _NOT_ALLOWED}, status_code=403
            )
        except vauchflow.NotFoundError:
            return self._renderer.page(
                request, caller, "message.html", {"title": "Not found", "text": "There is nothing here."}, 404
            )
        except vauchflow.RateLimitedError as error:
            wait = f" Try again in {error.retry_after:.0f} s." if error.retry_after else ""
            text = "Your plan's request rate is used up for the moment." + wait
            return self._renderer.page(request, caller, "message.html", {"title": "Slow down", "text": text}, 429)
        except vauchflow.VauchflowError as error:
            # The API's messages say what was wrong with the request and never carry a secret (DESIGN.md, Errors).
            log.info("api call refused", extra={"action": "dashboard_api_refused", "reason": error.reason})
            text = error.message if error.reason else "The API could not be reached. Try again shortly."
            context = {"title": "That did not work", "text": text, "reason": error.reason}
            return self._renderer.page(request, caller, "message.html", context, status_code=error.http_status)

    async def _refuse_without_csrf(self, request: Request, session: Session) -> Response | None:
        if request.method in ("GET", "HEAD"):
            return None
        form = await request.form()
        if tokens_match(form.get(CSRF_FIELD), session.csrf_token):
            return None
        log.warning("form without a valid csrf token", extra={"action": "dashboard_csrf_refused"})
        return self._renderer.bare(
            request, "message.html", {"title": "Refused", "text": _CSRF_REFUSED}, status_code=403
        )

    def _to_sign_in(self, request: Request, *, ended: bool) -> Response:
        response = RedirectResponse("/sign-in?ended=1" if ended else "/sign-in", status_code=303)
        if ended:
            clear_session_cookie(response, request)
        return response


_NOT_ALLOWED = "The key you signed in with does not have the permission this needs."
_CSRF_REFUSED = (
    "This form was not sent from a dashboard page (its security token is missing or stale). Reload the page."
)
