"""The alerting pack (deploy/prometheus/alerts.yml, deploy/grafana/vauchflow.json) names only metrics our processes
export, parses, and passes promtool's checks and its own rule unit tests (deploy/prometheus/alerts_test.yml)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry
from ruamel.yaml import YAML
from vauchflow_web.metrics import WebMetrics

from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_prober.metrics import ProberMetrics
from vauchflow_server.metrics import ServerMetrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "vauchflow.json"

# Exported by a process that is not on this branch yet: the backup job (issue 14) publishes its last success on
# port 9466 under this name (DESIGN.md); the alerts and the dashboard treat its absence as "not deployed".
EXPORTED_ELSEWHERE = {"vauchflow_backup_last_success_timestamp_seconds"}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
_METRIC = re.compile(r"(?<![:\w])(vauchflow_[a-z0-9_]+)")
_RECORDED = re.compile(r"(?<![\w])(vauchflow:[a-z0-9_:]+)")


def exported_series_names() -> set[str]:
    """Every series name the processes' metrics classes can expose (counters as *_total, histograms' parts)."""
    names: set[str] = set()
    for metrics in (ServerMetrics(), DeliveryMetrics(), WebMetrics(), ProberMetrics()):
        registry: CollectorRegistry = metrics.registry
        for family in registry.collect():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def unknown_metrics(expressions: list[str], known: set[str]) -> set[str]:
    return {name for expr in expressions for name in _METRIC.findall(expr)} - known - EXPORTED_ELSEWHERE


def _rules() -> list[dict]:
    document = YAML(typ="safe").load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_alert_is_labelled_and_explained() -> None:
    rules = _rules()
    alerts = [rule for rule in rules if "alert" in rule]
    assert {rule["alert"] for rule in alerts} >= {
        "AvailabilityErrorBudgetBurningFast",
        "AvailabilityErrorBudgetBurningSlowly",
        "RedemptionLatencyP99High",
        "WebhookDeliveryShareLow",
        "BackupTooOld",
        "OutboxLagHigh",
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_rules_name_only_exported_metrics_and_defined_recordings() -> None:
    rules = _rules()
    expressions = [rule["expr"] for rule in rules]
    assert unknown_metrics(expressions, exported_series_names()) == set()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    used = {name for expr in expressions for name in _RECORDED.findall(expr)}
    assert used - recorded == set()


def test_the_rpc_latency_alert_uses_the_code_label_the_server_exports() -> None:
    metrics = ServerMetrics()
    metrics.rpc_duration.labels("RedemptionService/RedeemVoucher", "OK").observe(0.01)
    assert any('code="OK"' in rule["expr"] for rule in _rules())
    assert (
        metrics.registry.get_sample_value(
            "vauchflow_rpc_duration_seconds_count", {"method": "RedemptionService/RedeemVoucher", "code": "OK"}
        )
        == 1
    )


def test_the_name_check_catches_a_metric_nobody_exports() -> None:
    known = exported_series_names()
    assert "vauchflow_probe_success" in known and "vauchflow_rpc_requests_total" in known
    assert unknown_metrics(["rate(vauchflow_rpc_requests[5m]) + vauchflow_made_up_seconds"], known) == {
        "vauchflow_rpc_requests",  # a counter is only ever exported as *_total
        "vauchflow_made_up_seconds",
    }


def test_the_dashboard_shows_the_six_components_from_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _dashboard_expressions(dashboard)
    assert unknown_metrics(expressions, exported_series_names()) == set()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    assert {name for expr in expressions for name in _RECORDED.findall(expr)} - recorded == set()
    stats = [panel for panel in dashboard["panels"] if panel["type"] == "stat"]
    assert len(stats) == 6
    joined = " ".join(expr for panel in stats for expr in _dashboard_expressions({"panels": [panel]}))
    for component in ('component="api"', 'component="redemption"', "within_1h_ratio", 'component="mcp"',
                      'component="dashboard"', "backup_last_success"):  # fmt: skip
        assert component in joined
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _promtool() -> str:
    # Debian's `prometheus` package ships it (apt-get install prometheus); without it these checks cannot run,
    # and a missing tool must not pass as a green test.
    path = shutil.which("promtool")
    assert path, "promtool not found: apt-get install prometheus (docs/status.md)"
    return path


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_fire_and_stay_quiet_as_their_unit_tests_expect() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        check=False,
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_compose_prometheus_config_with_the_rules() -> None:
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    result = subprocess.run(
        [_promtool(), "check", "config", str(config)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "rules found" in result.stdout, result.stdout
