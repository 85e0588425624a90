"""Signing in and out: an API key (merchant staff) or the operator token (platform operators) becomes a server-side
session; the browser gets only its opaque id.

The secret is checked by the API itself (GetCurrentApiKey for a key, ListTenants for the operator token) and is
never echoed back: a refused sign-in shows the same message whatever was typed. Refused sign-ins are counted per
client address (SignInThrottle): past the limit the form answers 429 with Retry-After, without asking the API.
"""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import vauchflow
from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.dashboard.page_guard import (
    CSRF_FIELD,
    SIGN_IN_COOKIE,
    PageGuard,
    clear_session_cookie,
    client_address,
    cookies_secure,
    new_sign_in_token,
    set_session_cookie,
    tokens_match,
)
from vauchflow_web.dashboard.rendering import FORM_NEEDS_ATTENTION, Renderer
from vauchflow_web.dashboard.sessions import SessionStore, new_session
from vauchflow_web.dashboard.sign_in_throttle import SignInThrottle

log = logging.getLogger(__name__)

TENANT_KEY_PREFIX = "vf_sk_"
REFUSED = "That key was not accepted. Check that it is complete and has not been revoked."
UNREACHABLE = "The API could not be reached to check the key. Try again shortly."
ENDED = "Your session ended: it was idle for too long, or its key is no longer valid. Sign in again."
THROTTLED = "Too many failed sign-ins from your network. Try again in {wait}."


class SignIn:
    def __init__(
        self,
        config: WebConfig,
        api: ApiAccess,
        sessions: SessionStore,
        guard: PageGuard,
        renderer: Renderer,
        throttle: SignInThrottle,
    ) -> None:
        self._config = config
        self._throttle = throttle
        self._api = api
        self._sessions = sessions
        self._guard = guard
        self._render = renderer

    async def form(self, request: Request) -> Response:
        if await self._guard.current_session(request):
            return RedirectResponse("/", status_code=303)
        notice = ENDED if request.query_params.get("ended") else ""
        return self.sign_in_page(request, notice=notice)

    def sign_in_page(self, request: Request, *, error: str = "", notice: str = "", status_code: int = 200) -> Response:
        token = new_sign_in_token()
        context = {"title": "Sign in", "sign_in_token": token, "error": error, "notice": notice}
        response = self._render.bare(request, "sign_in.html", context, status_code=status_code)
        response.set_cookie(
            SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=cookies_secure(request), path="/sign-in"
        )
        return response

    async def submit(self, request: Request) -> Response:
        form = await request.form()
        if not tokens_match(form.get(CSRF_FIELD), request.cookies.get(SIGN_IN_COOKIE, "")):
            return self.sign_in_page(request, error="The form expired. Try again.", status_code=403)
        secret = str(form.get("secret", "")).strip()
        if not secret:
            return self.sign_in_page(
                request, error="Paste an API key or the operator token.", status_code=FORM_NEEDS_ATTENTION
            )
        address = client_address(request) or "unknown"
        if wait := await self._throttle.wait_seconds(address):
            log.info("sign-in throttled", extra={"action": "dashboard_sign_in_throttled"})
            return self._throttled(request, wait)
        try:
            if secret.startswith(TENANT_KEY_PREFIX):
                caller = self._api.as_caller(secret, request_id=request.state.request_id, client_address=address)
                whoami = await caller.api_keys.current()
                session = new_session(secret, "tenant", f"{whoami.tenant.name} · {whoami.api_key.name}")
            else:
                await self._check_operator_token(secret, request.state.request_id, address)
                session = new_session(secret, "operator", "Platform operator")
        except (vauchflow.AuthenticationError, vauchflow.PermissionDeniedError):
            log.info("sign-in refused", extra={"action": "dashboard_sign_in_refused"})
            await self._throttle.record_failure(address)
            return self.sign_in_page(request, error=REFUSED, status_code=FORM_NEEDS_ATTENTION)
        except vauchflow.VauchflowError as error:
            if isinstance(error, vauchflow.RateLimitedError) and error.metadata.get("scope") == "client_address":
                # The API's own limit on failed authentications from this address: the same answer as ours.
                log.info("sign-in throttled by the API", extra={"action": "dashboard_sign_in_throttled"})
                return self._throttled(request, math.ceil(error.retry_after or 60))
            log.warning("sign-in check failed", extra={"action": "dashboard_sign_in_failed", "reason": error.reason})
            return self.sign_in_page(request, error=UNREACHABLE, status_code=503)
        session_id = await self._sessions.create(session)
        log.info("signed in", extra={"action": "dashboard_signed_in", "kind": session.kind})
        response = RedirectResponse("/operator/tenants" if session.kind == "operator" else "/", status_code=303)
        set_session_cookie(response, request, session_id)
        response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
        return response

    def _throttled(self, request: Request, wait_seconds: int) -> Response:
        minutes = math.ceil(wait_seconds / 60)
        wait = "a minute" if minutes <= 1 else f"{minutes} minutes"
        response = self.sign_in_page(request, error=THROTTLED.format(wait=wait), status_code=429)
        response.headers["retry-after"] = str(wait_seconds)
        return response

    async def sign_out(self, request: Request) -> Response:
        found = await self._guard.current_session(request)
        form = await request.form()
        if found is not None:
            session_id, session = found
            if not tokens_match(form.get(CSRF_FIELD), session.csrf_token):
                return self._render.bare(
                    request, "message.html", {"title": "Refused", "text": "Reload the page and sign out again."}, 403
                )
            await self._sessions.end(session_id)
        response = RedirectResponse("/sign-in", status_code=303)
        clear_session_cookie(response, request)
        return response

    async def _check_operator_token(self, token: str, request_id: str, address: str) -> None:
        """Raises AuthenticationError/PermissionDeniedError when the API does not take the token. The browser's
        address goes with it: a wrong token counts against that address's failed authentications in the API."""
        async with self._api.as_operator(token, request_id=request_id, client_address=address) as operator:
            async for _page in operator.tenants.list(page_size=1).pages():
                break
