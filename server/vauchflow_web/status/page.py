"""The status page's three renderings of one summary: HTML (/status), JSON (/status/summary.json, schema in
summary.schema.json beside this file) and an Atom feed of incident updates (/status/feed.atom).

No scripts and nothing from a CDN: the page is plain HTML with one stylesheet served from here, so it renders
under a strict Content-Security-Policy and keeps working when everything else is on fire.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from vauchflow_web.status.summary_source import SummarySnapshot

HERE = Path(__file__).parent
STYLESHEET = (HERE / "status.css").read_bytes()
_TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
ATOM = "http://www.w3.org/2005/Atom"
# A summary older than this is called out on the page even when the last refresh worked.
STALE_AFTER_SECONDS = 120.0

_COMPONENT_IDS = {"MONITORED_COMPONENT_API": "api", "MONITORED_COMPONENT_REDEMPTION": "redemption",
                  "MONITORED_COMPONENT_WEBHOOKS": "webhooks", "MONITORED_COMPONENT_MCP": "mcp",
                  "MONITORED_COMPONENT_DASHBOARD": "dashboard", "MONITORED_COMPONENT_BACKUPS": "backups"}  # fmt: skip
_COMPONENT_NAMES = {"api": "API uptime", "redemption": "Redemption latency p99", "webhooks": "Webhook delivery",
                    "mcp": "MCP server", "dashboard": "Dashboard", "backups": "Database backup currency"}  # fmt: skip


def _state(value: str) -> tuple[str, str]:
    """'COMPONENT_STATE_MAJOR_OUTAGE' → ('Major outage', 'major-outage')."""
    raw = value.removeprefix("COMPONENT_STATE_").removeprefix("INCIDENT_STATE_")
    return raw.replace("_", " ").capitalize(), raw.lower().replace("_", "-")


def summary_document(snapshot: SummarySnapshot, now: float | None = None) -> dict[str, Any]:
    """The public JSON: the API's summary plus where this copy came from and how old it is."""
    fetched = dt.datetime.fromtimestamp(snapshot.fetched_at, dt.UTC)
    return {
        **snapshot.summary,
        "page": {
            "fetched_time": fetched.isoformat().replace("+00:00", "Z"),
            "age_seconds": round(snapshot.age_seconds(now), 1),
            "stale": snapshot.stale,
        },
    }


def _age_note(snapshot: SummarySnapshot, now: float | None) -> str:
    age = snapshot.age_seconds(now)
    if not snapshot.stale and age < STALE_AFTER_SECONDS:
        return ""
    minutes = int(age // 60)
    when = f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else f"{int(age)} seconds"
    return f"We cannot reach our status data right now; this is what we knew {when} ago."


def _incident_view(incident: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": incident["id"],
        "title": incident["title"],
        "state_label": _state(incident["state"])[0],
        "overdue": incident.get("overdue", False),
        "components": ", ".join(_COMPONENT_NAMES.get(_COMPONENT_IDS.get(c, ""), c) for c in incident["components"]),
        "plans": ", ".join(p.removeprefix("PLAN_").capitalize() for p in incident.get("affected_plans", [])),
        "postmortem_due": incident.get("postmortem_due_date", ""),
        "updates": [
            {
                "state_label": _state(u["state"])[0],
                "time": u.get("create_time", ""),
                "message": u["message"],
                "workaround": u.get("workaround", ""),
                "catch_up_window": u.get("catch_up_window", ""),
            }
            for u in incident.get("updates", [])
        ],
    }


def _day_view(day: dict[str, Any]) -> dict[str, str]:
    percent = day.get("uptime_percent")
    if percent is None:
        return {"css": "none", "title": f"{day['date']}: no data"}
    css = "up" if percent >= 99.9 else "dip" if percent >= 99.0 else "down"
    return {"css": css, "title": f"{day['date']}: {percent:.2f}%"}


def render_html(snapshot: SummarySnapshot | None, now: float | None = None) -> str:
    if snapshot is None:
        return _TEMPLATES.get_template("status.html").render(
            overall_label="Status unknown", overall_class="unknown", stale=True,
            age_note="Status data is unavailable right now.", components=[], open_incidents=[],
            recent_incidents=[], sla_note="",
        )  # fmt: skip
    summary = snapshot.summary
    components = []
    for c in summary.get("components", []):
        label, css = _state(c["state"])
        uptime = c.get("uptime_90d_percent")
        p99 = c.get("p99_milliseconds")
        components.append(
            {
                "id": _COMPONENT_IDS.get(c["component"], "unknown"),
                "name": c["display_name"],
                "state_label": label,
                "state_class": css,
                "target": c["target"],
                "reason": c.get("state_reason", ""),
                "p99": f"{p99:.0f} ms" if p99 is not None else "",
                "uptime": f"{uptime:.3f}%" if uptime is not None else "no data yet",
                "days": [_day_view(d) for d in c.get("days", [])],
            }
        )
    overall_label, overall_class = _state(summary.get("overall_state", "COMPONENT_STATE_UNKNOWN"))
    return _TEMPLATES.get_template("status.html").render(
        overall_label=overall_label,
        overall_class=overall_class,
        stale=snapshot.stale,
        age_note=_age_note(snapshot, now),
        components=components,
        open_incidents=[_incident_view(i) for i in summary.get("open_incidents", [])],
        recent_incidents=[_incident_view(i) for i in summary.get("recent_incidents", [])],
        sla_note=summary.get("sla_note", ""),
    )


def render_atom(snapshot: SummarySnapshot | None, base_url: str) -> bytes:
    """One entry per incident update (newest first), so a reader sees every state change and cadence update."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = "Vauchflow status: incidents"
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base_url}/status"
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base_url}/status")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base_url}/status/feed.atom")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "Vauchflow"
    summary = snapshot.summary if snapshot else {}
    entries = []
    for incident in [*summary.get("open_incidents", []), *summary.get("recent_incidents", [])]:
        for update in incident.get("updates", []):
            entries.append((update.get("create_time", ""), incident, update))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    generated = summary.get("generate_time") or dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = entries[0][0] if entries else generated
    for when, incident, update in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        state = _state(update["state"])[0]
        ET.SubElement(entry, f"{{{ATOM}}}title").text = f"{state}: {incident['title']}"
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:vauchflow:incident:{incident['id']}:update:{update['id']}"
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = when
        ET.SubElement(entry, f"{{{ATOM}}}link", href=f"{base_url}/status#incident-{incident['id']}")
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = update["message"]
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")).encode()
