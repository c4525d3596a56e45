"""``import etcd3`` stays light: the heavy dependencies come with the first use of
the client that needs them (issue 14).  Fresh interpreters, no server."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("requests", "aiohttp", "yaml", "jsonpointer", "asyncio", "urllib3")


def modules_after(code: str) -> set:
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_etcd3_imports_no_dependency():
    loaded = modules_after("import etcd3")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not {m for m in loaded if m.startswith("etcd3.")}


def test_names_resolve_on_first_use():
    loaded = modules_after("import etcd3\nassert etcd3.Client.__name__ == 'Client'\n"
                           "assert etcd3.errors.ErrCompacted and etcd3.EventType.PUT.value == 'PUT'\n"
                           "assert 'Lock' in dir(etcd3) and 'utils' in dir(etcd3)")
    assert "etcd3.client" in loaded and "requests" in loaded
    assert "aiohttp" not in loaded  # the sync client does not pull in the async stack


def test_unknown_name():
    out = subprocess.run([sys.executable, "-c", "import etcd3; etcd3.NoSuchThing"], capture_output=True, text=True)
    assert out.returncode == 1 and "module 'etcd3' has no attribute 'NoSuchThing'" in out.stderr


def test_aio_client_needs_no_sync_stack():
    loaded = modules_after("import etcd3\netcd3.AioClient('127.0.0.1', 1)")
    assert "etcd3.aio_client" in loaded
    assert "requests" not in loaded and "etcd3.client" not in loaded
