#!/usr/bin/env python3
"""Entry point of the package-releases job (s2i's APP_FILE); see thoth/package_releases/cli.py."""

from thoth.package_releases.cli import main

if __name__ == "__main__":
    main()
