#!/usr/bin/env python3
"""Fetch a package from another Debian suite into a private cache folder.

The code lives in the package now (``etcd3/testing/fetch.py``, so installed users can
fetch the matrix versions too); this script stays for source checkouts and old habits.

Usage: ``python3 scripts/debfetch.py SUITE PACKAGE [VERSION] [CACHE]``.
"""
import importlib.util
import sys
from pathlib import Path

FETCH_PY = Path(__file__).resolve().parent.parent / "etcd3" / "testing" / "fetch.py"


def _load():
    # the file alone: fetching must not depend on what etcd3/__init__.py imports
    spec = importlib.util.spec_from_file_location("_etcd3_fetch", FETCH_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_fetch = _load()
debian_archive_uri = _fetch.debian_archive_uri
available_versions = _fetch.available_versions
fetch = _fetch.fetch
DEFAULT_CACHE = _fetch.default_cache()  # the names scripts/gen-specs uses

if __name__ == "__main__":
    sys.exit(_fetch.main(sys.argv[1:]))
