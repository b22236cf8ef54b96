"""The releases every server under test publishes, and the rows the job must write for them.

Names need normalizing (``Foo.Bar_baz``, ``Zope.Interface``), one version is a pre-release spelled the long
way (``2.0.RC1``, stored ``2.0rc1``), releases come as sdists, wheels or both, and one project comes later.
"""

from __future__ import annotations

from tests.support.distributions import Distribution

FIRST = (
    Distribution("Foo.Bar_baz", "1.0"),
    Distribution("Foo.Bar_baz", "1.0", "wheel"),
    Distribution("Foo.Bar_baz", "1.1", "wheel"),
    Distribution("Foo.Bar_baz", "2.0.RC1"),
    Distribution("Zope.Interface", "5.0", "wheel"),
)
FIRST_ROWS = [
    ("foo-bar-baz", "1.0"),
    ("foo-bar-baz", "1.1"),
    ("foo-bar-baz", "2.0rc1"),
    ("zope-interface", "5.0"),
]
YANKED = "Foo_Bar_baz-1.1-py3-none-any.whl"  # its release's only file: a yanked release is still a release

# A new version of a project the index already lists: a static index rewrites only that project's page.
NEW = (Distribution("Foo.Bar_baz", "1.2", "wheel"), Distribution("Foo.Bar_baz", "1.2"))
NEW_ROWS = [("foo-bar-baz", "1.2")]

MONITORED = ("Foo.Bar-baz", "zope_interface")  # spelled unlike the index, as users write them
