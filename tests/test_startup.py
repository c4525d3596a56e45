"""``import etcd3`` stays light: the heavy dependencies come with the first use of
what needs them (issue 14), not with a client's first calls.  Fresh interpreters;
the first calls against a real server."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import python_output

HEAVY = ("requests", "aiohttp", "yaml", "jsonpointer", "asyncio", "urllib3", "http.client")


def modules_after(code: str) -> set:
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.splitlines()[-1].split())


def test_import_etcd3_imports_no_dependency():
    loaded = modules_after("import etcd3")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not {m for m in loaded if m.startswith("etcd3.")}


def test_names_resolve_on_first_use():
    loaded = modules_after("import etcd3\nassert etcd3.Client.__name__ == 'Client'\n"
                           "assert etcd3.errors.ErrCompacted and etcd3.EventType.PUT.value == 'PUT'\n"
                           "assert 'Lock' in dir(etcd3) and 'utils' in dir(etcd3)")
    assert "etcd3.client" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)  # not even the sync client's own stack


def test_unknown_name():
    out = subprocess.run([sys.executable, "-c", "import etcd3; etcd3.NoSuchThing"], capture_output=True, text=True)
    assert out.returncode == 1 and "module 'etcd3' has no attribute 'NoSuchThing'" in out.stderr


def test_aio_client_needs_no_sync_stack():
    loaded = modules_after("import etcd3\netcd3.AioClient('127.0.0.1', 1)")
    assert "etcd3.aio_client" in loaded
    assert "requests" not in loaded and "etcd3.client" not in loaded


# -- the first calls: what a client needs for a get, and nothing else ------------------------
# (the helpers' modules, Txn's with the enums of every spec, come with their first use)
NOT_FOR_A_GET = HEAVY + ("etcd3.stateful.transaction", "etcd3.stateful.election", "etcd3.stateful.lease",
                         "etcd3.aio_client")
SPECS_LOADED = "import etcd3.spec\nprint(' '.join(sorted(etcd3.spec._bundles)))"


def _spec_of(server) -> str:
    return ".".join(server.version.split(".")[:2])


def specs_and_modules_after(code):
    """Run ``code`` (ending in SPECS_LOADED) in a fresh interpreter: the bundles it
    loaded (a list) and the modules it imported (a set)."""
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    bundles, modules = out.stdout.splitlines()[-2:]
    return bundles.split(), set(modules.split())


@pytest.mark.etcd_versions("oldest", "newest")
def test_client_construct_and_first_get_import_no_dependency(etcd):
    code = ("from etcd3 import Client\nc = Client(%r, %d)\nc.put('/startup', 'v')\n"
            "assert c.range('/startup').kvs[0].value == b'v'\nc.delete_range('/startup')\n"
            "c.close()\n%s" % (etcd.host, etcd.port, SPECS_LOADED))
    bundles, loaded = specs_and_modules_after(code)
    assert not loaded & set(NOT_FOR_A_GET), loaded & set(NOT_FOR_A_GET)
    # the spec of the server's version, and no other (none for the default version first)
    assert bundles == [_spec_of(etcd)]


@pytest.mark.etcd_versions("newest")
def test_first_get_makes_no_enum_docstring_or_signature_until_asked(etcd):
    # a method's docstring and signature (whose defaults are enums of every bundled spec)
    # are made when read; then they are what they were when made at once
    code = ("import inspect, sys\nfrom etcd3 import Client, models\nc = Client(%r, %d)\nc.range('/startup')\n"
            "op = c.operations['range']\n"
            "print(sorted(models._enums), 'doc' in vars(op), op.binding._signature is not None,\n"
            "      'termios' in sys.modules, 'fcntl' in sys.modules)\n"
            "sig = inspect.signature(c.range)\n"
            "assert sig.parameters['sort_order'].default is models.RangeRequestSortOrder.NONE\n"
            "assert list(sig.parameters)[:2] == ['key', 'range_end'] and 'self' not in sig.parameters\n"
            "assert c.range.__doc__ == op.doc and 'Returns: RangeResponse' in c.range.__doc__\n"
            "assert inspect.signature(type(c).range) == op.signature and c.range.__name__ == 'range'\n"
            "print('ok')" % (etcd.host, etcd.port))
    output = python_output(code)
    assert output.split()[-1] == "ok"
    enums, doc, signature, termios, fcntl = output.splitlines()[0].rsplit(" ", 4)
    assert (enums, doc, signature) == ("[]", "False", "False")
    if sys.platform.startswith("linux"):
        # the sync pool checks a reused connection by TCP_INFO alone (Linux 4.1+): no FIONREAD,
        # so neither fcntl nor termios (~0.35 ms each) is imported
        assert (termios, fcntl) == ("False", "False")


def test_the_sync_pools_fionread_is_the_systems():
    termios = pytest.importorskip("termios")
    from etcd3.transport import http_pool

    if not sys.platform.startswith("linux"):
        pytest.skip("the kernel-bounded sync pool (and its FIONREAD check) is Linux's")
    http_pool._ioctl()
    assert http_pool._FIONREAD == termios.FIONREAD


@pytest.mark.etcd_versions("oldest", "newest")
def test_aio_client_first_get_imports_neither_aiohttp_nor_the_sync_stack(etcd):
    code = ("import asyncio\nfrom etcd3 import AioClient\n"
            "async def main():\n"
            "    async with AioClient(%r, %d) as c:\n"
            "        await c.put('/startup-aio', 'v')\n"
            "        assert (await c.range('/startup-aio')).kvs[0].value == b'v'\n"
            "        await c.delete_range('/startup-aio')\n"
            "asyncio.run(main())\n%s" % (etcd.host, etcd.port, SPECS_LOADED))
    bundles, loaded = specs_and_modules_after(code)
    unwanted = (set(NOT_FOR_A_GET) - {"asyncio", "etcd3.aio_client"}) | {"etcd3.client"}
    assert "etcd3.aio_client" in loaded and not loaded & unwanted, loaded & unwanted
    # ``async with`` connects before a method is looked up: no class of the version given
    # (3.3.0) is made for nothing, only the server's spec is loaded
    assert bundles == [_spec_of(etcd)]


def test_an_aio_client_not_yet_connected_has_the_methods_of_the_version_it_was_given():
    code = ("import inspect\nfrom etcd3 import AioClient\n"
            "c = AioClient('127.0.0.1', 1, server_version='3.4.0')\n"
            "print(type(c).__name__, 'range' in dir(c), c.spec.version, c.range.__name__,\n"
            "      list(inspect.signature(c.range).parameters)[:2], 'spec 3.4' in repr(c))\n"
            "c2 = AioClient('127.0.0.1', 1)\n"
            "print(c2.lease_grant.__name__, c2.spec.version, 'member_promote' in dir(c2))\n")
    lines = python_output(code).splitlines()
    assert lines[0] == "AioClient True 3.4 range ['key', 'range_end'] True"
    # 3.3.0 by default: an RPC of a newer etcd is not among its methods before it connects
    assert lines[1] == "lease_grant 3.3 False"


@pytest.mark.etcd_versions("newest")
def test_session_is_a_requests_session_made_when_asked_for(etcd):
    # 0.1.6's client.session: a requests Session with the client's settings, made on first use
    code = ("import sys, requests\nfrom etcd3 import Client\n"
            "c = Client(%r, %d, headers={'X-Test': '1'}, user_agent='ua/1', pool_size=7, max_retries=2)\n"
            "c.headers['X-Later'] = '2'  # the session has the headers of the construction, as before\n"
            "s = c.session\n"
            "assert isinstance(s, requests.Session) and s is c.session and s is c._session\n"
            "assert s.headers['User-Agent'] == 'ua/1' and s.headers['X-Test'] == '1' and 'X-Later' not in s.headers\n"
            "adapter = s.get_adapter(c.baseurl)\n"
            "assert adapter.max_retries.total == 2 and adapter._pool_maxsize == 7 and not s.trust_env\n"
            "assert s.post(c._url('/kv/range'), json={'key': 'eA=='}).status_code == 200\n"
            "c.close()\nprint('ok')" % (etcd.host, etcd.port))
    assert python_output(code).split()[-1] == "ok"


def test_spec_cache_matches_the_specs():
    # etcd3/_spec_cache*.py (what the clients and models read instead of parsing the specs)
    # are what the bundled specs give: else `python -m etcd3.spec --write-cache`
    from etcd3 import spec

    assert spec.stale_cache_files() == [], "stale: run python -m etcd3.spec --write-cache"
    assert sorted(spec.cache_sources()) == ["_spec_cache.py"] + [
        "_spec_cache_%s.py" % v.replace(".", "_") for v in spec.bundled_versions()]
    assert spec.enum_members() == spec._computed_enum_members()
    for version in spec.bundled_versions():
        bundle = spec.SpecBundle(version)
        cached, computed = bundle.operations, bundle._operations_from_specs()
        assert spec.cached_operations(version) is not None
        assert [(op.name, op.rpc, op.http_method, op.path, op.extra_paths, op.operation._pointer,
                 op.request._pointer if op.request is not None else None, op.response._pointer, op.streaming)
                for op in cached.values()] == \
               [(op.name, op.rpc, op.http_method, op.path, op.extra_paths, op.operation._pointer,
                 op.request._pointer if op.request is not None else None, op.response._pointer, op.streaming)
                for op in computed.values()]
