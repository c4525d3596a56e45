"""Fixtures of the compatibility tests: the released etcd3-py 0.1.6 in a venv of its own.

etcd3-py 0.1.6 imports and runs on this Python (3.11) as released: it takes
``Hashable`` from ``collections.abc`` first (``collections.Hashable`` only as a
fallback), so the venv needs no ``sitecustomize`` shim.  If a future Python breaks its import, the
fixture fails naming the error (it is never faked nor skipped).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ORIGINAL = "etcd3-py==0.1.6"


def _run(command, timeout, cwd):
    # away from the repository (python -c puts the working folder on sys.path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(cwd))


@pytest.fixture(scope="session")
def etcd3_016_python(tmp_path_factory) -> str:
    """The python of a new venv with etcd3-py 0.1.6 installed from PyPI, for worker
    processes that run the original library.  Without network (or if it does not
    install or import) the tests that use it fail: they are never skipped."""
    root = tmp_path_factory.mktemp("etcd3-py-0.1.6")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", venv], timeout=300, cwd=root)
    if made.returncode != 0:
        pytest.fail("python -m venv failed:\n%s" % made.stderr[-3000:], pytrace=False)
    python = Path(venv) / "bin" / "python"
    installed = _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", ORIGINAL],
                     timeout=900, cwd=root)
    if installed.returncode != 0:
        pytest.fail("pip install %s failed (no network?):\n%s" % (ORIGINAL, installed.stderr[-3000:]), pytrace=False)
    probe = _run([python, "-c", "import etcd3, etcd3.stateful.lock; print(etcd3.__version__); print(etcd3.__file__)"],
                 timeout=120, cwd=root)
    if probe.returncode != 0:
        pytest.fail("etcd3-py 0.1.6 does not import on Python %s:\n%s" % (sys.version.split()[0], probe.stderr[-3000:]),
                    pytrace=False)
    version, location = probe.stdout.split()
    assert version == "0.1.6", probe.stdout
    assert Path(location).resolve().is_relative_to(Path(venv).resolve()), "etcd3 came from %s" % location
    return str(python)
