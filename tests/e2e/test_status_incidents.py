"""The incident API's life cycle through REST on the real Envoy, API server and PostgreSQL: open (operator token),
Identified → Monitoring → Resolved with an immutable history, refused transitions, and the public summary."""

from __future__ import annotations

import datetime as dt
import uuid

from support.gateway import Gateway, expect_error, expect_json, field_violations


def _ids(updates: list[dict]) -> list[str]:
    return [u["id"] for u in updates]


def test_an_incident_moves_through_its_states_with_an_immutable_history(gateway: Gateway, api_server) -> None:
    operator = gateway.rest(api_server.admin_token)
    request_id = str(uuid.uuid4())
    opened = {
        "title": "Webhooks delayed",
        "components": ["MONITORED_COMPONENT_WEBHOOKS"],
        "affected_plans": ["PLAN_SCALE", "PLAN_ENTERPRISE"],
        "request_id": request_id,
    }
    incident = expect_json(operator.request("POST", "/v1/status/incidents", opened))["incident"]
    assert incident["state"] == "INCIDENT_STATE_INVESTIGATING"
    assert incident["overdue"] is False and incident["postmortem_required"] is False
    assert [u["state"] for u in incident["updates"]] == ["INCIDENT_STATE_INVESTIGATING"]
    assert incident["updates"][0]["message"] == "We are investigating an issue affecting Webhook delivery."
    # An idempotent retry returns the same incident; the key with another request is refused.
    replay = expect_json(operator.request("POST", "/v1/status/incidents", opened))["incident"]
    assert replay["id"] == incident["id"] and len(replay["updates"]) == 1
    expect_error(
        operator.request("POST", "/v1/status/incidents", {**opened, "title": "other"}), 409, "IDEMPOTENCY_KEY_REUSED"
    )

    path = f"/v1/status/incidents/{incident['id']}/updates"
    eta = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    identified = {
        "state": "INCIDENT_STATE_IDENTIFIED",
        "message": "The relay lost its database connection.",
        "affected_endpoints": ["webhook deliveries"],
        "workaround": "Use GET /v1/events to catch up.",
        "expected_resolution_time": eta,
    }
    after_identified = expect_json(operator.request("POST", path, identified))["incident"]
    assert after_identified["state"] == "INCIDENT_STATE_IDENTIFIED"
    first_two = after_identified["updates"]
    assert first_two[0]["workaround"] == "Use GET /v1/events to catch up." and first_two[0]["author"] == "operator"

    # Back to Investigating is not a step an incident takes.
    refused = expect_error(
        operator.request("POST", path, {"state": "INCIDENT_STATE_INVESTIGATING", "message": "hm"}),
        400,
        "INVALID_ARGUMENT",
    )
    assert [v["field"] for v in field_violations(refused)] == ["update.state"]

    expect_json(operator.request("POST", path, {"state": "INCIDENT_STATE_MONITORING", "message": "Fix deployed."}))
    resolved = expect_json(
        operator.request(
            "POST",
            path,
            {"state": "INCIDENT_STATE_RESOLVED", "message": "Relay restarted.", "catch_up_window": "30 minutes"},
        )
    )["incident"]
    assert resolved["state"] == "INCIDENT_STATE_RESOLVED" and resolved["resolve_time"]
    states = [u["state"] for u in resolved["updates"]]
    assert states == [
        "INCIDENT_STATE_RESOLVED",
        "INCIDENT_STATE_MONITORING",
        "INCIDENT_STATE_IDENTIFIED",
        "INCIDENT_STATE_INVESTIGATING",
    ]
    # The history only grew: the earlier entries are exactly as they were.
    assert resolved["updates"][2:] == first_two
    expect_error(operator.request("POST", path, {"state": "INCIDENT_STATE_RESOLVED", "message": "again"}), 400,
                 "INVALID_ARGUMENT")  # fmt: skip

    fetched = expect_json(operator.request("GET", f"/v1/status/incidents/{incident['id']}"))["incident"]
    assert fetched == resolved
    listed = expect_json(operator.request("GET", "/v1/status/incidents", query={"page_size": "100"}))["incidents"]
    assert incident["id"] in [i["id"] for i in listed]

    # Public: the summary needs no credentials and shows the resolved incident among the recent ones.
    summary = expect_json(gateway.rest().request("GET", "/v1/status/summary"))
    assert incident["id"] in [i["id"] for i in summary["recent_incidents"]]
    assert "Scale and Enterprise" in summary["sla_note"]
    assert [c["component"] for c in summary["components"]] == [
        "MONITORED_COMPONENT_API",
        "MONITORED_COMPONENT_REDEMPTION",
        "MONITORED_COMPONENT_WEBHOOKS",
        "MONITORED_COMPONENT_MCP",
        "MONITORED_COMPONENT_DASHBOARD",
        "MONITORED_COMPONENT_BACKUPS",
    ]
    assert all(len(c["days"]) == 90 for c in summary["components"])


def test_incidents_and_reports_need_the_operator_token(gateway: Gateway, api_server) -> None:
    anonymous = gateway.rest()
    body = {"title": "x", "components": ["MONITORED_COMPONENT_API"]}
    expect_error(anonymous.request("POST", "/v1/status/incidents", body), 401, "API_KEY_INVALID")
    expect_error(gateway.rest("vf_op_wrong").request("POST", "/v1/status/incidents", body), 401, "API_KEY_INVALID")
    report = {"results": [{"component": "MONITORED_COMPONENT_API", "outcome": "CHECK_OUTCOME_PASSED"}]}
    expect_error(anonymous.request("POST", "/v1/status/checks:report", report), 401, "API_KEY_INVALID")
    missing = expect_error(
        gateway.rest(api_server.admin_token).request("GET", f"/v1/status/incidents/{uuid.uuid4()}"), 404, "NOT_FOUND"
    )
    assert "no incident" in missing["message"]
