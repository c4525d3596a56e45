"""``etcd3``: etcdctl v3.5's command line on the Python client (``etcd3 [flags] VERB ...``).

Exit codes are etcdctl's: 0 success, 1 error, 2 bad connection, 3 invalid input, 4 bad
feature, 5 interrupted, 6 I/O error, 128 bad arguments.  Errors are one ``Error: ...`` line
on stderr; ``--debug`` adds the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, List, Optional

from .connection import (AuthenticationFailed, CACertError, ConnectionFlagError, add_connection_flags,
                         bool_flag_argv, connection_bool_flags, env_name)

EXIT_SUCCESS = 0
EXIT_ERROR = 1
EXIT_BAD_CONNECTION = 2
EXIT_INVALID_INPUT = 3
EXIT_BAD_FEATURE = 4
EXIT_INTERRUPTED = 5
EXIT_IO = 6
EXIT_BAD_ARGS = 128

PROG = "etcd3"


class CliError(Exception):
    """An error the command reports in one line with etcdctl's exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def bad_args(message: str) -> CliError:
    return CliError(EXIT_BAD_ARGS, message)


class Parser(argparse.ArgumentParser):
    """argparse, failing as cobra does: ``Error: ...`` and the usage, exit code 1."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        if "invalid choice" in message and "argument VERB" in message:
            verb = message.split("invalid choice: ", 1)[1].split(" (choose", 1)[0].strip("'")
            sys.stderr.write('Error: unknown command "%s" for "%s"\nRun \'%s --help\' for usage.\n'
                             % (verb, PROG, PROG))
        elif message.startswith("unrecognized arguments: "):
            sys.stderr.write("Error: unknown flag: %s\n" % message.split(": ", 1)[1])
            self.print_usage(sys.stdout)  # etcdctl writes the usage to stdout
        else:
            sys.stderr.write("Error: %s\n" % message)
            self.print_usage(sys.stderr)
        sys.exit(EXIT_ERROR)


# verb name -> (module, its register function name): imported only when needed
VERB_MODULES = {
    "get": "kv", "put": "kv", "del": "kv", "txn": "kv", "compaction": "kv",
    "watch": "watch", "lease": "lease", "lock": "concurrency", "elect": "concurrency",
    "member": "cluster", "endpoint": "cluster", "alarm": "cluster", "defrag": "cluster",
    "snapshot": "cluster", "move-leader": "cluster",
    "auth": "auth", "user": "auth", "role": "auth",
    "version": None, "shell": None, "spec": None,
}

VERB_HELP = {
    "get": "Gets the key or a range of keys", "put": "Puts the given key into the store",
    "del": "Removes the specified key or range of keys [key, range_end)",
    "txn": "Txn processes all the requests in one transaction", "compaction": "Compacts the event history in etcd",
    "watch": "Watches events stream on keys or prefixes", "lease": "Lease related commands",
    "lock": "Acquires a named lock", "elect": "Observes and participates in leader election",
    "member": "Membership related commands", "endpoint": "Endpoint related commands",
    "alarm": "Alarm related commands", "defrag": "Defragments the storage of the etcd members",
    "snapshot": "Manages etcd node snapshots", "move-leader": "Transfers leadership to another etcd cluster member.",
    "auth": "Enable or disable authentication", "user": "User related commands", "role": "Role related commands",
    "version": "Prints the version of etcd3", "shell": "An interactive Python shell connected to etcd",
    "spec": "Shows the bundled etcd API specs (no server needed)",
}


def global_parent(suppress: bool) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_connection_flags(parent, suppress_defaults=suppress)
    env_out = os.environ.get(env_name("--write-out")) or "simple"
    parent.add_argument("-w", "--write-out", dest="write_out", default=argparse.SUPPRESS if suppress else env_out,
                        help="set the output format (fields, json, protobuf, simple, table)")
    env_hex = os.environ.get(env_name("--hex"), "").lower() in ("1", "t", "true")
    from .connection import add_bool_flag

    add_bool_flag(parent, "--hex", "hex", argparse.SUPPRESS if suppress else env_hex,
                  "print byte strings as hex encoded strings")
    return parent


def build_parser(verb: Optional[str]) -> Parser:
    """The parser; only ``verb``'s module is imported (all of them for ``--help``)."""
    parser = Parser(prog=PROG, description="A simple command line client for etcd3 (etcdctl's verbs).",
                    parents=[global_parent(False)])
    sub_parent = global_parent(True)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    subparsers.required = True
    for name, module_name in VERB_MODULES.items():
        if verb is not None and name != verb or module_name is not None and not verb_available(module_name):
            subparsers.add_parser(name, help=VERB_HELP[name], add_help=False)
            continue
        sub = subparsers.add_parser(name, help=VERB_HELP[name], description=VERB_HELP[name],
                                    parents=[sub_parent])
        if module_name is None:
            register_builtin(name, sub)
        else:
            module = __import__("etcd3.cli." + module_name, fromlist=["register"])
            module.register(name, sub)
    return parser


def verb_available(module_name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec("etcd3.cli." + module_name) is not None


def register_builtin(name: str, sub: argparse.ArgumentParser) -> None:
    if name == "version":
        sub.set_defaults(func=cmd_version, needs_client=False)
    elif name == "shell":
        sub.set_defaults(func=cmd_shell, needs_client=True)
    elif name == "spec":
        sub.add_argument("spec_args", nargs=argparse.REMAINDER)
        sub.set_defaults(func=cmd_spec, needs_client=False)


def cmd_version(ns: argparse.Namespace) -> int:
    from etcd3 import __version__

    print("etcd3 version: %s" % __version__)
    print("API version: 3.5")
    return EXIT_SUCCESS


def cmd_shell(ns: argparse.Namespace, client: Any) -> int:
    try:
        from etcd3.cli import shell  # type: ignore[attr-defined]
    except ImportError as e:
        if getattr(e, "name", "") != "etcd3.cli.shell":
            raise
        raise CliError(EXIT_ERROR, "etcd3 shell is not available in this build (etcd3/cli/shell.py is missing)")
    return int(shell.run(client) or 0)


def cmd_spec(ns: argparse.Namespace) -> int:
    try:
        from etcd3.cli import spec_cmd  # type: ignore[attr-defined]
    except ImportError as e:
        if getattr(e, "name", "") != "etcd3.cli.spec_cmd":
            raise
        raise CliError(EXIT_ERROR, "etcd3 spec is not available in this build (etcd3/cli/spec_cmd.py is missing)")
    return int(spec_cmd.main(list(ns.spec_args)) or 0)


def find_verb(argv: List[str]) -> Optional[str]:
    for arg in argv:
        if arg in VERB_MODULES:
            return arg
        if arg in ("-h", "--help"):
            return None
    return None


def error_line(error: BaseException) -> str:
    from etcd3 import errors

    if isinstance(error, errors.Etcd3APIError):
        return error.message or error.error or type(error).__name__
    if isinstance(error, errors.UnsupportedOperation):
        return str(error)
    return str(error) or type(error).__name__


def exit_code_for(error: BaseException) -> int:
    from etcd3 import errors

    if isinstance(error, errors.Etcd3APIError):
        return EXIT_ERROR
    if isinstance(error, errors.Etcd3TransportError):
        return EXIT_ERROR  # etcdctl 3.5: "context deadline exceeded", exit code 1
    return EXIT_ERROR


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(env_name("--debug"), "").lower() in ("1", "t", "true")
    try:
        return run(argv)
    except CliError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write("Error: %s\n" % e)
        return e.code
    except CACertError as e:
        sys.stderr.write("Error: %s\n" % e)
        return EXIT_ERROR
    except AuthenticationFailed as e:
        sys.stderr.write("Error: %s\n" % e)
        return EXIT_BAD_CONNECTION
    except ConnectionFlagError as e:
        sys.stderr.write("Error: %s\n" % e)
        return EXIT_BAD_ARGS
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_IO
    except Exception as e:  # one line naming the problem; the traceback with --debug
        from etcd3 import errors

        if not isinstance(e, (errors.Etcd3Exception, OSError, ValueError)) or debug:
            if debug or not isinstance(e, errors.Etcd3Exception):
                import traceback

                traceback.print_exc()
        sys.stderr.write("Error: %s\n" % error_line(e))
        return exit_code_for(e)


def run(argv: List[str]) -> int:
    argv = bool_flag_argv(argv, connection_bool_flags() + ["--hex"] + VERB_BOOL_FLAGS)
    verb = find_verb(argv)
    if not argv:  # etcdctl with nothing to do prints its help and succeeds
        build_parser(None).print_help()
        return EXIT_SUCCESS
    exec_command: List[str] = []
    if verb in ("watch", "lock") and "--" in argv:  # the command to run, kept out of argparse's way
        cut = argv.index("--")
        argv, exec_command = argv[:cut], argv[cut + 1:]
    parser = build_parser(verb)
    ns = parser.parse_args(argv)
    ns.exec_command = exec_command
    if not hasattr(ns, "func"):
        raise CliError(EXIT_ERROR, "%s: not implemented in this version of etcd3" % ns.verb)
    if not getattr(ns, "needs_client", True) and hasattr(ns, "func"):
        return int(ns.func(ns) or 0)
    from .printers import OutputError, Printer

    try:
        ns.printer = Printer(ns.write_out, ns.hex)
    except OutputError as e:
        raise CliError(EXIT_BAD_FEATURE, str(e))
    check = getattr(ns, "check", None)
    if check is not None:
        check(ns)  # argument errors before connecting, as etcdctl
    from .connection import client_from_flags

    client = client_from_flags(ns)
    try:
        try:
            return int(ns.func(ns, client) or 0)
        except OutputError as e:
            raise CliError(EXIT_BAD_FEATURE, str(e))
    finally:
        try:
            client.close()
        except Exception:
            pass


# boolean flags of the verbs (``--prefix=false`` forms)
VERB_BOOL_FLAGS = ["--prefix", "--from-key", "--keys-only", "--count-only", "--print-value-only", "--prev-kv",
                   "--ignore-value", "--ignore-lease", "--physical", "--progress-notify", "--interactive",
                   "--keys", "--cluster", "--learner"]


if __name__ == "__main__":
    sys.exit(main())
