"""End-to-end tests of issue 13: one per kind of release event detected from the project pages the scan reads.

Every test runs ``app.py`` as a process against a synthetic index (:mod:`tests.support.servers`) whose pages
change between runs (:mod:`tests.support.servers.mutations`), and a fresh database where the rows other Thoth
services write (solved ``python_package_version`` rows, artifacts) are written with plain SQL
(:mod:`tests.support.graph_versions`). Each checks the report's ``events`` and ``event_counts``, the graph's
``is_missing`` flags, and the webhooks: exactly one per event for a trigger subscribed to its kind, with the
default payload, and none for a trigger left at the default (``new_release`` only). Shared parts:
:mod:`tests.e2e.release_events`.
"""

from __future__ import annotations

import functools

import pytest

from tests.e2e.conftest import KnowledgeGraph, WriteConfig
from tests.e2e.release_events import (
    OTHER,
    PKG,
    RunApp,
    assert_events,
    changed_run,
    env_for,
    event,
    events_config,
    first_run,
)
from tests.support.graph_versions import (
    FEDORA38_PY311,
    RHEL9_PY311,
    add_artifacts,
    add_package_version,
    artifact_hashes,
    missing_flags,
)
from tests.support.servers import IndexServer, WebhookReceiver

pytestmark = pytest.mark.e2e


# -- one test per kind ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("formats", [("json", "html"), ("html",)], ids=["json", "html"])
def test_a_release_yanked_then_unyanked_keeps_the_reason(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, formats: tuple[str, ...]
) -> None:
    model = {PKG: ["1.0", "2.0", "3.0"], OTHER: ["0.1"]}
    with IndexServer(model, formats=formats) as index:
        url = index.base_url
        config = write_config(events_config(url, ["yanked", "unyanked"]))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "1.0", url)
        flags = missing_flags(kg, url)

        index.yank(PKG, "1.0", "broken metadata: use 1.0.1")
        index.yank(PKG, "2.0")  # no reason given
        changed_run(
            run_app,
            config,
            receiver,
            [
                event("yanked", "1.0", url, {"reason": "broken metadata: use 1.0.1"}),
                event("yanked", "2.0", url, {"reason": None}),
            ],
        )

        index.unyank(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("unyanked", "1.0", url)])
        index.yank(PKG, "1.0", "broken again")  # an event of its own, delivered again
        changed_run(run_app, config, receiver, [event("yanked", "1.0", url, {"reason": "broken again"})])
        assert missing_flags(kg, url) == flags  # a yank is no removal
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)


def test_a_wheel_added_to_a_known_release(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["new_files"]))
        first_run(run_app, config, receiver, url, model)

        index.add_file(PKG, "2.0")  # a platform wheel, days after the release
        index.add_file(PKG, "2.0", f"{PKG.replace('-', '_')}-2.0-cp312-cp312-win_amd64.whl")
        added = [{"filename": name, "sha256": sha256} for name, sha256, _ in index.release_files(PKG, "2.0")[2:]]
        assert len(added) == 2
        changed_run(run_app, config, receiver, [event("new_files", "2.0", url, {"files": added})])
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)


@pytest.mark.parametrize("strategy", ["projects", "listing"])
def test_a_version_removed_then_restored_sets_then_clears_is_missing(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, strategy: str
) -> None:
    run_app = functools.partial(run_app, "--scan-strategy", strategy)
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["missing_version", "reappeared"]))
        first_run(run_app, config, receiver, url, model)
        for environment in (RHEL9_PY311, FEDORA38_PY311):  # solved in two environments: both rows are flagged
            add_package_version(kg, PKG, "1.0", url, environment)
        add_package_version(kg, PKG, "2.0", url)
        add_package_version(kg, OTHER, "0.1", url)
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False, False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}

        index.remove_version(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("missing_version", "1.0", url)])
        assert missing_flags(kg, url) == {(PKG, "1.0"): [True, True], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)  # rows are never deleted

        index.restore_version(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("reappeared", "1.0", url)])  # no new_release: the row is there
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False, False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}
        assert kg.count("python_package_version_entity") == 3


@pytest.mark.parametrize("strategy", ["projects", "listing"])
def test_a_project_removed_from_the_index_then_restored(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, strategy: str
) -> None:
    # The listing strategy requests a project the listing lost because it was found before: its 404 is seen.
    run_app = functools.partial(run_app, "--scan-strategy", strategy)
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        # The trigger's version specifier does not apply to an event that has no version; it does to the others.
        config = write_config(events_config(url, ["missing_package", "reappeared"], specifier=">=2.0"))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "1.0", url)
        add_package_version(kg, PKG, "2.0", url)
        add_package_version(kg, OTHER, "0.1", url)

        index.remove_project(PKG)
        changed_run(run_app, config, receiver, [event("missing_package", None, url)])
        # Every version of the project is missing from the index: each is flagged, as a missing version is.
        assert missing_flags(kg, url) == {(PKG, "1.0"): [True], (PKG, "2.0"): [True], (OTHER, "0.1"): [False]}
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)

        # Still gone: the event is not repeated, nothing is written again.
        changed_run(run_app, config, receiver, [])

        index.restore_project(PKG)
        back = [event("reappeared", "1.0", url), event("reappeared", "2.0", url)]
        changed_run(run_app, config, receiver, back, delivered=back[1:])
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}


def test_a_file_hash_changed_against_the_graph_artifacts(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["hash_mismatch"]))
        first_run(run_app, config, receiver, url, model)
        # package-extract and the solvers recorded the artifacts as the index served them.
        for version in ("1.0", "2.0"):
            add_package_version(kg, PKG, version, url)
            add_artifacts(kg, PKG, version, url, [sha256 for _, sha256, _ in index.release_files(PKG, version)])
        (sdist, old, _), (_, wheel, _) = index.release_files(PKG, "1.0")
        artifacts = kg.count("python_artifact")

        new = "0" * 63 + "1"
        index.change_sha256(PKG, sdist, new)
        changed_run(
            run_app,
            config,
            receiver,
            [event("hash_mismatch", "1.0", url, {"missing_on_index": [old], "missing_in_graph": [new]})],
        )
        # The job reads artifacts, never writes them; nor does a mismatch flag the version missing.
        assert artifact_hashes(kg, PKG, "1.0", url) == sorted([old, wheel])
        assert kg.count("python_artifact") == artifacts
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False], (PKG, "2.0"): [False]}

        # The page changes for another reason: the same mismatch is not reported again.
        index.publish(PKG, "3.0")
        run = run_app("--config", config, env=env_for(receiver))
        assert_events(run, [event("new_release", "3.0", url)])
        assert [r.path for r in receiver.requests] == [f"/release/{PKG}/3.0"]  # the default trigger only
        receiver.clear_requests()
        # The index changes the hash once more: a new mismatch, reported.
        newer = "0" * 63 + "2"
        index.change_sha256(PKG, sdist, newer)
        mismatch = {"missing_on_index": [old], "missing_in_graph": [newer]}
        changed_run(run_app, config, receiver, [event("hash_mismatch", "1.0", url, mismatch)])


def test_a_project_dropped_from_the_listing_in_all_packages_mode(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0"], OTHER: ["0.1"], "unmonitored-pkg": ["3.0"]}
    with IndexServer(model) as index:
        url = index.base_url
        text = events_config(url, ["missing_package"]).replace(
            "only_if_package_seen: true", "only_if_package_seen: false"
        )
        config = write_config(text)
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, "unmonitored-pkg", "3.0", url)

        index.remove_project("unmonitored-pkg")  # gone from its page and from the listing, as PyPI does
        run = run_app("--config", config, env=env_for(receiver))

        assert_events(run, [event("missing_package", None, url, name="unmonitored-pkg")])
        assert missing_flags(kg, url) == {("unmonitored-pkg", "3.0"): [True]}
        assert_events(run_app("--config", config, env=env_for(receiver)), [])  # still gone: no news

        index.restore_project("unmonitored-pkg")  # listed again
        back = run_app("--config", config, env=env_for(receiver))

        assert_events(back, [event("reappeared", "3.0", url, name="unmonitored-pkg")])
        assert missing_flags(kg, url) == {("unmonitored-pkg", "3.0"): [False]}
