"""The stack the dashboard's browser tests run against, started once for the package: the API server and the
webhook delivery service on one migrated database, Envoy in front of the API, Redis, the web service (acting
through Envoy, sessions in Redis), a local webhook receiver, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

import vauchflow
from support.delivery_service import DeliveryDatabase, start_delivery_service, with_role
from support.gateway import Gateway
from support.polling import wait_for
from support.ports import free_port
from support.services import MigratedDatabase, MigratedPostgres, start_api_server
from support.web_service import WebService, start_web_service
from support.webhook_receiver import WebhookReceiver
from vauchflow_core.db.migrate import DELIVERY_ROLE
from vauchflow_core.secret_box import KeyRing, generate_key_ring_text
from vauchflow_devstack import EmbeddedRedis, stop_child
from vauchflow_devstack.envoy import EmbeddedEnvoy
from vauchflow_devstack.envoy_config import GatewaySettings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots of the main pages, kept after the run (git-ignored).
ARTIFACTS = Path(os.environ.get("VAUCHFLOW_TEST_ARTIFACTS", "build/test-artifacts")) / "dashboard"


@dataclass(frozen=True)
class DashboardStack:
    web: WebService
    gateway: Gateway
    admin_token: str
    receiver: WebhookReceiver
    # The database's owner, for seeding history a test cannot wait for (an incident's last update 31 minutes old).
    owner_dsn: str = ""
    # Every tenant key new_tenant handed out: none may appear in the web service's log.
    issued: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The public port: the browser reaches the dashboard through Envoy, as merchants do."""
        return self.gateway.public_url

    def operator(self) -> vauchflow.OperatorClient:
        return vauchflow.OperatorClient(self.admin_token, target=self.gateway.grpc_target, tls=False)

    def tenant_client(self, secret: str) -> vauchflow.Client:
        return vauchflow.Client(secret, target=self.gateway.grpc_target, tls=False)

    def new_tenant(self, name: str) -> str:
        """A tenant on a plan whose rate a browser test cannot exhaust; returns its first key (every permission)."""
        with self.operator() as operator:
            secret = str(operator.tenants.create(name, plan="ENTERPRISE").secret)
        self.issued.append(secret)
        return secret


def _serves_the_dashboard(gateway: Gateway) -> bool:
    try:
        with urllib.request.urlopen(f"{gateway.public_url}/sign-in", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _address(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host, int(port)


def _gateway(root: Path, api_target: str, delivery_target: str, web_port: int) -> Gateway:
    """Envoy with every upstream, as in the dev stack: the API, the delivery service's event stream, and the web
    service (which is started after it, on web_port, since its own API target is this Envoy)."""
    settings = GatewaySettings(
        public_port=free_port(),
        admin_port=free_port(),
        api_addresses=(_address(api_target),),
        webhook_addresses=(_address(delivery_target),),
        web_addresses=(("127.0.0.1", web_port),),
    )
    envoy = EmbeddedEnvoy(root, settings)
    envoy.start(timeout=60)
    return Gateway(envoy)


@pytest.fixture(scope="package")
def dashboard_stack(
    postgres: MigratedPostgres,
    delivery_password: str,
    redis_server: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DashboardStack]:
    logs = tmp_path_factory.mktemp("dashboard-stack")
    database = postgres.create_database("dashboard")
    delivery_db = DeliveryDatabase(
        database.name, database.owner_dsn, database.app_dsn,
        with_role(database.owner_dsn, DELIVERY_ROLE, delivery_password),
    )  # fmt: skip
    key_ring = KeyRing.parse(generate_key_ring_text())
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    stoppers: list[tuple[str, object]] = []
    try:
        api = start_api_server(
            database=MigratedDatabase(database.name, database.owner_dsn, database.app_dsn),
            redis_url=redis_server.url, admin_token=admin_token, port=free_port(),
            log_path=logs / "api.log", webhook_keys=key_ring.to_text(),
        )  # fmt: skip
        stoppers.append(("api", api.process))
        delivery = start_delivery_service(delivery_db, key_ring, logs / "delivery.log")
        stoppers.append(("delivery", delivery.process))
        web_port = free_port()
        gateway = _gateway(logs / "gateway", api.target, delivery.target, web_port)
        web = start_web_service(
            api_target=gateway.grpc_target,
            port=web_port,
            log_path=logs / "web.log",
            extra_env={
                "VAUCHFLOW_WEB_REDIS_URL": redis_server.url,
                "VAUCHFLOW_WEB_SESSION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            },
        )
        stoppers.append(("web", web.process))
        wait_for(lambda: _serves_the_dashboard(gateway), what="the dashboard through Envoy", timeout=30)
        with WebhookReceiver() as receiver:
            stack = DashboardStack(web, gateway, admin_token, receiver, database.owner_dsn)
            yield stack
        gateway.stop()
        stop_child(web.process, name="web", sig=signal.SIGTERM, timeout=30)
        web_log = web.log_path.read_text()
        assert "dashboard_signed_in" in web_log  # the log is the one the sign-ins wrote to
        leaked = [secret[:10] for secret in [admin_token, *stack.issued] if secret in web_log]
        assert not leaked, f"secrets in the web service's log: {leaked}"
    finally:
        for name, process in reversed(stoppers):
            stop_child(process, name=name, sig=signal.SIGTERM, timeout=30)  # type: ignore[arg-type]
        postgres.drop_database(database.name)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class ConsoleErrors(list[str]):
    """Every console error and uncaught page error of a context (CSP refusals among them)."""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    created = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    errors = ConsoleErrors()
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.console_errors = errors  # type: ignore[attr-defined]
    yield opened
    assert not errors, f"console errors: {errors}"


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, base_url: str, secret: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.fill("#secret", secret)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
