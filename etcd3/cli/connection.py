"""etcdctl's connection flags (``--endpoints``, TLS, ``--user`` ...) and the Client they make.

Used by every verb of ``etcd3`` and by ``etcd3 shell``: ``add_connection_flags(parser)`` adds
the flags, ``client_from_flags(ns)`` builds an ``etcd3.Client`` from the parsed namespace.
Every flag also comes from an ``ETCDCTL_<FLAG>`` environment variable (``ETCDCTL_ENDPOINTS``,
``ETCDCTL_DIAL_TIMEOUT``, ...) when it is not on the command line, as etcdctl does.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Iterable, List, Optional, Tuple

DEFAULT_ENDPOINT = "127.0.0.1:2379"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration (``5s``, ``1m30s``, ``500ms``) in seconds; a bare number is seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise argparse.ArgumentTypeError("invalid duration %r (examples: 5s, 500ms, 1m30s)" % text)
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise argparse.ArgumentTypeError("empty duration")
    return total


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "t", "true", "yes", "on"):
        return True
    if value in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError("invalid boolean %r (true or false)" % text)


# (flag, dest, kind, default, help): kind "str", "duration", "bool" (a flag that also takes =true/=false)
SHORT_FLAGS = {"--discovery-srv": "-d"}
CONNECTION_FLAGS: Tuple[Tuple[str, str, str, Any, str], ...] = (
    ("--endpoints", "endpoints", "str", DEFAULT_ENDPOINT, "gRPC endpoints (comma separated)"),
    ("--dial-timeout", "dial_timeout", "duration", "2s", "dial timeout for client connections"),
    ("--command-timeout", "command_timeout", "duration", "5s",
     "timeout for short running command (excluding dial timeout)"),
    ("--keepalive-time", "keepalive_time", "duration", "2s", "keepalive time for client connections"),
    ("--keepalive-timeout", "keepalive_timeout", "duration", "6s", "keepalive timeout for client connections"),
    ("--cacert", "cacert", "str", "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    ("--cert", "cert", "str", "", "identify secure client using this TLS certificate file"),
    ("--key", "key", "str", "", "identify secure client using this TLS key file"),
    ("--insecure-transport", "insecure_transport", "bool", True,
     "disable transport security for client connections"),
    ("--insecure-skip-tls-verify", "insecure_skip_tls_verify", "bool", False,
     "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    ("--insecure-discovery", "insecure_discovery", "bool", True, "accept insecure SRV records describing cluster endpoints"),
    ("--discovery-srv", "discovery_srv", "str", "", "domain name to query for SRV records describing cluster endpoints"),
    ("--discovery-srv-name", "discovery_srv_name", "str", "", "service name to query when using DNS discovery"),
    ("--user", "user", "str", "", "username[:password] for authentication (prompt if password is not supplied)"),
    ("--password", "password", "str", "",
     "password for authentication (if this option is used, --user option shouldn't include password)"),
    ("--debug", "debug", "bool", False, "enable client-side debug logging (here: tracebacks)"),
)


class ConnectionFlagError(Exception):
    """A connection flag or its environment variable has a bad value (exit code 1, one line)."""


FALSE_SUFFIX = "=<false>"


def add_bool_flag(group: Any, flag: str, dest: str, default: Any, help_text: str, short: str = "") -> None:
    """A pflag-style boolean: ``--flag`` (or its ``short`` form, ``-i``) or ``--flag=true|false``
    (never a separate value, so that ``--debug get`` does not take ``get``); ``bool_flag_argv``
    rewrites ``=false``."""
    group.add_argument(*([short] if short else []), flag, dest=dest, action="store_const", const=True,
                       default=default, help=help_text)
    group.add_argument(flag + FALSE_SUFFIX, dest=dest, action="store_const", const=False, default=default,
                       help=argparse.SUPPRESS)


def bool_flag_argv(argv: List[str], bool_flags: Iterable[str]) -> List[str]:
    """``--flag=false`` -> the hidden false flag, ``--flag=true`` -> ``--flag``; bad values raise."""
    names = set(bool_flags)
    result = []
    for arg in argv:
        if arg == "--":
            result.extend(argv[len(result):])
            break
        name, eq, value = arg.partition("=")
        if eq and name in names:
            try:
                arg = name if parse_bool(value) else name + FALSE_SUFFIX
            except argparse.ArgumentTypeError:
                raise ConnectionFlagError('invalid argument "%s" for "%s" flag: strconv.ParseBool: parsing %s: '
                                          'invalid syntax' % (value, name, go_quote_simple(value))) from None
        result.append(arg)
    return result


def go_quote_simple(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def connection_bool_flags() -> List[str]:
    return [flag for flag, _dest, kind, _default, _help in CONNECTION_FLAGS if kind == "bool"]


def env_name(flag: str) -> str:
    return "ETCDCTL_" + flag.lstrip("-").upper().replace("-", "_")


class JoinEndpoints(argparse.Action):
    """``--endpoints`` given again adds endpoints (pflag's string slice), replacing the default."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        given = getattr(namespace, "_endpoints_given", False)
        current = getattr(namespace, self.dest, None)
        joined = "%s,%s" % (current, values) if given and current else values
        setattr(namespace, self.dest, joined)
        namespace._endpoints_given = True


def add_connection_flags(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """Add etcdctl's connection flags to ``parser``; defaults come from ``ETCDCTL_<FLAG>``
    environment variables (a flag on the command line wins), then etcdctl's defaults.
    ``suppress_defaults``: the flags set nothing unless given (for a subcommand's parser, so
    that global flags may also follow the verb, as etcdctl allows)."""
    group = parser.add_argument_group("connection flags (also from ETCDCTL_<FLAG> environment variables)")
    if suppress_defaults:
        for flag, dest, kind, _default, help_text in CONNECTION_FLAGS:
            if kind == "bool":
                add_bool_flag(group, flag, dest, argparse.SUPPRESS, argparse.SUPPRESS)
            else:
                group.add_argument(*names_of(flag), dest=dest, default=argparse.SUPPRESS,
                                   action=JoinEndpoints if flag == "--endpoints" else "store",
                                   type=parse_duration if kind == "duration" else str, help=argparse.SUPPRESS)
        return
    for flag, dest, kind, default, help_text in CONNECTION_FLAGS:
        env_value = os.environ.get(env_name(flag))
        if kind == "bool":
            value = default
            if env_value is not None and env_value != "":
                try:
                    value = parse_bool(env_value)
                except argparse.ArgumentTypeError:
                    raise ConnectionFlagError("invalid value %r for %s" % (env_value, env_name(flag))) from None
            add_bool_flag(group, flag, dest, value, help_text)
        else:
            text = env_value if env_value else default
            if kind == "duration":
                try:
                    value = parse_duration(text)
                except argparse.ArgumentTypeError as e:
                    raise ConnectionFlagError("%s (from %s)" % (e, env_name(flag))) from None
                group.add_argument(flag, dest=dest, default=value, type=parse_duration, metavar="DURATION",
                                   help="%s (default %s)" % (help_text, default))
            elif flag == "--endpoints":
                group.add_argument(flag, dest=dest, default=text, metavar="ENDPOINTS", action=JoinEndpoints,
                                   help=help_text)
            else:
                group.add_argument(*names_of(flag), dest=dest, default=text, metavar=dest.upper(), help=help_text)


def names_of(flag: str) -> List[str]:
    return [SHORT_FLAGS[flag], flag] if flag in SHORT_FLAGS else [flag]


def endpoint_list(ns: argparse.Namespace) -> List[str]:
    endpoints = [e.strip() for e in (ns.endpoints or DEFAULT_ENDPOINT).split(",") if e.strip()]
    return endpoints or [DEFAULT_ENDPOINT]


def split_endpoint(endpoint: str, tls: bool) -> Tuple[str, str, int]:
    """``http://h:p``, ``https://h:p``, ``h:p`` or ``[::1]:p`` -> (protocol, host, port)."""
    protocol = "https" if tls else "http"
    rest = endpoint
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$", endpoint)
    if m:
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme in ("https", "unixs"):
            protocol = "https"
        elif scheme in ("http", "unix"):
            protocol = "http"
        else:
            raise ConnectionFlagError("unsupported endpoint scheme %r in %r" % (scheme, endpoint))
    rest = rest.rstrip("/")
    host, port = rest, "2379"
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ConnectionFlagError("bad endpoint %r" % endpoint)
        host = rest[1:close]
        if rest[close + 1:].startswith(":"):
            port = rest[close + 2:]
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    try:
        port_number = int(port)
    except ValueError:
        raise ConnectionFlagError("bad port %r in endpoint %r" % (port, endpoint)) from None
    return protocol, host or "127.0.0.1", port_number


def endpoint_url(protocol: str, host: str, port: int) -> str:
    return "%s://%s:%d" % (protocol, "[%s]" % host if ":" in host else host, port)


def user_credentials(ns: argparse.Namespace) -> Tuple[Optional[str], Optional[str]]:
    """(username, password) from ``--user name[:password]`` and ``--password``; prompts for a
    missing password as etcdctl does (once: the clients of each member reuse the answer)."""
    known = getattr(ns, "_credentials", None)
    if known is not None:
        return known
    ns._credentials = credentials = _credentials(ns)
    return credentials


def _credentials(ns: argparse.Namespace) -> Tuple[Optional[str], Optional[str]]:
    user = ns.user or ""
    if not user:
        if ns.password:
            raise ConnectionFlagError("--password given without --user")
        return None, None
    if ns.password:
        if ":" in user:
            raise ConnectionFlagError("--user shouldn't include password when --password is given")
        return user, ns.password
    if ":" in user:
        name, _, password = user.partition(":")
        return name, password
    return user, ask_password("Password: ")


def ask_password(prompt: str) -> str:
    """speakeasy.Ask as etcdctl uses it: the prompt on stdout, a line read from stdin with the
    terminal's echo off (when stdin is one), then a newline on stdout."""
    saved = None
    try:  # the echo off before the prompt shows: what is typed once it shows is never echoed
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
    except Exception:  # termios.error and the like: not a terminal (a pipe, a file), or no termios
        saved = None
    sys.stdout.write(prompt)
    sys.stdout.flush()
    try:
        line = sys.stdin.readline()
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return line.rstrip("\r\n")


def _check_file(path: str, what: str) -> None:
    if path and not os.path.isfile(path):
        raise ConnectionFlagError("%s: open %s: no such file or directory" % (what, path))


def check_tls_files(ns: argparse.Namespace, https: bool) -> None:
    """Load the TLS files once before connecting, so that a bad one is named in the error
    (etcdctl: a bad certificate or key is a bad argument, exit code 128)."""
    if not (ns.cert or ns.cacert):
        return
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ns.cert:
        try:
            context.load_cert_chain(ns.cert, ns.key)
        except (ssl.SSLError, OSError) as e:
            raise ConnectionFlagError("cannot load the client certificate %s with key %s: %s"
                                      % (ns.cert, ns.key, e)) from None
    if ns.cacert and https:  # an http:// endpoint ignores --cacert, as etcdctl's does
        try:
            context.load_verify_locations(ns.cacert)
        except (ssl.SSLError, OSError) as e:
            raise CACertError("cannot load the CA bundle %s: %s" % (ns.cacert, e)) from None


class CACertError(Exception):
    """--cacert holds no certificate (etcdctl fails later, exit code 1)."""


def client_from_flags(ns: argparse.Namespace, endpoint: Optional[str] = None,
                      server_version: Optional[str] = None) -> Any:
    """An ``etcd3.Client`` for the endpoints of ``--endpoints`` (several: one client for the
    cluster, ``Client(endpoints=...)``, moving to the next member when one fails, as
    etcdctl's balancer does) or for ``endpoint`` alone, with the TLS files, credentials and
    ``--command-timeout`` of ``ns``.  The server's version is asked first so that the client
    speaks its API (``server_version``: the one to assume when it cannot be asked, such as the
    version another member gave); an unreachable server raises the client's connection error
    (``etcd3.errors.Etcd3TransportError``) at its first call."""
    _check_file(ns.cacert, "--cacert")
    _check_file(ns.cert, "--cert")
    _check_file(ns.key, "--key")
    if bool(ns.cert) != bool(ns.key):
        raise ConnectionFlagError("--cert and --key must be given together")
    tls = bool(ns.cacert or ns.cert or ns.insecure_skip_tls_verify or not ns.insecure_transport)
    members = [split_endpoint(e, tls) for e in ([endpoint] if endpoint else endpoint_list(ns))]
    protocol, host, port = members[0]
    check_tls_files(ns, any(m[0] == "https" for m in members))
    verify: Any = None
    if protocol == "https":
        verify = False if ns.insecure_skip_tls_verify else (ns.cacert or True)
    username, password = user_credentials(ns)
    import warnings

    client_class = command_client_class()  # (importing etcd3 sets its warning filter: before ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # --insecure-skip-tls-verify asked for it: no warning line
        client = client_class(host=host, port=port, protocol=protocol,
                              cert=(ns.cert, ns.key) if ns.cert else (), verify=verify,
                              timeout=ns.dial_timeout + ns.command_timeout,
                              username=username, password=password,
                              **({"server_version": server_version} if server_version else {}),
                              endpoints=[endpoint_url(*m) for m in members] if len(members) > 1 else None)
    if username:
        authenticate(client)
    return client


_COMMAND_CLIENT: Any = None


def command_client_class() -> Any:
    """``etcd3.Client`` with etcdctl's timeouts: ``--dial-timeout`` + ``--command-timeout``
    bound each unary call and the opening of a stream (every member of a cluster tried),
    while an open stream (watch, snapshot, observe; in the shell too) waits through silence
    for as long as it takes.  (A plain Client's timeout also bounds each wait of its
    streams, as 0.1.6's did.)  Made on first use: importing the client is left to the verbs
    that connect."""
    global _COMMAND_CLIENT
    if _COMMAND_CLIENT is None:
        from etcd3.client import Client, ModelizedStreamResponse

        class PatientStream(ModelizedStreamResponse):
            """A stream whose reads have no timeout once its answer has begun."""

            def __init__(self, client: Any, method: Any, resp: Any, decode: bool = True) -> None:
                super().__init__(client, method, resp, decode)
                connection = getattr(self.raw, "connection", None)  # urllib3's, with the socket
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    sock.settimeout(None)

        class CommandClient(Client):
            __doc__ = command_client_class.__doc__
            _stream_class = PatientStream

        _COMMAND_CLIENT = CommandClient
    return _COMMAND_CLIENT


class AuthenticationFailed(Exception):
    """The credentials were refused (etcdctl: exit code 2, as for a client it cannot make)."""


def authenticate(client: Any) -> None:
    from etcd3 import errors

    try:
        client.auth()
    except errors.ErrAuthNotEnabled:
        pass  # etcdctl goes on without a token too
    except errors.Etcd3APIError as e:
        raise AuthenticationFailed(e.message or e.error) from None
