"""The scan strategy of issue 14, with the in-memory fakes: what the listing's serials choose, and what auto picks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakes import FakeEdges, FakeIndex
from tests.unit.test_job import PYPI, make_job
from thoth.package_releases.phases import strategy
from thoth.package_releases.report import RunReport
from thoth.package_releases.values import ListingState, PageValidators, Release

SEEN = f"indexes:\n  - {{url: {PYPI}, only_if_package_seen: true}}\n"
ALL = f"indexes:\n  - {{url: {PYPI}, only_if_package_seen: false}}\n"


@pytest.fixture
def edges() -> FakeEdges:
    return FakeEdges()


def serve(edges: FakeEdges, projects: dict[str, list[str]], *, known: Iterable[str] = ()) -> FakeIndex:
    """Register the index, have the graph know ``known`` (at version 0.1), and serve ``projects``."""
    row = edges.store.graph.add_index(PYPI)
    for name in known:
        edges.store.graph.versions[row.id or 0][name].add("0.1")
    index = FakeIndex(projects)
    edges.indexes[PYPI] = index
    return index


def run(tmp_path: Path, edges: FakeEdges, config: str = SEEN, **settings: Any) -> RunReport:
    """One run (the previous one is over: its lock is released); its report."""
    edges.store.state.locked = False
    return make_job(tmp_path, edges, config, **settings).run()


def remember(edges: FakeEdges, **serials: int | None) -> None:
    """Store page state for these projects, as an earlier run would have (None: a page without a serial)."""
    for name, serial in serials.items():
        edges.store.state.pages[PYPI, name] = PageValidators(etag=f'"{name}"', serial=serial)


# -- what the listing's serials choose --------------------------------------------------------------------------


@pytest.mark.parametrize("config", [SEEN, ALL], ids=["only-seen", "all-packages"])
def test_a_changed_serial_is_requested_and_an_unchanged_one_is_not(
    tmp_path: Path, edges: FakeEdges, config: str
) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"], "gamma": ["1.0"]}, known=["alpha", "beta", "gamma"])
    index.listing_serials = {"alpha": 1, "beta": 2, "gamma": 3}
    first = run(tmp_path, edges, config, scan_strategy="listing")
    assert sorted(index.requested) == ["alpha", "beta", "gamma"]  # no serial stored yet: every one
    assert (first.indexes[0].strategy, first.indexes[0].strategy_reason) == ("listing", "--scan-strategy listing")
    index.requested.clear()
    index.projects["beta"] = ["1.0", "2.0"]
    index.listing_serials = {"alpha": 1, "beta": 4, "gamma": 3}

    second = run(tmp_path, edges, config, scan_strategy="listing")

    assert index.requested == ["beta"]
    (report,) = second.indexes
    assert (report.strategy, report.skipped_by_serial, report.packages_checked) == ("listing", 2, 1)
    assert list(second.new_releases) == [Release("beta", "2.0", PYPI)]
    assert edges.store.state.pages[PYPI, "beta"].serial == 4


def test_a_project_without_a_stored_serial_is_requested(tmp_path: Path, edges: FakeEdges) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"], "gamma": ["1.0"]}, known=["alpha", "beta", "gamma"])
    index.listing_serials = {"alpha": 1, "beta": 1, "gamma": 1}
    remember(edges, alpha=1, beta=None)  # beta's page had no serial; gamma was never read

    report = run(tmp_path, edges, scan_strategy="listing")

    assert sorted(index.requested) == ["beta", "gamma"]
    assert report.indexes[0].skipped_by_serial == 1


@pytest.mark.parametrize("config", [SEEN, ALL], ids=["only-seen", "all-packages"])
def test_a_listing_whose_serials_went_backwards_is_not_trusted(
    tmp_path: Path, edges: FakeEdges, config: str, caplog: pytest.LogCaptureFixture
) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"], "gamma": ["1.0"]}, known=["alpha", "beta", "gamma"])
    index.listing_serials = {"alpha": 5, "beta": 3, "gamma": 9}  # a stale copy: beta was read at 5
    remember(edges, alpha=5, beta=5, gamma=5)

    report = run(tmp_path, edges, config, scan_strategy="listing")

    assert sorted(index.requested) == ["alpha", "beta", "gamma"]  # per-project conditional requests
    (scanned,) = report.indexes
    assert (scanned.strategy, scanned.skipped_by_serial) == ("projects", 0)
    reason = "the listing's serials went backwards (beta listed at 3, stored at 5): not trusted, all projects requested"
    assert scanned.strategy_reason == reason
    assert json.loads(report.render_json())["indexes"][0]["strategy_reason"] == reason
    assert f"    strategy projects: {reason}\n" in report.render_text()
    assert f"Index {PYPI}: {reason}" in [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert edges.store.state.listings == {}  # the untrusted listing is not remembered


@pytest.mark.parametrize("strategy", ["listing", "projects"])
def test_a_project_dropped_from_the_listing_is_requested_once_more_then_forgotten(
    tmp_path: Path, edges: FakeEdges, strategy: str
) -> None:
    # In all-packages mode the names come from the listing: a project removed from the index leaves it. Its 404
    # is what tells a removal (missing_package, issue 13), so it is requested once more; the 404 forgets it.
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]})
    index.listing_serials = {"alpha": 1, "beta": 1}
    run(tmp_path, edges, ALL, scan_strategy=strategy)
    del index.projects["beta"]
    index.listing_serials = {"alpha": 1}
    index.requested.clear()

    run(tmp_path, edges, ALL, scan_strategy=strategy)

    assert "beta" in index.requested
    assert (PYPI, "beta") not in edges.store.state.pages
    index.requested.clear()
    run(tmp_path, edges, ALL, scan_strategy=strategy)
    assert "beta" not in index.requested


@pytest.mark.parametrize("config", [SEEN, ALL], ids=["only-seen", "all-packages"])
def test_a_listing_without_serials_never_skips_a_project(tmp_path: Path, edges: FakeEdges, config: str) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]}, known=["alpha", "beta"])  # no listing_serials
    index.page_serials = {"alpha": 1, "beta": 1}
    run(tmp_path, edges, config, scan_strategy="listing")
    index.requested.clear()

    report = run(tmp_path, edges, config, scan_strategy="listing")

    assert sorted(index.requested) == ["alpha", "beta"]
    (scanned,) = report.indexes
    assert (scanned.strategy, scanned.skipped_by_serial) == ("projects", 0)
    assert scanned.strategy_reason == "the listing carries no serial per project"
    assert edges.store.state.listings[PYPI, "0/1"].project_serials is False


def test_a_known_name_neither_listed_nor_ever_found_is_not_on_the_index_without_a_request(
    tmp_path: Path, edges: FakeEdges
) -> None:
    index = serve(edges, {"alpha": ["1.0"]}, known=["alpha", "ghost", "gone"])
    index.listing_serials = {"alpha": 1}
    remember(edges, gone=3)  # found on this index before: its 404 matters (release events)

    report = run(tmp_path, edges, scan_strategy="listing")

    assert sorted(index.requested) == ["alpha", "gone"]
    (scanned,) = report.indexes
    assert (scanned.not_found, sorted(scanned.not_found_names)) == (2, ["ghost", "gone"])
    assert scanned.packages_checked == 3
    assert scanned.error is None


@pytest.mark.parametrize("batch", [5_000, 2], ids=["per-batch", "one-pass"])
def test_the_stored_serials_choose_the_same_read_per_batch_or_in_one_pass(
    tmp_path: Path, edges: FakeEdges, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above SELECT_BATCH names to check, the stored serials are read in one pass; the choice must not change.
    monkeypatch.setattr(strategy, "SELECT_BATCH", batch)
    known = ["alpha", "beta", "delta", "gamma", "ghost", "gone"]
    index = serve(edges, {name: ["1.0"] for name in ("alpha", "beta", "delta", "gamma")}, known=known)
    index.listing_serials = {"alpha": 2, "beta": 1, "delta": 1, "gamma": 1}
    remember(edges, alpha=1, beta=1, gamma=None, gone=3)  # alpha changed, beta not, gamma/delta without a serial
    state = edges.store.state
    reads: list[str] = []
    monkeypatch.setattr(state, "page_serials", _counted(reads, "page_serials", state.page_serials))
    monkeypatch.setattr(state, "page_validators", _counted(reads, "page_validators", state.page_validators))

    report = run(tmp_path, edges, scan_strategy="listing")

    assert sorted(index.requested) == ["alpha", "delta", "gamma", "gone"]
    (scanned,) = report.indexes
    assert (scanned.skipped_by_serial, sorted(scanned.not_found_names)) == (1, ["ghost", "gone"])
    assert reads[0] == ("page_validators" if batch == 5_000 else "page_serials")  # the selection's read
    assert reads.count("page_serials") == (0 if batch == 5_000 else 1)


def _counted(reads: list[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a state method so that each call appends its name to ``reads``."""

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(name)
        return method(*args, **kwargs)

    return counted


def test_a_304_of_a_listing_with_serials_requests_new_known_names_and_monitored_ones(
    tmp_path: Path, edges: FakeEdges
) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"], "delta": ["1.0"]}, known=["alpha", "beta"])
    index.listing_serials = {"alpha": 1, "beta": 2, "delta": 3}
    index.listing_answers_304 = True
    config = SEEN + "packages:\n  alpha: {}\n"
    run(tmp_path, edges, config, scan_strategy="listing")
    assert edges.store.state.listings[PYPI, "0/1"] == ListingState(PageValidators(etag="L"), project_serials=True)
    edges.store.graph.versions[1]["delta"].add("0.1")  # a name the graph learned since
    index.requested.clear()

    report = run(tmp_path, edges, config, scan_strategy="listing")

    assert report.indexes[0].listing == "not_modified"
    assert sorted(index.requested) == ["alpha", "delta"]  # monitored, and without a stored serial
    assert report.indexes[0].skipped_by_serial == 1


def test_a_304_leaving_many_names_without_a_serial_reads_the_listing_again(tmp_path: Path, edges: FakeEdges) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]}, known=["alpha", "beta"])
    index.listing_serials = {"alpha": 1, "beta": 2}
    index.listing_answers_304 = True
    run(tmp_path, edges, listing_threshold=1)
    for name in ("ghost-1", "ghost-2"):  # known since, on no listing: not worth a request each
        edges.store.graph.versions[1][name].add("0.1")
    index.requested.clear()

    report = run(tmp_path, edges, listing_threshold=1)

    assert index.listing_requests == 3  # the first run's, the 304, and the whole listing again
    assert index.requested == []
    assert (report.indexes[0].not_found, report.indexes[0].skipped_by_serial) == (2, 2)


def test_a_listing_that_cannot_be_read_in_only_seen_mode_falls_back_to_every_project(
    tmp_path: Path, edges: FakeEdges
) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]}, known=["alpha", "beta"])
    index.listing_error = "HTTP 503"
    remember(edges, alpha=1, beta=1)

    report = run(tmp_path, edges, scan_strategy="listing")

    assert sorted(index.requested) == ["alpha", "beta"]
    (scanned,) = report.indexes
    assert (scanned.listing, scanned.strategy) == ("failed", "projects")
    assert scanned.strategy_reason == "the listing could not be read (HTTP 503): every project is requested"
    assert scanned.error is None
    assert report.succeeded


# -- what auto picks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "strategy", "listings", "reason"),
    [
        (4, "projects", 0, "4 projects to check, not above the threshold of 4 for the listing"),
        (3, "listing", 1, "4 projects to check, above the threshold of 3: one listing costs less"),
    ],
    ids=["at-the-threshold", "above-it"],
)
def test_auto_reads_the_listing_only_above_the_threshold(
    tmp_path: Path,
    edges: FakeEdges,
    caplog: pytest.LogCaptureFixture,
    threshold: int,
    strategy: str,
    listings: int,
    reason: str,
) -> None:
    names = ["alpha", "beta", "gamma", "delta"]
    index = serve(edges, {name: ["1.0"] for name in names}, known=names)
    index.listing_serials = dict.fromkeys(names, 1)
    remember(edges, alpha=1, beta=1, gamma=1, delta=1)

    with caplog.at_level(logging.INFO):
        report = run(tmp_path, edges, listing_threshold=threshold)

    (scanned,) = report.indexes
    assert (scanned.strategy, scanned.strategy_reason) == (strategy, reason)
    assert index.listing_requests == listings
    assert len(index.requested) == (4 if strategy == "projects" else 0)
    assert f"Index {PYPI}: strategy {strategy}: {reason}" in [r.getMessage() for r in caplog.records]
    assert f"    strategy {strategy}: {reason}\n" in report.render_text()


def test_auto_reads_the_listing_once_to_learn_it_has_no_serials(tmp_path: Path, edges: FakeEdges) -> None:
    names = ["alpha", "beta"]
    index = serve(edges, {name: ["1.0"] for name in names}, known=names)  # an HTML-like listing: no serials

    first = run(tmp_path, edges, listing_threshold=1)
    second = run(tmp_path, edges, listing_threshold=1)

    assert index.listing_requests == 1  # remembered: the second run did not ask again
    assert first.indexes[0].strategy_reason == "the listing carries no serial per project"
    assert second.indexes[0].strategy_reason == "the index's listing carries no serial per project"
    assert sorted(index.requested) == ["alpha", "alpha", "beta", "beta"]


def test_auto_uses_the_serials_of_a_listing_read_for_the_names_anyway(tmp_path: Path, edges: FakeEdges) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]})
    index.listing_serials = {"alpha": 1, "beta": 2}
    remember(edges, alpha=1, beta=1)

    report = run(tmp_path, edges, ALL, listing_threshold=1_000_000)

    assert index.requested == ["beta"]
    assert report.indexes[0].strategy_reason == "the listing, read for the names anyway, carries serials"


@pytest.mark.parametrize("config", [SEEN, ALL], ids=["only-seen", "all-packages"])
def test_strategy_projects_requests_every_project(tmp_path: Path, edges: FakeEdges, config: str) -> None:
    index = serve(edges, {"alpha": ["1.0"], "beta": ["1.0"]}, known=["alpha", "beta"])
    index.listing_serials = {"alpha": 1, "beta": 1}
    remember(edges, alpha=1, beta=1)

    report = run(tmp_path, edges, config, scan_strategy="projects", listing_threshold=0)

    assert sorted(index.requested) == ["alpha", "beta"]
    assert (report.indexes[0].strategy, report.indexes[0].strategy_reason) == ("projects", "--scan-strategy projects")
    assert index.listing_requests == (0 if config == SEEN else 1)  # all-packages mode reads it for the names
