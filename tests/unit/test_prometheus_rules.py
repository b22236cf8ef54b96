"""The operators' alerts: openshift/prometheusrule-template.yaml.

The template is rendered with its defaults (by the renderer of tests/support/openshift.py), its
PrometheusRule checked field by field (a custom resource: kubernetes-validate has no schema for it), and its
rule groups written to a rules file on which ``promtool check rules`` and ``promtool test rules`` (with
tests/unit/prometheus/package-releases-alerts.test.yaml) must pass. promtool comes from Debian's
``prometheus`` package, which ``make test`` installs where it is missing; without it these tests fail under
CI (``CI=true``) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.openshift import REPO, declared_parameters, rendered

TEMPLATE = "prometheusrule-template.yaml"
UNIT_TESTS = Path(__file__).parent / "prometheus" / "package-releases-alerts.test.yaml"
RULES_FILE_NAME = "package-releases-rules.yaml"  # the name the unit tests' rule_files refers to
ALERTS = (
    "ThothPackageReleasesNoRecentSuccess",
    "ThothPackageReleasesRunFailed",
    "ThothPackageReleasesIndexFailing",
    "ThothPackageReleasesNotificationsDead",
)
# Pushed by the job (metrics.py) under job "package-releases", or added by the push gateway.
PUSHED_METRICS = (
    "thoth_package_releases_last_success_timestamp_seconds",
    "thoth_package_releases_run_success",
    "thoth_package_releases_index_up",
    "thoth_package_releases_notifications",
    "push_time_seconds",
)
_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool executable: a failure under CI, where make test installs it; a skip elsewhere."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing: install Debian's prometheus package (make test does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def prometheus_rule(**overrides: str) -> dict[str, Any]:
    (rule,) = rendered(TEMPLATE, **overrides)
    assert isinstance(rule, dict)
    return rule


def rules(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for group in rule["spec"]["groups"] for entry in group["rules"]]


def write_rules(rule: dict[str, Any], folder: Path) -> Path:
    """Write the PrometheusRule's groups as a Prometheus rules file, next to a copy of the unit tests."""
    path = folder / RULES_FILE_NAME
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False), encoding="utf-8")
    shutil.copy(UNIT_TESTS, folder / UNIT_TESTS.name)
    return path


def run(command: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def test_prometheus_rule_structure() -> None:
    rule = prometheus_rule()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["metadata"]) == {"name", "labels"}
    assert _NAME.fullmatch(rule["metadata"]["name"])
    assert all(isinstance(value, str) for value in rule["metadata"]["labels"].values())
    assert set(rule["spec"]) == {"groups"}
    groups = rule["spec"]["groups"]
    assert [group["name"] for group in groups] == ["thoth-package-releases"]
    for group in groups:
        assert set(group) <= {"name", "interval", "rules"}
        for entry in group["rules"]:
            assert set(entry) <= {"alert", "expr", "for", "labels", "annotations"}, entry
            assert isinstance(entry["expr"], str)
            assert entry["expr"].strip()
            if "for" in entry:
                assert _DURATION.fullmatch(entry["for"]), entry["for"]
            assert entry["labels"]["severity"] in {"critical", "warning"}
            assert set(entry["annotations"]) == {"summary", "description"}
            for mapping in (entry["labels"], entry["annotations"]):
                assert all(isinstance(key, str) and isinstance(value, str) for key, value in mapping.items())
    assert [entry["alert"] for entry in rules(rule)] == list(ALERTS)


def test_rules_read_only_the_metrics_the_job_pushes() -> None:
    for entry in rules(prometheus_rule()):
        names = set(re.findall(r"\b(?:thoth_package_releases_[a-z_]+|push_time_seconds)\b", entry["expr"]))
        assert names, entry["alert"]
        assert names <= set(PUSHED_METRICS), entry["alert"]
        # Every selector is restricted to the job's metrics on the push gateway.
        assert entry["expr"].count('{job="package-releases"') == len(re.findall(r"\b\w+\{", entry["expr"]))


def test_metric_names_are_the_ones_metrics_py_pushes() -> None:
    from datetime import UTC, datetime

    from prometheus_client.exposition import generate_latest

    from thoth.package_releases import metrics
    from thoth.package_releases.report import RunReport

    now = datetime.now(UTC)
    report = RunReport(started_at=now, dry_run=False, shard_index=0, shard_count=1)
    report.finished_at = now
    exposed = generate_latest(metrics.build_registry(report, environ={}, last_success=now)).decode()
    assert metrics.JOB_NAME == "package-releases"
    for name in PUSHED_METRICS:
        if name != "push_time_seconds":  # the push gateway's own
            assert re.search(rf"^# TYPE {name} gauge$", exposed, re.MULTILINE), name


def test_promtool_check_rules(promtool: str, tmp_path: Path) -> None:
    path = write_rules(prometheus_rule(), tmp_path)
    result = run([promtool, "check", "rules", str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_of_every_alert(promtool: str, tmp_path: Path) -> None:
    write_rules(prometheus_rule(), tmp_path)
    result = run([promtool, "test", "rules", UNIT_TESTS.name], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_unit_tests_that_fire_and_that_do_not() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [RULES_FILE_NAME]
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    for alert in ALERTS:
        expectations = [bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert]
        assert True in expectations, f"{alert}: no test where it fires"
        assert False in expectations, f"{alert}: no test where it stays quiet"


def test_parameters_reach_the_rules(promtool: str, tmp_path: Path) -> None:
    rule = prometheus_rule(
        SCHEDULE_INTERVAL_SECONDS="3600",
        NO_SUCCESS_INTERVALS="3",
        RUN_FAILED_FOR="1h",
        INDEX_FAILING_RUNS="5",
        INDEX_FAILING_WINDOW="5h",
        RULE_NAME="alerts",
    )
    assert rule["metadata"]["name"] == "alerts"
    by_name = {entry["alert"]: entry for entry in rules(rule)}
    assert "> 3600 * 3" in by_name["ThothPackageReleasesNoRecentSuccess"]["expr"]
    assert by_name["ThothPackageReleasesRunFailed"]["for"] == "1h"
    index_expr = by_name["ThothPackageReleasesIndexFailing"]["expr"]
    assert ">= 5" in index_expr
    assert index_expr.count("[5h") == 2
    result = run([promtool, "check", "rules", str(write_rules(rule, tmp_path))], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_operations_section_lists_every_alert() -> None:
    readme = (REPO / "README.rst").read_text(encoding="utf-8")
    operations = readme.split("\nOperations\n", 1)[1]
    for alert in ALERTS:
        assert f"``{alert}``" in operations, alert
    for parameter in declared_parameters(TEMPLATE):
        assert f"``{parameter}``" in readme, parameter
