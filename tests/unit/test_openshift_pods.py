"""How the deployment rehearsal turns a rendered pod into a process (tests/support/openshift.py).

The kubelet's rules for the environment (literal values, ConfigMap and Secret references, optional ones, envFrom
under env), JOB_COMPLETION_INDEX for an Indexed Job's pods, and the mapping of the image's paths, nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.openshift import REPO, Namespace, TemplateError, Workload, container_process, workloads


def job(container: dict[str, Any], *, indexed: bool = False) -> list[dict[str, Any]]:
    """A rendered Job with one container, a ConfigMap volume and an emptyDir."""
    spec: dict[str, Any] = {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/app"},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                        **container,
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": "files", "items": [{"key": "a.yaml", "path": "a.yaml"}]}},
                    {"name": "tmp", "emptyDir": {}},
                ],
            }
        }
    }
    if indexed:
        spec.update(completionMode="Indexed", completions=3, parallelism=3)
    return [{"kind": "Job", "metadata": {"name": "j"}, "spec": spec}, {"kind": "ConfigMap", "metadata": {"name": "x"}}]


NAMESPACE = Namespace(
    configmaps={"settings": {"host": "127.0.0.1", "port": "5432"}, "files": {"a.yaml": "a: 1\n"}},
    secrets={"creds": {"user": "thoth", "password": "pw"}, "extra": {"TOKEN": "from-envfrom", "HOST": "overridden"}},
)


def only(objects: list[dict[str, Any]]) -> Workload:
    (workload,) = workloads(objects)
    return workload


def test_environment_is_resolved_as_the_kubelet_does(tmp_path: Path) -> None:
    container = {
        "command": ["python", "/opt/app-root/src/app.py"],
        "args": ["--config", "/etc/app/a.yaml"],
        "env": [
            {"name": "HOST", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "host"}}},
            {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
            {"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "dsn", "optional": True}}},
            {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}}},
            {"name": "DATA", "value": "/tmp/data"},
        ],
        "envFrom": [{"secretRef": {"name": "extra"}}, {"secretRef": {"name": "absent", "optional": True}}],
    }

    process = container_process(only(job(container)), NAMESPACE, tmp_path)

    assert process.command == (sys.executable, str(REPO / "app.py"))
    assert process.args == ("--config", str(tmp_path / "config" / "a.yaml"))
    assert (tmp_path / "config" / "a.yaml").read_text() == "a: 1\n"
    assert process.env == {
        "TOKEN": "from-envfrom",
        "HOST": "127.0.0.1",
        "USER": "thoth",
        "DATA": str(tmp_path / "tmp" / "data"),
    }
    assert process.cwd == REPO


@pytest.mark.parametrize(
    "reference",
    [
        {"configMapKeyRef": {"name": "settings", "key": "missing"}},
        {"secretKeyRef": {"name": "absent", "key": "user"}},
    ],
)
def test_a_missing_required_reference_stops_the_pod(tmp_path: Path, reference: dict[str, Any]) -> None:
    container = {"command": ["python"], "env": [{"name": "X", "valueFrom": reference}]}
    with pytest.raises(TemplateError, match="the pod would not start"):
        container_process(only(job(container)), NAMESPACE, tmp_path)


def test_an_indexed_jobs_pods_get_their_completion_index(tmp_path: Path) -> None:
    workload = only(job({"command": ["python"]}, indexed=True))

    assert workload.completion_indexes == [0, 1, 2]
    assert workload.parallelism == 3
    assert container_process(workload, NAMESPACE, tmp_path / "1", 1).env == {"JOB_COMPLETION_INDEX": "1"}
    assert only(job({"command": ["python"]})).completion_indexes == [None]
