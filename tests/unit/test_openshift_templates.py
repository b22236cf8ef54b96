"""The OpenShift templates in openshift/ and the s2i settings in .s2i/environment.

Each template is rendered offline the way ``oc process`` does it, with its default parameter
values (and test values for the required parameters that have none). Every resulting Kubernetes
object is validated against the Kubernetes JSON schemas shipped by ``kubernetes-validate``
(strict: unknown fields are errors); the OpenShift objects (Template, ImageStream, BuildConfig),
which those schemas do not cover, are checked field by field. Then the deployment itself: CronJob
policies and deadlines, the Indexed Job of the sharded variant, resources, security context, the
configuration volume, and the environment: every variable a template sets is one the job reads
(as declared by ``thoth.package_releases.cli``), and the variables the job needs are set.
"""

from __future__ import annotations

import importlib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.openshift import (
    ANY_PARAMETER,
    OPENSHIFT,
    REPO,
    TEST_PARAMETERS,
    TemplateError,
    declared_parameters,
    load_template,
    render,
    rendered,
)

TEMPLATE_FILES = (
    "imagestream-template.yaml",
    "buildconfig-template.yaml",
    "cronjob-template.yaml",
    "sharded-job-template.yaml",
    "configmap-template.yaml",
    "migrate-job-template.yaml",
    "prometheusrule-template.yaml",
)
JOB_TEMPLATE_FILES = ("cronjob-template.yaml", "sharded-job-template.yaml")
# (template file, CronJob name) of every CronJob the templates define.
CRONJOBS = (
    ("cronjob-template.yaml", "package-releases"),
    ("cronjob-template.yaml", "package-releases-feeds"),
    ("sharded-job-template.yaml", "package-releases-sharded"),
)
# The one-off migrate-only Job of a new deployment.
MIGRATE_JOB = ("migrate-job-template.yaml", "package-releases-migrate")
# Everything that runs the job's container: the CronJobs and the migrate Job.
WORKLOADS = (*CRONJOBS, MIGRATE_JOB)
MIGRATE_ONLY_ARGS = ["--init-schema", "--no-feeds", "--no-scan"]
# Run-time settings a migration does not read, so the migrate Job does not set them.
RUN_ONLY_ENVIRONMENT = frozenset(
    {"THOTH_PACKAGE_RELEASES_CONCURRENCY", "THOTH_PACKAGE_RELEASES_TIMEOUT", "THOTH_PACKAGE_RELEASES_DEADLINE"}
)

# Kubernetes 1.28 is OpenShift 4.15's; the other is the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.28", kubernetes_validate.latest_version())

OPENSHIFT_API_VERSIONS = {
    "Template": "template.openshift.io/v1",
    "ImageStream": "image.openshift.io/v1",
    "BuildConfig": "build.openshift.io/v1",
}
KUBERNETES_KINDS = {"CronJob", "Job", "ConfigMap"}
# Custom resources, which kubernetes-validate has no schema for: test_prometheus_rules.py checks their structure.
CUSTOM_RESOURCE_API_VERSIONS = {"PrometheusRule": "monitoring.coreos.com/v1"}

IMAGE_STREAM = "package-releases-job"
CONTAINER = "package-releases"
CONFIG_PATH = "/etc/thoth/package-releases/thoth.yaml"

# What a job template must set: the knowledge graph and the configuration file.
REQUIRED_ENVIRONMENT = frozenset(
    {
        "KNOWLEDGE_GRAPH_HOST",
        "KNOWLEDGE_GRAPH_PORT",
        "KNOWLEDGE_GRAPH_DATABASE",
        "KNOWLEDGE_GRAPH_USER",
        "KNOWLEDGE_GRAPH_PASSWORD",
        "THOTH_PACKAGE_RELEASES_CONFIG",
    }
)
SECRET_ENVIRONMENT = frozenset({"KNOWLEDGE_GRAPH_USER", "KNOWLEDGE_GRAPH_PASSWORD", "SENTRY_DSN"})
# Set by Kubernetes itself (Indexed Jobs), never by a template.
KUBERNETES_SET_ENVIRONMENT = frozenset({"JOB_COMPLETION_INDEX"})

# The job stops within ~10 s of SIGTERM; its own deadline must leave Kubernetes' hard deadline
# room for pod start-up before it and the clean stop after it.
MIN_DEADLINE_MARGIN_SECONDS = 60


def default(name: str, parameter: str) -> str:
    value = declared_parameters(name)[parameter].get("value")
    return TEST_PARAMETERS[parameter] if value is None else str(value)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


# --------------------------------------------------------------------------------------------
# Helpers over rendered objects
# --------------------------------------------------------------------------------------------


def cronjobs(name: str, **overrides: str) -> list[dict[str, Any]]:
    return [obj for obj in rendered(name, **overrides) if obj["kind"] == "CronJob"]


def get_cronjob(name: str, cronjob_name: str, **overrides: str) -> dict[str, Any]:
    (found,) = [c for c in cronjobs(name, **overrides) if c["metadata"]["name"] == cronjob_name]
    return found


def get_workload(name: str, workload_name: str) -> dict[str, Any]:
    """The rendered CronJob or Job ``workload_name`` of template ``name``."""
    (found,) = [
        obj for obj in rendered(name) if obj["kind"] in {"CronJob", "Job"} and obj["metadata"]["name"] == workload_name
    ]
    return found


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a CronJob's Jobs or of a Job."""
    job = workload["spec"] if workload["kind"] == "Job" else workload["spec"]["jobTemplate"]["spec"]
    spec: dict[str, Any] = job["template"]["spec"]
    return spec


def container(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    containers = pod_spec(cronjob)["containers"]
    assert [c["name"] for c in containers] == [CONTAINER]
    only: dict[str, Any] = containers[0]
    return only


def environment(cronjob: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    entries = container(cronjob).get("env") or []
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"duplicate environment variables in {names}"
    return {entry["name"]: entry for entry in entries}


def env_value(cronjob: Mapping[str, Any], name: str) -> str:
    entry = environment(cronjob)[name]
    assert "value" in entry, f"{name} should be a literal value"
    value: str = entry["value"]
    return value


_QUANTITY_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "m": 10**-3,
    "": 1,
}


def quantity(text: str | int) -> float:
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|k|M|G|m)?", str(text))
    assert match, f"unsupported quantity {text!r}"
    return float(match[1]) * _QUANTITY_SUFFIXES[match[2] or ""]


def cron_interval_seconds(schedule: str) -> int | None:
    """The interval of the simple schedules the templates use ("*/N * * * *", "M */N * * *")."""
    fields = schedule.split()
    assert len(fields) == 5, f"{schedule!r} is not a five-field cron schedule"
    minute, hour, *rest = fields
    if rest != ["*", "*", "*"]:
        return None
    if hour == "*" and (match := re.fullmatch(r"\*/(\d+)", minute)):
        return int(match[1]) * 60
    if minute.isdigit() and (match := re.fullmatch(r"\*/(\d+)", hour)):
        return int(match[1]) * 3600
    return None


# --------------------------------------------------------------------------------------------
# The renderer itself
# --------------------------------------------------------------------------------------------

_TOY_TEMPLATE = {
    "parameters": [
        {"name": "COUNT", "value": "3"},
        {"name": "FLAG", "value": "true"},
        {"name": "NAME", "required": True},
        {"name": "EMPTY"},
    ],
    "labels": {"template": "toy"},
    "objects": [
        {
            "kind": "Thing",
            "metadata": {"name": "${NAME}-x"},
            "spec": {"count": "${{COUNT}}", "flag": "${{FLAG}}", "text": "${COUNT}", "empty": "${EMPTY}"},
        }
    ],
}


def test_renderer_substitutes_strings_and_json_values() -> None:
    (obj,) = render(_TOY_TEMPLATE, {"NAME": "toy"})
    assert obj["metadata"] == {"name": "toy-x", "labels": {"template": "toy"}}
    assert obj["spec"] == {"count": 3, "flag": True, "text": "3", "empty": ""}


def test_renderer_rejects_what_oc_process_would_get_wrong() -> None:
    with pytest.raises(TemplateError, match="required parameter NAME"):
        render(_TOY_TEMPLATE)
    with pytest.raises(TemplateError, match="unknown parameters"):
        render(_TOY_TEMPLATE, {"NAME": "toy", "OTHER": "1"})
    with pytest.raises(TemplateError, match="not a JSON value"):
        render(_TOY_TEMPLATE, {"NAME": "toy", "COUNT": "three"})
    with pytest.raises(TemplateError, match="used but not declared"):
        render({"objects": [{"kind": "Thing", "metadata": {"name": "${MISSING}"}}]})
    with pytest.raises(TemplateError, match="whole value"):
        render({"parameters": [{"name": "N", "value": "1"}], "objects": [{"kind": "T", "x": "a${{N}}"}]})


def test_required_parameter_without_default_must_be_given() -> None:
    with pytest.raises(TemplateError, match="IMAGE_STREAM_NAMESPACE"):
        render(load_template("cronjob-template.yaml"))


# --------------------------------------------------------------------------------------------
# Templates and their parameters
# --------------------------------------------------------------------------------------------


def test_every_template_file_is_tested() -> None:
    assert sorted(path.name for path in OPENSHIFT.glob("*.yaml")) == sorted(TEMPLATE_FILES)


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_template_object(name: str) -> None:
    template = load_template(name)
    assert template["apiVersion"] == OPENSHIFT_API_VERSIONS["Template"]
    assert template["kind"] == "Template"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", template["metadata"]["name"])
    assert template["metadata"]["annotations"]["description"].strip()
    assert isinstance(template.get("parameters"), list)
    assert isinstance(template["objects"], list)
    assert template["objects"]
    assert set(template) <= {"apiVersion", "kind", "metadata", "labels", "parameters", "objects", "message"}


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_parameters_are_documented(name: str) -> None:
    names = []
    for parameter in load_template(name)["parameters"]:
        assert set(parameter) <= {"name", "displayName", "description", "value", "required"}, parameter
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", parameter["name"])
        assert parameter.get("description", "").strip(), f"{parameter['name']} has no description"
        assert parameter.get("displayName", "").strip(), f"{parameter['name']} has no display name"
        assert isinstance(parameter.get("value", ""), str), f"{parameter['name']}: value must be a string"
        assert isinstance(parameter.get("required", False), bool)
        if "value" not in parameter:
            assert parameter["name"] in TEST_PARAMETERS, f"{parameter['name']} needs a test value"
        names.append(parameter["name"])
    assert len(names) == len(set(names)), f"duplicate parameters in {name}"


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_parameters_are_declared_and_used(name: str) -> None:
    template = load_template(name)
    used = {match for text in strings(template["objects"]) for match in ANY_PARAMETER.findall(text)}
    declared = set(declared_parameters(name))
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but not used"


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_renders_with_default_values(name: str) -> None:
    objects = rendered(name)
    assert objects
    for obj in objects:
        assert obj["kind"] in KUBERNETES_KINDS | set(OPENSHIFT_API_VERSIONS) | set(CUSTOM_RESOURCE_API_VERSIONS), obj[
            "kind"
        ]
        if obj["kind"] in CUSTOM_RESOURCE_API_VERSIONS:
            assert obj["apiVersion"] == CUSTOM_RESOURCE_API_VERSIONS[obj["kind"]]
        leftovers = [text for text in strings(obj) if "${" in text]
        assert leftovers == [], f"unsubstituted parameters in {obj['kind']}"
        assert obj["metadata"]["labels"]["template"] == load_template(name)["labels"]["template"]


def test_openshift_readme_documents_every_parameter() -> None:
    readme = (OPENSHIFT / "README.md").read_text()
    missing = {
        f"{name}: {parameter}"
        for name in TEMPLATE_FILES
        for parameter in declared_parameters(name)
        if f"`{parameter}`" not in readme
    }
    assert missing == set()


def test_readme_deployment_is_the_sequence_of_the_templates() -> None:
    """README.rst's "Deployment" walks an operator through the templates in the order they must be applied."""
    readme = (REPO / "README.rst").read_text(encoding="utf-8")
    section = readme.split("\nDeployment\n==========\n", 1)[1].split("\nDeadlines and stopping\n", 1)[0]
    steps = re.findall(r"oc process -f openshift/([a-z-]+\.yaml)(.*?)\| oc (apply|create) -f -", section, re.DOTALL)
    assert [(template, verb) for template, _, verb in steps] == [
        ("imagestream-template.yaml", "apply"),
        ("buildconfig-template.yaml", "apply"),
        ("configmap-template.yaml", "apply"),
        ("migrate-job-template.yaml", "create"),  # a Job's pod template cannot be changed by apply
        ("cronjob-template.yaml", "apply"),
        ("prometheusrule-template.yaml", "apply"),
    ]
    for template, options, _ in steps:
        required = {name for name, parameter in declared_parameters(template).items() if "value" not in parameter}
        assert {name for name in required if f"-p {name}=" not in options} == set(), template
    assert " ".join(container(get_workload(*MIGRATE_JOB))["args"]) in section


# --------------------------------------------------------------------------------------------
# Schema validation (Kubernetes) and required fields (OpenShift)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_kubernetes_objects_validate(name: str, version: str) -> None:
    problems = []
    for obj in rendered(name):
        if obj["kind"] in OPENSHIFT_API_VERSIONS or obj["kind"] in CUSTOM_RESOURCE_API_VERSIONS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(item) for item in error.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {error.message}")
    assert problems == []


def test_sharded_variant_validates_with_other_shard_counts() -> None:
    (cronjob,) = cronjobs("sharded-job-template.yaml", SHARD_COUNT="7", SHARD_PARALLELISM="3")
    kubernetes_validate.validate(cronjob, kubernetes_validate.latest_version(), strict=True)
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert (job["completions"], job["parallelism"]) == (7, 3)
    assert env_value(cronjob, "THOTH_PACKAGE_RELEASES_SHARD_COUNT") == "7"


def _check_openshift_metadata(obj: Mapping[str, Any]) -> None:
    assert obj["apiVersion"] == OPENSHIFT_API_VERSIONS[obj["kind"]]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"])
    assert all(isinstance(value, str) for value in obj["metadata"]["labels"].values())


def test_imagestream() -> None:
    (stream,) = rendered("imagestream-template.yaml")
    assert stream["kind"] == "ImageStream"
    _check_openshift_metadata(stream)
    assert stream["metadata"]["name"] == IMAGE_STREAM
    assert set(stream["spec"]) <= {"lookupPolicy", "tags", "dockerImageRepository"}
    assert isinstance(stream["spec"]["lookupPolicy"]["local"], bool)


def test_buildconfig() -> None:
    (build,) = rendered("buildconfig-template.yaml")
    assert build["kind"] == "BuildConfig"
    _check_openshift_metadata(build)
    spec = build["spec"]
    assert spec["runPolicy"] in {"Serial", "Parallel", "SerialLatestOnly"}

    source = spec["source"]
    assert source["type"] == "Git"
    assert source["git"]["uri"] == default("buildconfig-template.yaml", "SOURCE_REPOSITORY_URL")
    assert source["git"]["ref"]

    strategy = spec["strategy"]
    assert strategy["type"] == "Source"
    assert set(strategy) == {"type", "sourceStrategy"}
    builder = strategy["sourceStrategy"]["from"]
    assert builder["kind"] in {"ImageStreamTag", "DockerImage"}
    assert re.fullmatch(r"[^:\s]+:[^:\s]+", builder["name"]), "builder must be name:tag"
    # Pipfile.lock is locked for one Python version; the builder must have it.
    python = json.loads((REPO / "Pipfile.lock").read_text())["_meta"]["requires"]["python_version"]
    assert python in builder["name"] or python.replace(".", "") in builder["name"]
    assert strategy["sourceStrategy"].get("env", []) == [], "s2i settings belong in .s2i/environment"

    output = spec["output"]["to"]
    assert output == {"kind": "ImageStreamTag", "name": f"{IMAGE_STREAM}:latest"}

    resources = spec["resources"]
    assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"])
    assert quantity(resources["requests"]["cpu"]) <= quantity(resources["limits"]["cpu"])

    for trigger in spec["triggers"]:
        assert trigger["type"] in {"ConfigChange", "ImageChange", "GitHub", "Generic"}
        if trigger["type"] == "ImageChange":
            assert isinstance(trigger["imageChange"], dict)


def test_configmap() -> None:
    (configmap,) = rendered("configmap-template.yaml")
    assert configmap["metadata"]["name"] == default("cronjob-template.yaml", "CONFIG_CONFIGMAP_NAME")
    assert set(configmap["data"]) == {posixpath.basename(CONFIG_PATH)}
    config = yaml.safe_load(configmap["data"]["thoth.yaml"])
    assert set(config) <= {"indexes", "feeds", "packages"}
    assert all(index["url"].startswith("https://") for index in config["indexes"])
    assert all(feed["url"].startswith("https://") for feed in config["feeds"])
    index_urls = {index["url"] for index in config["indexes"]}
    assert all(feed["index_url"] in index_urls for feed in config["feeds"])


def test_default_configuration_loads(tmp_path: Path) -> None:
    """The ConfigMap's default thoth.yaml passes the job's own validation."""
    from thoth.package_releases.config import load_config

    (configmap,) = rendered("configmap-template.yaml")
    path = tmp_path / "thoth.yaml"
    path.write_text(configmap["data"]["thoth.yaml"])
    config = load_config(str(path), environ={})
    assert [index.url for index in config.indexes] == ["https://pypi.org/simple"]
    assert [feed.url for feed in config.feeds] == [
        "https://pypi.org/rss/updates.xml",
        "https://pypi.org/rss/packages.xml",
    ]
    assert config.packages == ()


# --------------------------------------------------------------------------------------------
# CronJobs and Jobs
# --------------------------------------------------------------------------------------------


def test_cronjob_names() -> None:
    found = [(name, c["metadata"]["name"]) for name in JOB_TEMPLATE_FILES for c in cronjobs(name)]
    assert found == list(CRONJOBS)


@pytest.fixture(params=CRONJOBS, ids=[f"{name}:{cronjob_name}" for name, cronjob_name in CRONJOBS])
def each_cronjob(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """(template file, rendered CronJob) for every CronJob of the templates."""
    name, cronjob_name = request.param
    return name, get_cronjob(name, cronjob_name)


@pytest.fixture(params=WORKLOADS, ids=[f"{name}:{workload_name}" for name, workload_name in WORKLOADS])
def each_workload(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """(template file, rendered CronJob or Job) for everything of the templates that runs the job's container."""
    name, workload_name = request.param
    return name, get_workload(name, workload_name)


def test_cronjob_policies(each_cronjob: tuple[str, dict[str, Any]]) -> None:
    _, cronjob = each_cronjob
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["suspend"], bool)
    # The controller checks schedules every 10 s: a shorter starting deadline can miss every run.
    assert isinstance(spec["startingDeadlineSeconds"], int)
    assert spec["startingDeadlineSeconds"] >= 10
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1

    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["activeDeadlineSeconds"], int)
    assert job["activeDeadlineSeconds"] > 0
    assert isinstance(job["backoffLimit"], int)
    assert job["backoffLimit"] >= 0

    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["terminationGracePeriodSeconds"] >= 15

    interval = cron_interval_seconds(spec["schedule"])
    if interval is not None:
        assert spec["startingDeadlineSeconds"] < interval
        assert job["activeDeadlineSeconds"] < interval, "a hung run would hold up the next one"


def test_job_deadline_is_below_the_hard_deadline(each_cronjob: tuple[str, dict[str, Any]]) -> None:
    _, cronjob = each_cronjob
    deadline = int(env_value(cronjob, "THOTH_PACKAGE_RELEASES_DEADLINE"))
    active_deadline = cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    grace = pod_spec(cronjob)["terminationGracePeriodSeconds"]
    assert deadline > 0
    assert deadline + max(MIN_DEADLINE_MARGIN_SECONDS, grace) <= active_deadline


def test_full_run_runs_both_phases_on_schedule() -> None:
    full = get_cronjob("cronjob-template.yaml", "package-releases")
    assert full["spec"]["schedule"] == "0 */6 * * *"
    assert full["spec"]["suspend"] is False
    args = container(full)["args"]
    assert "--no-feeds" not in args
    assert "--no-scan" not in args


def test_feed_only_run_is_frequent_cheap_and_suspended_by_default() -> None:
    feeds = get_cronjob("cronjob-template.yaml", "package-releases-feeds")
    assert feeds["spec"]["schedule"] == "*/10 * * * *"
    assert feeds["spec"]["suspend"] is True
    args = container(feeds)["args"]
    assert "--feeds" in args
    assert "--no-scan" in args
    turned_on = get_cronjob("cronjob-template.yaml", "package-releases-feeds", FEEDS_SUSPEND="false")
    assert turned_on["spec"]["suspend"] is False


def test_sharded_run_is_an_indexed_job() -> None:
    (cronjob,) = cronjobs("sharded-job-template.yaml")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    shard_count = int(default("sharded-job-template.yaml", "SHARD_COUNT"))
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == shard_count
    assert 1 <= job["parallelism"] <= job["completions"]
    assert env_value(cronjob, "THOTH_PACKAGE_RELEASES_SHARD_COUNT") == str(shard_count)
    env = environment(cronjob)
    # The shard index comes from Kubernetes' JOB_COMPLETION_INDEX: setting it would pin every pod
    # to one shard.
    assert "THOTH_PACKAGE_RELEASES_SHARD_INDEX" not in env
    assert "JOB_COMPLETION_INDEX" not in env
    # Every shard would read the same feeds.
    assert "--no-feeds" in container(cronjob)["args"]


def test_migrate_job_is_the_one_off_migrate_only_step() -> None:
    job = get_workload(*MIGRATE_JOB)
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1"
    assert container(job)["command"] == ["python", "/opt/app-root/src/app.py"]
    assert container(job)["args"] == MIGRATE_ONLY_ARGS
    assert "completionMode" not in spec, "one pod migrates"
    assert spec.get("parallelism", 1) == spec.get("completions", 1) == 1
    assert isinstance(spec["activeDeadlineSeconds"], int)
    assert spec["activeDeadlineSeconds"] > 0
    assert isinstance(spec["backoffLimit"], int)
    assert spec["backoffLimit"] >= 1, "a database not reachable yet deserves a retry"
    # Deleted some time after it ends, so that the template can be created again after an upgrade.
    assert isinstance(spec["ttlSecondsAfterFinished"], int)
    assert spec["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] == "OnFailure"
    registry = default(MIGRATE_JOB[0], "IMAGE_STREAM_REGISTRY")
    namespace = TEST_PARAMETERS["IMAGE_STREAM_NAMESPACE"]
    assert container(job)["image"] == f"{registry}/{namespace}/{IMAGE_STREAM}:latest"
    assert container(job)["imagePullPolicy"] == "Always", "the migration runs the image the CronJobs will run"
    env = environment(job)
    assert "THOTH_PACKAGE_RELEASES_SHARD_COUNT" not in env
    assert "THOTH_PACKAGE_RELEASES_SHARD_INDEX" not in env


def test_unsharded_runs_set_no_shard() -> None:
    for cronjob in cronjobs("cronjob-template.yaml"):
        env = environment(cronjob)
        assert "THOTH_PACKAGE_RELEASES_SHARD_COUNT" not in env
        assert "THOTH_PACKAGE_RELEASES_SHARD_INDEX" not in env
        assert "completionMode" not in cronjob["spec"]["jobTemplate"]["spec"]


def test_image_comes_from_the_imagestream(each_cronjob: tuple[str, dict[str, Any]]) -> None:
    name, cronjob = each_cronjob
    registry = default(name, "IMAGE_STREAM_REGISTRY")
    namespace = TEST_PARAMETERS["IMAGE_STREAM_NAMESPACE"]
    assert container(cronjob)["image"] == f"{registry}/{namespace}/{IMAGE_STREAM}:latest"
    (trigger,) = json.loads(cronjob["metadata"]["annotations"]["image.openshift.io/triggers"])
    assert trigger["from"] == {"kind": "ImageStreamTag", "name": f"{IMAGE_STREAM}:latest", "namespace": namespace}
    field_path = f'spec.jobTemplate.spec.template.spec.containers[?(@.name=="{CONTAINER}")].image'
    assert trigger["fieldPath"] == field_path
    (build,) = rendered("buildconfig-template.yaml")
    assert build["spec"]["output"]["to"]["name"] == f"{IMAGE_STREAM}:latest"


def test_resources(each_workload: tuple[str, dict[str, Any]]) -> None:
    _, cronjob = each_workload
    resources = container(cronjob)["resources"]
    memory_limit = quantity(resources["limits"]["memory"])
    # The job's peak RSS target is 150 MB.
    assert 256 * 2**20 <= memory_limit <= 512 * 2**20
    assert 150 * 10**6 <= quantity(resources["requests"]["memory"]) <= memory_limit
    assert quantity(resources["requests"]["cpu"]) <= quantity(resources["limits"]["cpu"])


def test_security_context(each_workload: tuple[str, dict[str, Any]]) -> None:
    _, cronjob = each_workload
    pod = pod_spec(cronjob)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    context = container(cronjob)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def test_volumes(each_workload: tuple[str, dict[str, Any]]) -> None:
    name, cronjob = each_workload
    volumes = {volume["name"]: volume for volume in pod_spec(cronjob)["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container(cronjob)["volumeMounts"]}
    assert {mount["name"] for mount in mounts.values()} == set(volumes)

    # The configuration file: THOTH_PACKAGE_RELEASES_CONFIG is the ConfigMap's key, mounted.
    config_path = env_value(cronjob, "THOTH_PACKAGE_RELEASES_CONFIG")
    assert config_path == CONFIG_PATH
    config_mount = mounts[posixpath.dirname(config_path)]
    assert config_mount.get("readOnly") is True
    config_volume = volumes[config_mount["name"]]["configMap"]
    assert config_volume["name"] == default(name, "CONFIG_CONFIGMAP_NAME")
    (configmap,) = rendered("configmap-template.yaml")
    assert config_volume["name"] == configmap["metadata"]["name"]
    assert config_volume["items"] == [{"key": "thoth.yaml", "path": posixpath.basename(config_path)}]
    assert "optional" not in config_volume, "the job must not start without its configuration"

    # The root filesystem is read-only: /tmp, and the data directory in it, are an emptyDir.
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    data_dir = env_value(cronjob, "THOTH_PACKAGE_RELEASES_DATA_DIR")
    assert posixpath.commonpath([data_dir, "/tmp"]) == "/tmp"


# --------------------------------------------------------------------------------------------
# Environment: what the templates set against what the job reads
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def job_cli() -> Any:
    """The job's command line module: its click command declares what the job reads."""
    return importlib.import_module("thoth.package_releases.cli")


@pytest.fixture(scope="module")
def job_environment(job_cli: Any) -> frozenset[str]:
    """Every environment variable the job reads: its options' and the others it declares."""
    names: set[str] = set()
    for param in job_cli.main.params:
        envvar = param.envvar
        if envvar is None:
            continue
        if isinstance(envvar, str):
            names.add(envvar)
        else:
            names.update(envvar)
    names.update(job_cli.OTHER_ENVIRONMENT_VARIABLES)
    return frozenset(names)


@pytest.fixture(scope="module")
def job_options(job_cli: Any) -> frozenset[str]:
    """Every command line option of the job (both sides of --flag/--no-flag)."""
    return frozenset(option for param in job_cli.main.params for option in (*param.opts, *param.secondary_opts))


def test_job_accepts_the_templates_arguments(
    each_workload: tuple[str, dict[str, Any]], job_options: frozenset[str]
) -> None:
    _, cronjob = each_workload
    assert container(cronjob)["command"] == ["python", "/opt/app-root/src/app.py"]
    unknown = [arg for arg in container(cronjob)["args"] if arg.startswith("-") and arg not in job_options]
    assert unknown == []


def test_templates_set_only_variables_the_job_reads(
    each_workload: tuple[str, dict[str, Any]], job_environment: frozenset[str]
) -> None:
    _, cronjob = each_workload
    set_here = set(environment(cronjob))
    assert set_here - job_environment == set(), "set by the template but read by nobody"
    assert set_here & KUBERNETES_SET_ENVIRONMENT == set()


def test_templates_set_the_variables_the_job_needs(
    each_workload: tuple[str, dict[str, Any]], job_environment: frozenset[str]
) -> None:
    name, cronjob = each_workload
    assert job_environment >= REQUIRED_ENVIRONMENT, "the job no longer reads a variable this test requires"
    assert set(environment(cronjob)) >= REQUIRED_ENVIRONMENT
    if name == "sharded-job-template.yaml":
        assert {"THOTH_PACKAGE_RELEASES_SHARD_COUNT", "JOB_COMPLETION_INDEX"} <= job_environment


def test_environment_sources(each_workload: tuple[str, dict[str, Any]]) -> None:
    name, cronjob = each_workload
    env = environment(cronjob)
    configmap = default(name, "THOTH_CONFIGMAP_NAME")
    secret = default(name, "THOTH_SECRET_NAME")
    for variable in ("KNOWLEDGE_GRAPH_HOST", "KNOWLEDGE_GRAPH_PORT", "KNOWLEDGE_GRAPH_DATABASE"):
        reference = env[variable]["valueFrom"]["configMapKeyRef"]
        assert reference["name"] == configmap
        assert reference.get("optional", False) is False
    for variable in SECRET_ENVIRONMENT:
        assert "value" not in env[variable], f"{variable} must come from a Secret"
        assert env[variable]["valueFrom"]["secretKeyRef"]["name"] == secret
    for variable in ("KNOWLEDGE_GRAPH_USER", "KNOWLEDGE_GRAPH_PASSWORD"):
        assert env[variable]["valueFrom"]["secretKeyRef"].get("optional", False) is False
    for variable in ("SENTRY_DSN", "PROMETHEUS_PUSHGATEWAY_URL", "THOTH_DEPLOYMENT_NAME"):
        (reference,) = env[variable]["valueFrom"].values()
        assert reference["optional"] is True, f"the job runs without {variable}"
    assert env_value(cronjob, "THOTH_PACKAGE_RELEASES_REPORT") == "-"
    if cronjob["kind"] == "CronJob":
        for variable in ("THOTH_PACKAGE_RELEASES_CONCURRENCY", "THOTH_PACKAGE_RELEASES_TIMEOUT"):
            assert int(env_value(cronjob, variable)) > 0
    else:
        assert set(env) & RUN_ONLY_ENVIRONMENT == set(), "a migration has no scan, feed or deadline to set"
    # Extra variables (those trigger templates refer to) only from an optional Secret.
    for source in container(cronjob).get("envFrom", []):
        assert set(source) == {"secretRef"}
        assert source["secretRef"]["optional"] is True


def test_job_containers_agree() -> None:
    """The CronJobs and the migrate Job differ only where they must; catches drift between copies."""
    allowed = RUN_ONLY_ENVIRONMENT | {"THOTH_PACKAGE_RELEASES_SHARD_COUNT"}
    jobs = [get_workload(name, workload_name) for name, workload_name in WORKLOADS]
    first = jobs[0]
    for other in jobs[1:]:
        env = {key: value for key, value in environment(other).items() if key not in allowed}
        assert env == {key: value for key, value in environment(first).items() if key not in allowed}
        for field in ("image", "command", "envFrom", "resources", "securityContext", "volumeMounts"):
            assert container(other)[field] == container(first)[field], field
        for field in ("volumes", "securityContext", "terminationGracePeriodSeconds", "restartPolicy"):
            assert pod_spec(other)[field] == pod_spec(first)[field], field


# --------------------------------------------------------------------------------------------
# .s2i/environment
# --------------------------------------------------------------------------------------------


def s2i_environment() -> dict[str, str]:
    settings = {}
    for line in (REPO / ".s2i" / "environment").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator, f"not KEY=VALUE: {line!r}"
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", key)
        assert key not in settings, f"{key} set twice"
        settings[key] = value
    return settings


def test_s2i_environment() -> None:
    settings = s2i_environment()
    assert settings["APP_FILE"] == "app.py"
    assert (REPO / settings["APP_FILE"]).is_file()
    assert settings["ENABLE_PIPENV"] == "1"
    # Reproducible: the lock file as it is, no pip upgrade, one installer.
    assert "UPGRADE_PIP_TO_LATEST" not in settings
    assert "ENABLE_MICROPIPENV" not in settings
    assert re.fullmatch(r"\d+(\.\d+)+", settings["PIN_PIPENV_VERSION"])
    # Baked into the image: nothing secret.
    for key in settings:
        assert not re.search(r"PASSWORD|SECRET|TOKEN|DSN|CREDENTIAL|_KEY$", key), key
    assert not any("@" in value or "://" in value for value in settings.values())


def test_s2i_pipenv_is_the_one_the_makefile_uses() -> None:
    makefile = REPO / "Makefile"
    pinned = (
        re.search(r"^PIPENV_VERSION\s*:?=\s*(\S+)", makefile.read_text(), re.MULTILINE) if makefile.exists() else None
    )
    if pinned is None:
        pytest.skip("the Makefile pins no pipenv version")
    assert s2i_environment()["PIN_PIPENV_VERSION"] == pinned[1]
