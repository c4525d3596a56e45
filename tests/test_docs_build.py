"""The documentation builds with zero warnings (what ``make docs`` runs), no server needed.

Sphinx runs in a process of its own, nitpicky and with warnings as errors, into a
temporary folder; the test fails with Sphinx's warnings.  Sphinx comes with the ``docs``
extra (``make install`` installs it); without it the test is skipped on a developer's
machine and fails in CI.
"""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_build_without_warnings(tmp_path):
    if importlib.util.find_spec("sphinx") is None:
        if os.environ.get("CI") or os.environ.get("ETCD3_CHECK_SPECS"):
            pytest.fail("Sphinx is not installed: pip install -e '.[docs]' (make install does)")
        pytest.skip("Sphinx is not installed (pip install -e '.[docs]')")
    out = tmp_path / "html"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-n", "-W", "--keep-going", "-q",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert run.returncode == 0, "sphinx-build failed (%.0f s):\n%s" % (seconds, run.stdout)
    # -q: Sphinx prints only its warnings and errors (other libraries' deprecation notes may pass)
    assert not [line for line in run.stdout.splitlines() if "WARNING" in line or "ERROR" in line], run.stdout
    for page in ["index.html", "_generated/versions/matrix.html", "_generated/cli.html", "api/clients.html"]:
        assert (out / page).is_file(), page
    from etcd3.spec import bundled_versions

    for version in bundled_versions():
        html = (out / "_generated" / "versions" / ("v%s.html" % version)).read_text(encoding="utf-8")
        assert "etcd %s API" % version in html
