"""Unit tests of release-event detection (issue 13): a page against its previous snapshot and the graph; pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from thoth.package_releases.release_events import (
    Detection,
    GraphView,
    Snapshot,
    detect,
    file_id,
    new_release_events,
)
from thoth.package_releases.sources.pages import DistributionFile, ProjectPage
from thoth.package_releases.values import Release, ReleaseEvent

INDEX = "https://pypi.example/simple"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def page(*files: DistributionFile, versions: tuple[str, ...] | None = None) -> ProjectPage:
    if versions is None:
        versions = tuple(sorted({f.filename.split("-")[1].removesuffix(".tar.gz") for f in files}))
    return ProjectPage("foo", tuple(files), versions, (), None)


def sdist(
    version: str, sha256: str | None = None, *, yanked: bool = False, reason: str | None = None
) -> DistributionFile:
    return DistributionFile(f"foo-{version}.tar.gz", sha256, yanked, reason)


def wheel(version: str, sha256: str | None = None, *, yanked: bool = False) -> DistributionFile:
    return DistributionFile(f"foo-{version}-py3-none-any.whl", sha256, yanked)


def graph(*versions: str, artifacts: Mapping[str, Collection[str]] | None = None) -> GraphView:
    return GraphView(frozenset(versions), artifacts or {})


def run(p: ProjectPage | None, previous: Snapshot | None, g: GraphView) -> Detection:
    return detect(INDEX, "foo", p, previous, g)


def kinds(detection: Detection) -> list[tuple[str, str | None]]:
    return [(event.kind, event.package_version) for event in detection.events]


def then(p: ProjectPage | None, before: ProjectPage, g: GraphView) -> Detection:
    """Detect on ``p`` after a first read of ``before`` (whose snapshot it starts from)."""
    first = run(before, None, g)
    assert first.snapshot is not None
    return run(p, first.snapshot, g)


def test_first_read_records_the_snapshot_and_emits_nothing() -> None:
    p = page(sdist("1.0", A, yanked=True, reason="bad"), wheel("1.0", B), sdist("2.0", C))
    detection = run(p, None, graph("1.0", "2.0", "0.9", artifacts={"2.0": {"d" * 64}}))

    assert detection.events == ()
    assert detection.missing == detection.reappeared == ()
    assert detection.snapshot is not None
    assert detection.snapshot.versions == {"1.0", "2.0"}  # 0.9 was never seen on the page: no history
    assert detection.snapshot.yanked == {}  # one of the two files of 1.0 is yanked: not the release
    # The mismatch already there is remembered, not reported: a later read does not report it either.
    assert set(detection.snapshot.reported) == {"2.0"}
    assert run(p, detection.snapshot, graph("1.0", "2.0", "0.9", artifacts={"2.0": {"d" * 64}})).events == ()


def test_an_unchanged_page_gives_no_event_and_the_same_snapshot() -> None:
    p = page(sdist("1.0", A), wheel("1.0", B, yanked=True))
    first = run(p, None, graph("1.0"))
    assert first.snapshot is not None

    again = run(p, first.snapshot, graph("1.0"))

    assert again.events == ()
    assert again.snapshot is not None
    assert again.snapshot.encode() == first.snapshot.encode()


def test_a_release_whose_every_file_is_yanked_is_yanked_with_the_reason() -> None:
    before = page(sdist("1.0", A), wheel("1.0", B))
    after = page(sdist("1.0", A, yanked=True, reason="CVE-2024-0001"), wheel("1.0", B, yanked=True))

    detection = then(after, before, graph("1.0"))

    assert detection.events == (ReleaseEvent("yanked", "foo", "1.0", INDEX, {"reason": "CVE-2024-0001"}),)
    assert detection.snapshot is not None
    assert detection.snapshot.yanked == {"1.0": "CVE-2024-0001"}
    assert detection.snapshot.files == {file_id("foo-1.0.tar.gz"), file_id("foo-1.0-py3-none-any.whl")}


def test_one_file_yanked_out_of_two_is_no_yank() -> None:
    before = page(sdist("1.0", A), wheel("1.0", B))
    after = page(sdist("1.0", A, yanked=True), wheel("1.0", B))

    assert then(after, before, graph("1.0")).events == ()


def test_a_yank_without_a_reason_has_a_null_reason() -> None:
    detection = then(page(sdist("1.0", yanked=True)), page(sdist("1.0")), graph("1.0"))

    assert detection.events == (ReleaseEvent("yanked", "foo", "1.0", INDEX, {"reason": None}),)


def test_a_yanked_release_that_gets_a_file_back_is_unyanked() -> None:
    detection = then(page(sdist("1.0")), page(sdist("1.0", yanked=True)), graph("1.0"))

    assert kinds(detection) == [("unyanked", "1.0")]
    assert detection.events[0].details == {}


def test_a_yanked_release_gaining_a_good_wheel_is_unyanked_and_has_new_files() -> None:
    detection = then(page(sdist("1.0", yanked=True), wheel("1.0", B)), page(sdist("1.0", yanked=True)), graph("1.0"))

    assert kinds(detection) == [("unyanked", "1.0"), ("new_files", "1.0")]


def test_a_release_gaining_files_has_new_files_with_name_and_sha256() -> None:
    before = page(sdist("1.0", A))
    after = page(sdist("1.0", A), wheel("1.0", B), DistributionFile("foo-1.0-cp312-cp312-win_amd64.whl", None))

    detection = then(after, before, graph("1.0"))

    assert detection.events == (
        ReleaseEvent(
            "new_files",
            "foo",
            "1.0",
            INDEX,
            {
                "files": [
                    {"filename": "foo-1.0-cp312-cp312-win_amd64.whl", "sha256": None},
                    {"filename": "foo-1.0-py3-none-any.whl", "sha256": B},
                ]
            },
        ),
    )


def test_a_removed_file_is_no_event() -> None:
    assert then(page(sdist("1.0", A)), page(sdist("1.0", A), wheel("1.0", B)), graph("1.0")).events == ()


def test_a_new_version_is_no_new_files_event() -> None:
    # Its new_release comes from the inserted row (new_release_events), not from the page comparison.
    detection = then(page(sdist("1.0", A), sdist("2.0", B)), page(sdist("1.0", A)), graph("1.0", "2.0"))

    assert detection.events == ()


def test_new_release_events_are_made_from_the_inserted_rows() -> None:
    assert new_release_events([Release("foo", "2.0", INDEX)]) == [ReleaseEvent("new_release", "foo", "2.0", INDEX)]


def test_a_version_with_a_row_gone_from_the_page_is_missing_once_then_reappears() -> None:
    g = graph("1.0", "2.0")
    both = page(sdist("1.0"), sdist("2.0"))

    gone = then(page(sdist("2.0")), both, g)
    assert kinds(gone) == [("missing_version", "1.0")]
    assert gone.missing == ("1.0",)
    assert gone.snapshot is not None

    still = run(page(sdist("2.0")), gone.snapshot, g)
    assert still.events == ()
    assert still.missing == ()
    assert still.snapshot is not None
    assert still.snapshot.encode() == gone.snapshot.encode()

    back = run(both, still.snapshot, g)
    assert kinds(back) == [("reappeared", "1.0")]
    assert back.reappeared == ("1.0",)
    assert back.snapshot is not None
    assert back.snapshot.missing == frozenset()


def test_a_version_without_a_graph_row_leaving_the_page_is_no_event() -> None:
    detection = then(page(sdist("2.0")), page(sdist("1.0"), sdist("2.0")), graph("2.0"))

    assert detection.events == ()
    assert detection.missing == ()
    assert detection.snapshot is not None
    assert detection.snapshot.versions == {"2.0"}
    assert detection.snapshot.missing == frozenset()


def test_a_version_in_the_graph_never_seen_on_the_page_is_no_reappearance() -> None:
    # 2.0 came through a feed after the page's last read: it is new to the snapshot, not back.
    assert then(page(sdist("1.0"), sdist("2.0")), page(sdist("1.0")), graph("1.0", "2.0")).events == ()


def test_a_404_of_a_project_found_before_with_rows_is_missing_package_once() -> None:
    g = graph("1.0", "2.0")
    detection = then(None, page(sdist("1.0"), sdist("2.0")), g)

    assert detection.events == (ReleaseEvent("missing_package", "foo", None, INDEX),)
    assert detection.missing == ("1.0", "2.0")  # every version is missing, as Thoth's investigator marks them
    assert detection.snapshot is not None
    assert detection.snapshot.gone

    again = run(None, detection.snapshot, g)
    assert again.events == ()
    assert again.snapshot is None

    back = run(page(sdist("1.0"), sdist("2.0")), detection.snapshot, g)
    assert kinds(back) == [("reappeared", "1.0"), ("reappeared", "2.0")]
    assert back.reappeared == ("1.0", "2.0")
    assert back.snapshot is not None
    assert not back.snapshot.gone


def test_a_404_of_a_project_never_read_is_no_event() -> None:
    detection = run(None, None, graph("1.0"))

    assert detection.events == ()
    assert detection.snapshot is None
    assert detection.missing == ()


def test_a_404_of_a_project_without_rows_is_no_event() -> None:
    detection = then(None, page(sdist("1.0")), graph())

    assert detection.events == ()
    assert detection.snapshot is not None
    assert detection.snapshot.gone


def test_hash_mismatch_against_the_graphs_artifacts_is_reported_once() -> None:
    g_ok = graph("1.0", artifacts={"1.0": {A, B}})
    p_ok = page(sdist("1.0", A), wheel("1.0", B))
    p_changed = page(sdist("1.0", C), wheel("1.0", B))  # the sdist replaced under the same name: no new file

    detection = then(p_changed, p_ok, g_ok)

    assert detection.events == (
        ReleaseEvent("hash_mismatch", "foo", "1.0", INDEX, {"missing_on_index": [A], "missing_in_graph": [C]}),
    )
    assert detection.snapshot is not None
    assert run(p_changed, detection.snapshot, g_ok).events == ()  # reported already

    # Another mismatch is news; after the hashes agree again, the same mismatch is news again.
    other = run(page(sdist("1.0", C)), detection.snapshot, g_ok)
    assert kinds(other) == [("hash_mismatch", "1.0")]
    assert other.events[0].details == {"missing_on_index": [A, B], "missing_in_graph": [C]}
    assert other.snapshot is not None
    agreed = run(p_ok, other.snapshot, g_ok)
    assert kinds(agreed) == [("new_files", "1.0")]  # the wheel is back, the hashes agree: no mismatch
    assert agreed.snapshot is not None
    assert kinds(run(p_changed, agreed.snapshot, g_ok)) == [("hash_mismatch", "1.0")]


def test_no_hash_comparison_without_artifacts_or_without_every_sha256() -> None:
    before = page(sdist("1.0", A))
    assert then(page(sdist("1.0", C)), before, graph("1.0")).events == ()
    no_sha = page(sdist("1.0", A), wheel("1.0", None))
    assert kinds(then(no_sha, before, graph("1.0", artifacts={"1.0": {B}}))) == [("new_files", "1.0")]


def test_the_snapshot_encodes_compactly_and_decodes_to_itself() -> None:
    p = page(
        sdist("1.0", A, yanked=True, reason="broken, see \u00e9"),
        wheel("1.0", B, yanked=True),
        sdist("2.0", C),
    )
    first = run(p, None, graph("1.0", "2.0", artifacts={"2.0": {A}}))
    assert first.snapshot is not None
    gone = run(page(sdist("1.0", A, yanked=True)), first.snapshot, graph("1.0", "2.0"))
    assert gone.snapshot is not None

    for snapshot in (first.snapshot, gone.snapshot, Snapshot(missing=frozenset({"1.0"}), gone=True)):
        assert Snapshot.decode(snapshot.encode()) == snapshot
    # a release with 6 files: its version and six 8-character identities
    six = page(*(DistributionFile(f"foo-1.0-py3-none-any{i}.whl", A) for i in range(6)), versions=("1.0",))
    encoded = run(six, None, graph("1.0")).snapshot
    assert encoded is not None
    assert len(encoded.encode()) < 80


def test_an_unreadable_snapshot_is_a_first_read() -> None:
    for text in (None, "", "{", "[0, 5]", '[0, [["1.0"]]]'):
        assert Snapshot.decode(text) is None


def test_a_file_is_known_by_its_name() -> None:
    assert file_id("foo-1.0.tar.gz") == file_id("foo-1.0.tar.gz")
    assert file_id("foo-1.0.tar.gz") != file_id("foo-1.0.zip")
    assert 0 <= file_id("foo-1.0-\udcff.whl") < 2**48  # a lone surrogate from a JSON page too
