"""Focused tests of the synthetic index's release mutations (issue 13): yanks, files, removals, hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import requests

from tests.support.servers import JSON_CONTENT_TYPE, IndexServer

JSON_ACCEPT = {"Accept": JSON_CONTENT_TYPE}


@pytest.fixture
def index() -> Iterator[IndexServer]:
    with IndexServer({"Foo_Bar": ["1.0", "1.1"], "baz": ["0.1"]}) as server:
        yield server
    assert server.errors == []  # no unexpected exception in a handler


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _files(session: requests.Session, index: IndexServer, name: str) -> dict[str, tuple[str, object]]:
    """filename -> (sha256, yanked) as the project's JSON page lists them."""
    page = session.get(index.project_url(name), headers=JSON_ACCEPT).json()
    return {f["filename"]: (f["hashes"]["sha256"], f["yanked"]) for f in page["files"]}


def _changed(index: IndexServer, session: requests.Session, name: str, before: requests.Response) -> dict[str, object]:
    """The page after a mutation: a new ETag, the new serial in header and meta; return it parsed."""
    after = session.get(index.project_url(name), headers={**JSON_ACCEPT, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["X-PyPI-Last-Serial"] == str(index.serial) == str(index.project_serial(name))
    assert after.json()["meta"]["_last-serial"] == str(index.serial)
    page: dict[str, object] = after.json()
    return page


def test_yank_and_unyank_a_release_with_and_without_a_reason(index: IndexServer, session: requests.Session) -> None:
    before = session.get(index.project_url("Foo_Bar"), headers=JSON_ACCEPT)
    baz_serial = index.project_serial("baz")

    assert index.yank("foo-bar", "1.0", "broken metadata") == 3
    _changed(index, session, "Foo_Bar", before)
    files = _files(session, index, "Foo_Bar")
    assert {name: yanked for name, (_, yanked) in files.items()} == {
        "Foo_Bar-1.0.tar.gz": "broken metadata",
        "Foo_Bar-1.0-py3-none-any.whl": "broken metadata",
        "Foo_Bar-1.1.tar.gz": False,
        "Foo_Bar-1.1-py3-none-any.whl": False,
    }
    html_page = session.get(index.project_url("Foo_Bar")).text
    assert "Foo_Bar-1.0.tar.gz#sha256=" in html_page
    assert html_page.count(' data-yanked="broken metadata">') == 2
    assert index.release_files("Foo_Bar", "1.0")[0][2] == "broken metadata"
    assert index.project_serial("baz") == baz_serial  # one project changed

    index.yank("Foo_Bar", "1.1")  # no reason: JSON true, HTML an empty attribute
    assert {yanked for name, (_, yanked) in _files(session, index, "Foo_Bar").items() if "1.1" in name} == {True}
    assert session.get(index.project_url("Foo_Bar")).text.count(' data-yanked="">') == 2

    before = session.get(index.project_url("Foo_Bar"), headers=JSON_ACCEPT)
    assert index.unyank("Foo_Bar", "1.0") == index.serial == 5
    _changed(index, session, "Foo_Bar", before)
    assert {yanked for name, (_, yanked) in _files(session, index, "Foo_Bar").items() if "1.0" in name} == {False}
    with pytest.raises(ValueError, match="not yanked"):
        index.unyank("Foo_Bar", "1.0")
    with pytest.raises(KeyError):
        index.yank("Foo_Bar", "9.9")


def test_add_a_wheel_and_change_a_hash(index: IndexServer, session: requests.Session) -> None:
    before = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    old = _files(session, index, "baz")

    index.add_file("baz", "0.1")
    page = _changed(index, session, "baz", before)
    wheel = "baz-0.1-cp311-cp311-manylinux_2_17_x86_64.whl"
    files = _files(session, index, "baz")
    assert list(files) == [*old, wheel]
    assert files[wheel] == (hashlib.sha256(wheel.encode()).hexdigest(), False)
    assert page["versions"] == ["0.1"]
    assert f'<a href="../../files/{wheel}#sha256={files[wheel][0]}">' in session.get(index.project_url("baz")).text
    index.add_file("baz", "0.1", "baz-0.1-py2-none-any.whl", "ab" * 32)
    assert index.release_files("baz", "0.1")[-1] == ("baz-0.1-py2-none-any.whl", "ab" * 32, False)
    with pytest.raises(ValueError, match="already has"):
        index.add_file("baz", "0.1", wheel)

    before = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    index.change_sha256("baz", "baz-0.1.tar.gz")
    _changed(index, session, "baz", before)
    changed = _files(session, index, "baz")
    assert changed["baz-0.1.tar.gz"][0] != old["baz-0.1.tar.gz"][0]
    assert len(changed["baz-0.1.tar.gz"][0]) == 64
    assert {k: v for k, v in changed.items() if k != "baz-0.1.tar.gz"} == {
        k: v for k, v in files.items() if k != "baz-0.1.tar.gz"
    } | {"baz-0.1-py2-none-any.whl": ("ab" * 32, False)}
    index.change_sha256("baz", "baz-0.1.tar.gz", "cd" * 32)
    assert f'baz-0.1.tar.gz#sha256={"cd" * 32}"' in session.get(index.project_url("baz")).text
    with pytest.raises(KeyError):
        index.change_sha256("baz", "nope.tar.gz")


def test_remove_and_restore_a_version_and_a_project(index: IndexServer, session: requests.Session) -> None:
    before = session.get(index.project_url("Foo_Bar"), headers=JSON_ACCEPT)
    index.yank("Foo_Bar", "1.0", "oops")
    index.remove_version("Foo_Bar", "1.0")
    page = _changed(index, session, "Foo_Bar", before)
    assert page["versions"] == ["1.1"]
    assert list(_files(session, index, "Foo_Bar")) == ["Foo_Bar-1.1.tar.gz", "Foo_Bar-1.1-py3-none-any.whl"]
    assert "1.0" not in session.get(index.project_url("Foo_Bar")).text
    assert index.projects()["Foo_Bar"] == ["1.1"]

    before = session.get(index.project_url("Foo_Bar"), headers=JSON_ACCEPT)
    index.restore_version("Foo_Bar", "1.0")
    page = _changed(index, session, "Foo_Bar", before)
    assert page["versions"] == ["1.0", "1.1"]  # back in its place, yanked as it was
    assert _files(session, index, "Foo_Bar")["Foo_Bar-1.0.tar.gz"][1] == "oops"
    with pytest.raises(KeyError):
        index.restore_version("Foo_Bar", "1.0")

    listing = session.get(f"{index.base_url}/", headers=JSON_ACCEPT)
    index.remove_project("baz")
    assert session.get(index.project_url("baz"), headers=JSON_ACCEPT).status_code == 404
    projects = session.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "If-None-Match": listing.headers["ETag"]})
    assert [p["name"] for p in projects.json()["projects"]] == ["Foo_Bar"]

    serial = index.restore_project("baz")
    assert index.project_serial("baz") == serial == index.serial
    restored = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    assert (restored.status_code, restored.json()["versions"]) == (200, ["0.1"])
    assert restored.headers["X-PyPI-Last-Serial"] == str(serial)
    assert [p["name"] for p in session.get(f"{index.base_url}/", headers=JSON_ACCEPT).json()["projects"]] == [
        "Foo_Bar",
        "baz",
    ]
    with pytest.raises(KeyError):
        index.restore_project("baz")


def test_mutations_as_control_endpoints(session: requests.Session) -> None:
    with IndexServer({"pkg": ["1.0", "2.0"]}, control=True) as index:
        control = f"{index.url}/_control"

        def post(name: str, **body: object) -> requests.Response:
            return session.post(f"{control}/{name}", json=body)

        assert post("yank", project="pkg", version="1.0", reason="bad").json() == {"serial": 2}
        assert _files(session, index, "pkg")["pkg-1.0.tar.gz"][1] == "bad"
        assert post("unyank", project="pkg", version="1.0").json() == {"serial": 3}
        assert post("add-file", project="pkg", version="2.0").json() == {"serial": 4}
        assert "pkg-2.0-cp311-cp311-manylinux_2_17_x86_64.whl" in _files(session, index, "pkg")
        assert post("change-sha256", project="pkg", filename="pkg-2.0.tar.gz", sha256="ef" * 32).json() == {"serial": 5}
        assert _files(session, index, "pkg")["pkg-2.0.tar.gz"][0] == "ef" * 32
        assert post("remove-version", project="pkg", version="1.0").json() == {"serial": 6}
        assert post("restore-version", project="pkg", version="1.0").json() == {"serial": 7}
        assert post("remove-project", project="pkg").json() == {"serial": 8}
        assert session.get(index.project_url("pkg")).status_code == 404
        assert post("restore-project", project="pkg").json() == {"serial": 9}
        assert session.get(index.project_url("pkg"), headers=JSON_ACCEPT).json()["versions"] == ["1.0", "2.0"]

        assert post("yank", project="nope", version="1.0").status_code == 404
        assert post("unyank", project="pkg", version="1.0").status_code == 400  # not yanked
        assert post("yank", project="pkg").status_code == 400  # no version
        assert session.post(f"{control}/yank", data=b"[1]").status_code == 400
        assert session.get(f"{control}/yank").status_code == 404  # POST only
        assert index.serial == 9  # no failed call changed anything
