"""Thoth's package-releases job: find new Python package releases and record them in the knowledge graph."""

__version__ = "0.1.0"
