"""The templates in openshift/, rendered the way ``oc process`` does, and their pods run here as processes.

Rendering (:func:`render`, :func:`rendered`): each parameter takes its override, else its default (a required
one without either is an error); ``${NAME}`` is replaced inside strings and a whole-string ``${{NAME}}`` by the
JSON value of the parameter; the template's labels are added to every object.

Running a rendered pod (:func:`workloads`, :func:`container_process`): the container's ``command``, ``args`` and
``env`` are taken exactly as rendered; ``valueFrom`` and ``envFrom`` references are resolved against a
:class:`Namespace` of test ConfigMaps and Secrets as the kubelet does (a missing key of a required reference is
an error, of an optional one leaves the variable unset; ``env`` wins over ``envFrom``), and an Indexed Job's pod
gets ``JOB_COMPLETION_INDEX``. The only changes are the paths of the image, mapped to this machine:

* ``python``, the s2i image's interpreter on its ``PATH``, is the interpreter running the tests;
* ``/opt/app-root/src``, where s2i puts the repository (and the image's working directory), is the repository;
* each volume's ``mountPath`` is a folder of its own under the pod's folder: a ConfigMap volume holds its
  ``items`` (key -> path) from the namespace, an ``emptyDir`` starts empty.

A path is mapped in the command, the arguments and the environment's values wherever one of them is that path
or lies under it; nothing else is touched.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
OPENSHIFT = REPO / "openshift"

# Values for the required parameters that have no default value.
TEST_PARAMETERS = {"IMAGE_STREAM_NAMESPACE": "thoth-test"}

S2I_SOURCE = "/opt/app-root/src"  # the s2i image's working directory, holding the repository's files
IMAGE_PYTHON = "python"  # the s2i image's interpreter, found on its PATH

_STRING_PARAMETER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_NON_STRING_PARAMETER = re.compile(r"\$\{\{([A-Za-z0-9_]+)\}\}")
ANY_PARAMETER = re.compile(r"\$\{\{?([A-Za-z0-9_]+)\}?\}")


class TemplateError(Exception):
    """A template that `oc process` would reject or render wrongly, or a pod Kubernetes would not start."""


# -- rendering ---------------------------------------------------------------------------------------------------


def load_template(name: str) -> dict[str, Any]:
    """The template file openshift/``name``, parsed."""
    with (OPENSHIFT / name).open() as stream:
        template = yaml.safe_load(stream)
    assert isinstance(template, dict), f"{name} is not a YAML mapping"
    return template


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value: the override, else its default; a required one must have one."""
    declared = {parameter["name"] for parameter in template.get("parameters") or []}
    unknown = set(overrides) - declared
    if unknown:
        raise TemplateError(f"unknown parameters {sorted(unknown)}")
    values: dict[str, str] = {}
    for parameter in template.get("parameters") or []:
        name = parameter["name"]
        if "generate" in parameter:
            raise TemplateError(f"parameter {name}: generated values are not supported here")
        if name in overrides:
            value = overrides[name]
        elif parameter.get("value") is not None:
            value = parameter["value"]
        elif parameter.get("required", False):
            raise TemplateError(f"required parameter {name} has no value")
        else:
            value = ""
        if not isinstance(value, str):
            raise TemplateError(f"parameter {name}: value {value!r} is not a string")
        values[name] = value
    return values


def substitute(node: Any, values: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` inside strings and a whole-string ``${{NAME}}`` by the JSON value."""

    def value_of(name: str) -> str:
        if name not in values:
            raise TemplateError(f"parameter {name} is used but not declared")
        return values[name]

    if isinstance(node, dict):
        for key in node:
            if "${" in str(key):
                raise TemplateError(f"parameter in a key ({key!r}): oc process leaves keys alone")
        return {key: substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(item, values) for item in node]
    if isinstance(node, str):
        whole = _NON_STRING_PARAMETER.fullmatch(node)
        if whole:
            raw = value_of(whole[1])
            try:
                return json.loads(raw)
            except ValueError as error:
                raise TemplateError(f"${{{{{whole[1]}}}}}: {raw!r} is not a JSON value") from error
        if "${{" in node:
            raise TemplateError(f"{node!r}: ${{{{...}}}} works only as a whole value")
        return _STRING_PARAMETER.sub(lambda match: value_of(match[1]), node)
    return node


def render(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Render like `oc process`: substitute parameters, add the template's labels."""
    values = parameter_values(template, overrides or {})
    objects: list[dict[str, Any]] = substitute(template.get("objects") or [], values)
    labels = template.get("labels") or {}
    for obj in objects:
        object_labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        for key, value in labels.items():
            if object_labels.get(key, value) != value:
                raise TemplateError(f"template label {key}={value} conflicts with {obj['kind']}'s")
            object_labels[key] = value
    return objects


def declared_parameters(name: str) -> dict[str, dict[str, Any]]:
    """The parameters of template ``name``, by name."""
    return {parameter["name"]: parameter for parameter in load_template(name).get("parameters") or []}


@functools.cache
def _rendered_json(name: str, overrides: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(render(load_template(name), dict(overrides)))


def rendered(name: str, **overrides: str) -> list[dict[str, Any]]:
    """Template ``name`` rendered with its defaults, the test values and ``overrides`` (a fresh copy)."""
    values = {key: value for key, value in TEST_PARAMETERS.items() if key in declared_parameters(name)}
    values.update(overrides)
    objects: list[dict[str, Any]] = json.loads(_rendered_json(name, tuple(sorted(values.items()))))
    return objects


# -- running a rendered pod --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Namespace:
    """The ConfigMaps and Secrets a pod's references resolve against: name -> key -> value (Secrets decoded)."""

    configmaps: Mapping[str, Mapping[str, str]]
    secrets: Mapping[str, Mapping[str, str]]

    def lookup(self, kind: str, name: str, key: str | None, optional: bool) -> Mapping[str, str] | str | None:
        """A ConfigMap's or Secret's key (its whole data without a key); None when optional and missing."""
        sources = self.configmaps if kind == "configMap" else self.secrets
        data = sources.get(name)
        if data is not None and (key is None or key in data):
            return data if key is None else data[key]
        if optional:
            return None
        raise TemplateError(f"{kind} {name!r}{'' if key is None else f' has no key {key!r}'}: the pod would not start")


@dataclass(frozen=True)
class Workload:
    """A Job, or a CronJob's Job, as rendered: what Kubernetes starts pods from."""

    kind: str
    name: str
    job_spec: dict[str, Any]

    @property
    def pod_spec(self) -> dict[str, Any]:
        """The spec of the Job's pods."""
        spec: dict[str, Any] = self.job_spec["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        """The pod's only container."""
        (only,) = self.pod_spec["containers"]
        found: dict[str, Any] = only
        return found

    @property
    def completion_indexes(self) -> list[int | None]:
        """The pods of one run: an Indexed Job's completion indexes, else one pod without an index."""
        if self.job_spec.get("completionMode") == "Indexed":
            return list(range(int(self.job_spec["completions"])))
        return [None]

    @property
    def parallelism(self) -> int:
        """How many of the run's pods Kubernetes runs at once."""
        return int(self.job_spec.get("parallelism", 1))


def workloads(objects: list[dict[str, Any]]) -> list[Workload]:
    """The Jobs and CronJobs among rendered objects, in order."""
    found = []
    for obj in objects:
        if obj["kind"] == "CronJob":
            found.append(Workload("CronJob", obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]))
        elif obj["kind"] == "Job":
            found.append(Workload("Job", obj["metadata"]["name"], obj["spec"]))
    return found


@dataclass(frozen=True)
class ContainerProcess:
    """A container of a rendered pod as a process of this machine."""

    command: tuple[str, ...]  # the container's command, paths mapped
    args: tuple[str, ...]  # its arguments, paths mapped
    env: dict[str, str]  # its environment as Kubernetes sets it, paths mapped
    cwd: Path  # the image's working directory, mapped


def _resolved_environment(container: Mapping[str, Any], namespace: Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ((kind, reference),) = source.items()
        kind = {"configMapRef": "configMap", "secretRef": "secret"}[kind]
        data = namespace.lookup(kind, reference["name"], None, reference.get("optional", False))
        if isinstance(data, Mapping):
            env.update({source.get("prefix", "") + key: value for key, value in data.items()})
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ((kind, reference),) = entry["valueFrom"].items()
        kind = {"configMapKeyRef": "configMap", "secretKeyRef": "secret"}[kind]
        value = namespace.lookup(kind, reference["name"], reference["key"], reference.get("optional", False))
        if isinstance(value, str):
            env[entry["name"]] = value
    for name, value in env.items():
        if "$(" in value:
            raise TemplateError(f"{name}: $(VAR) references are not expanded here")
    return env


def _mounts(workload: Workload, namespace: Namespace, pod_folder: Path) -> dict[str, Path]:
    """Create the pod's volumes under ``pod_folder``; map each mount path to its folder."""
    volumes = {volume["name"]: volume for volume in workload.pod_spec.get("volumes") or []}
    mapped: dict[str, Path] = {}
    for mount in workload.container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        folder = pod_folder / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            source = volume["configMap"]
            data = namespace.lookup("configMap", source["name"], None, source.get("optional", False))
            data = data if isinstance(data, Mapping) else {}
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                if item["key"] not in data:
                    raise TemplateError(f"ConfigMap {source['name']!r} has no key {item['key']!r}")
                (folder / item["path"]).write_text(data[item["key"]], encoding="utf-8")
        elif "emptyDir" not in volume:
            raise TemplateError(f"volume {mount['name']!r}: only configMap and emptyDir volumes are supported")
        mapped[mount["mountPath"].rstrip("/")] = folder
    return mapped


def _map_path(value: str, paths: Mapping[str, Path]) -> str:
    for image_path, local in paths.items():
        if value == image_path:
            return str(local)
        if value.startswith(image_path + "/"):
            return str(local / posixpath.relpath(value, image_path))
    return value


def container_process(
    workload: Workload, namespace: Namespace, pod_folder: Path, completion_index: int | None = None
) -> ContainerProcess:
    """The workload's container as a process here: its command, args and env as rendered, the paths mapped."""
    container = workload.container
    env = _resolved_environment(container, namespace)
    if completion_index is not None:
        env["JOB_COMPLETION_INDEX"] = str(completion_index)
    paths = {S2I_SOURCE: REPO, **_mounts(workload, namespace, pod_folder)}
    command = [_map_path(part, paths) for part in container["command"]]
    if command[0] == IMAGE_PYTHON:
        command[0] = sys.executable
    args = tuple(_map_path(arg, paths) for arg in container.get("args") or [])
    env = {name: _map_path(value, paths) for name, value in env.items()}
    cwd = Path(_map_path(container.get("workingDir", S2I_SOURCE), paths))
    return ContainerProcess(tuple(command), args, env, cwd)
