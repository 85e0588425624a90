"""The public status page through Envoy and the web service, fed by the real API: the HTML (no script, nothing
from elsewhere), summary.json against its published schema, the Atom feed through a real feed parser, and the
last known state with its age when the API is gone."""

from __future__ import annotations

import json
import re
import secrets
import signal
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import feedparser
import jsonschema

from support.gateway import Gateway, expect_json, start_gateway
from support.polling import wait_for
from support.ports import free_port
from support.services import start_api_server
from support.web_service import start_web_service
from vauchflow_devstack import stop_child

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "server" / "vauchflow_web" / "status" / "summary.schema.json").read_text()
)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _open_incident(gateway: Gateway, token: str, title: str) -> dict:
    body = {"title": title, "components": ["MONITORED_COMPONENT_API"], "affected_plans": ["PLAN_SCALE"],
            "message": "Requests <b>fail</b> & we look into it."}  # fmt: skip
    return expect_json(gateway.rest(token).request("POST", "/v1/status/incidents", body))["incident"]


def _report_passing_api(gateway: Gateway, token: str) -> None:
    report = {"results": [{"component": "MONITORED_COMPONENT_API", "outcome": "CHECK_OUTCOME_PASSED",
                           "duration": "0.012s"}]}  # fmt: skip
    expect_json(gateway.rest(token).request("POST", "/v1/status/checks:report", report))


def test_the_page_json_and_feed_show_components_and_incidents(web_gateway: Gateway, api_server) -> None:
    title = f"Elevated errors {uuid.uuid4().hex[:8]}"
    incident = _open_incident(web_gateway, api_server.admin_token, title)
    _report_passing_api(web_gateway, api_server.admin_token)
    base = web_gateway.public_url

    def page_shows_incident() -> bool:
        return title.encode() in fetch(f"{base}/status")[2]

    wait_for(page_shows_incident, what="the page shows the new incident", timeout=30)  # the page caches ~5 s
    status, headers, body = fetch(f"{base}/status")
    html = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "<script" not in html.lower()
    # Every URL the page loads is its own (no CDN).
    assert all(u.startswith("/") for u in re.findall(r'(?:href|src)="([^"]+)"', html)), html
    assert "API uptime" in html and "Scale and Enterprise" in html
    assert "Requests &lt;b&gt;fail&lt;/b&gt; &amp; we look into it." in html  # escaped, never markup
    assert html.count('class="bar ') == 6 * 90  # a bar per day and component
    assert fetch(f"{base}/status/status.css")[0] == 200

    status, headers, body = fetch(f"{base}/status/summary.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    document = json.loads(body)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert incident["id"] in [i["id"] for i in document["open_incidents"]]
    assert document["page"]["stale"] is False
    api = next(c for c in document["components"] if c["component"] == "MONITORED_COMPONENT_API")
    assert api["state"] == "COMPONENT_STATE_OPERATIONAL"
    assert api["days"][-1]["uptime_percent"] == 100.0  # only passing checks were reported to this database

    status, headers, body = fetch(f"{base}/status/feed.atom")
    assert status == 200 and headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    entry = next(e for e in feed.entries if title in e.title)
    assert entry.title == f"Investigating: {title}"
    assert entry.summary == "Requests <b>fail</b> & we look into it."
    assert entry.link.endswith(f"/status#incident-{incident['id']}")


def test_the_schema_rejects_a_summary_it_does_not_describe() -> None:
    broken = {"generate_time": "x", "overall_state": "FINE", "components": [], "open_incidents": [],
              "recent_incidents": [], "sla_note": "", "page": {}}  # fmt: skip
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(broken))
    assert len(errors) >= 3


def test_with_the_api_gone_the_page_shows_the_last_known_state_and_its_age(postgres, redis_server, tmp_path) -> None:
    database = postgres.create_database("status_page")
    token = "vf_op_" + secrets.token_urlsafe(24)
    server = start_api_server(database=database, redis_url=redis_server.url, admin_token=token, port=free_port(),
                              log_path=tmp_path / "server.log")  # fmt: skip
    web = None
    gateway = None
    try:
        # The web service reads the API directly here, so stopping the API leaves Envoy and the page up.
        web = start_web_service(api_target=server.target, log_path=tmp_path / "web.log")
        gateway = start_gateway(tmp_path / "gateway", [server.target], web_address=web.address)
        _open_incident(gateway, token, "Known before the outage")
        wait_for(lambda: b"Known before the outage" in fetch(f"{gateway.public_url}/status")[2],
                 what="the page shows the incident", timeout=30)  # fmt: skip

        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0

        def stale_json() -> bool:
            status, _, body = fetch(f"{gateway.public_url}/status/summary.json")
            return status == 200 and json.loads(body)["page"]["stale"] is True

        wait_for(stale_json, what="summary.json marked stale", timeout=60)
        status, _, body = fetch(f"{gateway.public_url}/status")
        html = body.decode()
        assert status == 200
        assert "Known before the outage" in html
        assert "we cannot reach our status data right now" in html.lower()
        assert "ago" in html
    finally:
        if gateway is not None:
            gateway.stop()
        if web is not None:
            assert web.stop(signal.SIGTERM) == 0
        if server.process.poll() is None:
            stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30)
        postgres.drop_database(database.name)
