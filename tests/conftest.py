"""Fixtures: real etcd servers started by the tests themselves.

The server versions come from ``ETCD_VERSIONS`` (comma separated; default: the
whole matrix of ``etcd3.testing.server.MATRIX``).  Every test that takes ``etcd`` or
``client`` runs once per version.  A version that cannot be fetched fails the
run loudly; it is never skipped.
"""
from __future__ import annotations

import warnings

import pytest

from etcd3.testing.pytest_plugin import etcd_proc_factory
from etcd3.testing.server import EtcdCluster, EtcdServer, versions_from_env

VERSIONS = versions_from_env()


def pytest_report_header(config):
    return "etcd versions: %s" % ", ".join(VERSIONS)


@pytest.fixture(scope="session", params=VERSIONS)
def etcd_version(request) -> str:
    return request.param


# One etcd server per version for the whole session (tests clean up after themselves):
# the pytest plugin's server (one harness for users and us), fetching a missing version
etcd = etcd_proc_factory(version_fixture="etcd_version", fetch=True)


@pytest.fixture
def fresh_etcd(etcd_version, request):
    """A server of its own for a test that changes cluster-wide state (auth, members).
    Extra EtcdServer arguments come from ``@pytest.mark.etcd_args(...)``."""
    marker = request.node.get_closest_marker("etcd_args")
    server = EtcdServer(version=etcd_version, **(marker.kwargs if marker else {}))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_cluster(etcd_version):
    """A 3-member cluster of the version for the tests of one module (heavy: mark them
    ``etcd_versions("oldest", "newest")``); a test that changes members puts them back."""
    cluster = EtcdCluster(3, version=etcd_version)
    cluster.start()
    yield cluster
    cluster.stop()


def make_client(server, **kwargs):
    from etcd3 import Client

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a version mismatch warning here is a bug
        return Client(host=server.host, port=server.port, **kwargs)


def pytest_generate_tests(metafunc):
    # tests that take ``client`` run with the sync client and, unless their module
    # says ``pytestmark = pytest.mark.sync_only``, with AioClient (through a facade)
    if "client_kind" in metafunc.fixturenames:
        sync_only = metafunc.definition.get_closest_marker("sync_only") is not None
        metafunc.parametrize("client_kind", ["sync"] if sync_only else ["sync", "aio"], scope="module")


@pytest.fixture
def client(etcd, client_kind):
    """A client of the session server (sync, or AioClient behind a synchronous facade);
    every key and lease is removed afterwards."""
    if client_kind == "aio":
        from aio_facade import close_aio_client, make_aio_client

        c = make_aio_client(etcd)
    else:
        c = make_client(etcd)
    yield c
    c.delete_range(all=True)
    for lease in (c.lease_leases().leases or ()) if "lease_leases" in c.operations else ():
        c.lease_revoke(lease.ID)
    if client_kind == "aio":
        close_aio_client(c)
    else:
        c.close()


@pytest.fixture
def clients(etcd):
    """``clients()`` makes one more sync client of the session server; all closed afterwards."""
    made = []

    def make():
        c = make_client(etcd)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _matrix_order(version: str) -> tuple:
    # "sid" is Debian unstable's 3.5.x, newer than every pinned 3.5
    return (3, 5, 10**6) if version == "sid" else tuple(int(x) for x in version.split(".")[:3])


_BY_AGE = sorted(VERSIONS, key=_matrix_order)
_NAMED = {"oldest": _BY_AGE[0], "newest": _BY_AGE[-1]}


def chosen_versions(names) -> set:
    """The versions of this run that ``names`` select: "oldest", "newest" or a version."""
    return {_NAMED.get(name, name) for name in names}


def pytest_collection_modifyitems(config, items):
    # heavy tests whose behaviour does not differ between versions run on a few of them
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("etcd_versions")
        version = getattr(getattr(item, "callspec", None), "params", {}).get("etcd_version")
        if marker is None or version is None or version in chosen_versions(marker.args):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line("markers", "etcd_args(**kwargs): EtcdServer arguments for fresh_etcd")
    config.addinivalue_line(
        "markers", "etcd_versions(*names): run only on these versions of the run's matrix "
        "('oldest', 'newest' or a version such as '3.5.1')")
    config.addinivalue_line("markers", "sync_only: the module's tests use the sync client only")
