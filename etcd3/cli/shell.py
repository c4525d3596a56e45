"""``etcd3 shell``: an interactive Python session on a connected client.

``run(client)`` opens IPython when it is installed (``ETCD3_SHELL=python`` asks for the
standard library's console instead), else ``code.InteractiveConsole`` with readline.
The namespace holds ``client`` (also ``c``), the stateful helpers, ``models``,
``errors`` and the exception classes.  Tab completes the RPC methods of the connected
server's spec (``c.pu<TAB>`` -> ``c.put(``) and, inside a call, their keyword arguments
(``c.put(k<TAB>`` -> ``key=``).  Models print as indented trees, bytes as text when
they are UTF-8.  History is kept in ``$XDG_STATE_HOME/etcd3/history`` (else
``~/.local/state/etcd3/history``).
"""
from __future__ import annotations

import builtins
import inspect
import os
import pprint
import re
import rlcompleter
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import etcd3
from etcd3 import errors, models
from etcd3.baseclient import BaseClient
from etcd3.models import EtcdMessage

__all__ = ["run", "namespace", "banner", "format_value", "history_path", "ShellCompleter"]

HISTORY_LENGTH = 10000
# a nested message whose fields fit on one line this long prints inline (``header: revision=5 ...``)
INLINE_WIDTH = 100


def history_path() -> Path:
    """``$XDG_STATE_HOME/etcd3/history``, else ``~/.local/state/etcd3/history``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "etcd3" / "history"


def namespace(client: BaseClient) -> Dict[str, Any]:
    """The names of the session: the client, the helpers, models and errors."""
    ns: Dict[str, Any] = {"__name__": "__console__", "__doc__": None, "client": client, "c": client,
                          "etcd3": etcd3, "models": models, "errors": errors,
                          "EtcdModel": models.EtcdModel, "EventType": etcd3.EventType}
    for name in ("Txn", "Lease", "Lock", "FairLock", "Watcher", "Election",
                 "EtcdLockError", "EtcdLockAcquireTimeout"):
        ns[name] = getattr(etcd3, name)
    for name in errors.__all__:
        value = getattr(errors, name, None)
        if isinstance(value, type) and issubclass(value, BaseException):
            ns[name] = value
    return ns


def banner(client: BaseClient) -> str:
    """Who the shell talks to: endpoint, server and cluster version, the spec in use
    (asks the server its version: ``Etcd3TransportError`` when it cannot be reached)."""
    spec = client.spec
    info = client.version()
    server = "etcd %s (cluster %s)" % (info.etcdserver, info.etcdcluster)
    return ("etcd3 %s shell: %s, %s, spec %s (etcd %s API, gateway %s)\n"
            "client (also c) is connected; Txn, Lease, Lock, FairLock, Watcher, Election, models and errors "
            "are here.\nc.<TAB> lists the RPCs, help(c.put) documents one; Ctrl-D leaves."
            % (etcd3.__version__, client.baseurl, server, spec.version, spec.etcd_version, spec.prefix))


# -- pretty printing -----------------------------------------------------------------------

_NO_DEFAULT = object()


def _shown_fields(message: EtcdMessage) -> List[tuple]:
    """The fields that differ from their defaults (as the repr shows them)."""
    cls = type(message)
    shown = []
    for name, value in message._items():
        default = cls.__dict__.get(name, _NO_DEFAULT) if name in cls._field_set else _NO_DEFAULT
        is_enum = isinstance(value, models.EtcdModel) and not isinstance(value, EtcdMessage)
        # an enum always shows: a watch event's PUT is its first (default) member
        if not is_enum and (value is default or (default is not _NO_DEFAULT and value == default)):
            continue
        shown.append((name, value))
    return shown


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return repr(value.decode("utf-8"))
        except UnicodeDecodeError:
            return repr(value)
    if isinstance(value, models.EtcdModel) and hasattr(value, "name"):  # an enum member
        return value.name
    return repr(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (EtcdMessage, list, tuple, dict))


def _inline(message: EtcdMessage) -> Optional[str]:
    fields = _shown_fields(message)
    if not all(_is_scalar(v) for _, v in fields):
        return None
    text = " ".join("%s=%s" % (name, _scalar(v)) for name, v in fields)
    return text if len(text) <= INLINE_WIDTH else None


def _lines(value: Any, indent: str) -> List[str]:
    """The tree lines of a message's fields (each starting with ``indent``)."""
    lines = []
    for name, field in _shown_fields(value):
        lines.extend(_field_lines(name, field, indent))
    return lines


def _field_lines(name: str, value: Any, indent: str) -> List[str]:
    if isinstance(value, EtcdMessage):
        inline = _inline(value)
        if inline is not None:
            return ["%s%s: %s" % (indent, name, inline or "(empty)")]
        return ["%s%s:" % (indent, name)] + _lines(value, indent + "  ")
    if isinstance(value, (list, tuple)):
        if all(_is_scalar(v) for v in value):
            return ["%s%s: [%s]" % (indent, name, ", ".join(_scalar(v) for v in value))]
        return ["%s%s:" % (indent, name)] + _list_lines(value, indent + "  ")
    return ["%s%s: %s" % (indent, name, _scalar(value))]


def _list_lines(items: Any, indent: str) -> List[str]:
    lines = []
    for item in items:
        if isinstance(item, EtcdMessage):
            body = _lines(item, indent + "  ") or [indent + "  (empty)"]
            lines.append(indent + "- " + body[0][len(indent) + 2:])
            lines.extend(body[1:])
        else:
            lines.append(indent + "- " + _scalar(item))
    return lines


def format_value(value: Any) -> str:
    """A result as the shell prints it: a model as a tree of its non-default fields
    (bytes as text when they are UTF-8), a list of models as items, else pprint's text."""
    if isinstance(value, EtcdMessage):
        body = _lines(value, "  ")
        return type(value).__name__ + ("" if body else "()") + "".join("\n" + line for line in body)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, EtcdMessage) for v in value):
        return "\n".join(_list_lines(value, ""))
    return pprint.pformat(value)


def displayhook(value: Any) -> None:
    """``sys.displayhook`` of the console: ``format_value`` instead of ``repr``."""
    if value is None:
        return
    builtins._ = None  # type: ignore[attr-defined]  # as the default hook: not while printing
    sys.stdout.write(format_value(value) + "\n")
    builtins._ = value  # type: ignore[attr-defined]


# -- completion ----------------------------------------------------------------------------

_CALLEE = re.compile(r"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*$")


def _open_call(text: str) -> Optional[tuple]:
    """(the callee's dotted name, the arguments typed so far) of the innermost call left
    open in ``text`` (``'x = c.put("a", '`` -> ``('c.put', '"a", ')``), or None."""
    stack: List[int] = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(i)
        elif ch in ")]}" and stack:
            stack.pop()
        i += 1
    if quote or not stack or text[stack[-1]] != "(":
        return None
    at = stack[-1]
    m = _CALLEE.search(text[:at])
    return (m.group(1), text[at + 1:]) if m else None


class ShellCompleter(rlcompleter.Completer):
    """rlcompleter, plus the RPCs of the connected server's spec on a client and the
    keyword arguments of the call being typed.  Names are resolved by attribute lookup
    only: completing never calls anything."""

    def __init__(self, ns: Dict[str, Any], line_buffer: Optional[Callable[[], str]] = None) -> None:
        super().__init__(ns)
        self.ns = ns
        # () -> the line up to the word being completed (readline's buffer, or a test's)
        self.line_before = line_buffer or _readline_line_before

    def complete(self, text: str, state: int) -> Optional[str]:
        if state == 0:
            self.matches = self.matches_for(text, self.line_before())
        try:
            return self.matches[state]
        except IndexError:
            return None

    def matches_for(self, text: str, before: str) -> List[str]:
        """Every completion of the word ``text`` typed after ``before``."""
        keywords = self._keyword_matches(text, before) if text.isidentifier() or not text else []
        if not text:
            return keywords or (["\t"] if not before.strip() else [])
        if "." in text:
            return keywords + self._attribute_matches(text)
        return keywords + [m for m in self.global_matches(text) if m not in keywords]

    def _resolve(self, dotted: str) -> Any:
        parts = dotted.split(".")
        if parts[0] in self.ns:
            obj = self.ns[parts[0]]
        elif hasattr(builtins, parts[0]):
            obj = getattr(builtins, parts[0])
        else:
            raise LookupError(dotted)
        for part in parts[1:]:
            obj = inspect.getattr_static(obj, part) if isinstance(obj, type) else getattr(obj, part)
        return obj

    def _attribute_matches(self, text: str) -> List[str]:
        expr, _, attr = text.rpartition(".")
        if not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", expr):
            return self.attr_matches(text)
        try:
            obj = self._resolve(expr)
        except Exception:
            return []
        if not isinstance(obj, BaseClient):
            return self.attr_matches(text)
        operations = obj.operations
        names = set(operations) | {n for n in dir(obj) if not n.startswith("_")}
        if attr.startswith("_"):
            names |= {n for n in dir(obj) if n.startswith("_")}
        matches = []
        for name in sorted(names):
            if not name.startswith(attr):
                continue
            if name in operations:
                matches.append("%s.%s(" % (expr, name))
                continue
            try:
                static = inspect.getattr_static(obj, name)
            except AttributeError:
                continue
            callable_ = isinstance(static, (staticmethod, classmethod)) or inspect.isfunction(static)
            matches.append("%s.%s%s" % (expr, name, "(" if callable_ else ""))
        return matches

    def _keyword_matches(self, text: str, before: str) -> List[str]:
        call = _open_call(before)
        if call is None:
            return []
        callee, arguments = call
        try:
            signature = inspect.signature(self._resolve(callee))
        except Exception:
            return []
        given = set(re.findall(r"\b([A-Za-z_]\w*)\s*=(?!=)", arguments))
        return ["%s=" % p.name for p in signature.parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
                and not p.name.startswith("_") and p.name.startswith(text) and p.name not in given]


def _readline_line_before() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()[:readline.get_begidx()]


# -- the consoles --------------------------------------------------------------------------

def _run_ipython(client: BaseClient, ns: Dict[str, Any], text: str) -> int:
    from IPython.terminal.embed import InteractiveShellEmbed
    from traitlets.config import Config

    history = history_path()
    history.parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.HistoryManager.hist_file = str(history.with_name("ipython-history.sqlite"))
    shell = InteractiveShellEmbed(config=config, banner1=text + "\n", user_ns=ns, exit_msg="")
    plain = shell.display_formatter.formatters["text/plain"]
    plain.for_type(EtcdMessage, lambda value, printer, cycle: printer.text(format_value(value)))
    _add_ipython_matcher(shell, ns)
    shell()
    return 0


def _add_ipython_matcher(shell: Any, ns: Dict[str, Any]) -> None:
    """Our RPC and keyword matches in IPython's completer too (its own cannot see the
    keyword arguments of the spec's methods)."""
    ipython_completer = shell.Completer
    ours = ShellCompleter(ns, line_buffer=lambda: "")

    def spec_matches(text: str) -> List[str]:
        line = getattr(ipython_completer, "text_until_cursor", "") or ""
        before = line[:len(line) - len(text)] if text and line.endswith(text) else line
        return [m for m in ours.matches_for(text, before) if m != "\t"]

    ipython_completer.custom_matchers.append(spec_matches)


def _run_console(client: BaseClient, ns: Dict[str, Any], text: str) -> int:
    import code

    try:
        import readline
    except ImportError:  # no readline (Windows): a console without completion or history
        readline = None  # type: ignore[assignment]
    history = history_path()
    if readline is not None:
        completer = ShellCompleter(ns)
        readline.set_completer(completer.complete)
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(str(history))
        except OSError:  # none yet (or unreadable: the session starts without)
            pass
        loaded = readline.get_current_history_length()
    saved_hook = sys.displayhook
    sys.displayhook = displayhook
    try:
        code.InteractiveConsole(ns, filename="<etcd3 shell>").interact(banner=text, exitmsg="")
        status = 0
    except SystemExit as e:  # exit() / quit()
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.displayhook = saved_hook
        if readline is not None:
            try:
                # append this session's lines, so that shells open side by side all keep theirs
                history.parent.mkdir(parents=True, exist_ok=True)
                history.touch()
                readline.append_history_file(readline.get_current_history_length() - loaded, str(history))
                if readline.get_current_history_length() > HISTORY_LENGTH:
                    readline.write_history_file(str(history))  # keeps the last HISTORY_LENGTH lines
            except OSError as e:
                sys.stderr.write("etcd3 shell: history not saved to %s: %s\n" % (history, e))
    return status


def run(client: BaseClient) -> int:
    """The interactive session on ``client``; its exit status (0 on Ctrl-D)."""
    ns = namespace(client)
    try:
        text = banner(client)
    except errors.Etcd3Exception as e:  # no server there: one line, etcdctl's status for it
        sys.stderr.write("etcd3 shell: %s\n" % e)
        return 1
    wanted = os.environ.get("ETCD3_SHELL", "").strip().lower()
    if wanted not in ("", "ipython", "python"):
        sys.stderr.write("etcd3 shell: ETCD3_SHELL must be 'ipython' or 'python', not %r\n" % wanted)
        return 2
    if wanted != "python":
        try:
            import IPython  # noqa: F401
        except ImportError:
            if wanted == "ipython":
                sys.stderr.write("etcd3 shell: ETCD3_SHELL=ipython but IPython is not installed\n")
                return 2
        else:
            return _run_ipython(client, ns, text)
    return _run_console(client, ns, text)


def _main(argv: Optional[List[str]] = None) -> int:
    """``python -m etcd3.cli.shell [connection flags]``, the same as ``etcd3 [flags] shell``."""
    import argparse

    from .connection import ConnectionFlagError, add_connection_flags, client_from_flags

    parser = argparse.ArgumentParser(prog="etcd3 shell", description="An interactive session on a client.")
    try:
        add_connection_flags(parser)
        ns = parser.parse_args(argv)
        client = client_from_flags(ns)
    except (ConnectionFlagError, errors.Etcd3Exception) as e:
        sys.stderr.write("etcd3 shell: %s\n" % e)
        return 1
    with client:
        return run(client)


if __name__ == "__main__":
    sys.exit(_main())
