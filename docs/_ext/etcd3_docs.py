"""Sphinx extension: the documentation pages that are data, written at build time.

From ``specs/`` (through the library's own ``etcd3.spec``, the tables the clients
dispatch on): one page per bundled etcd version with every RPC method, its signature,
parameters and descriptions (the text ``help(client.range)`` shows), and the version
matrix (RPC x version, gateway prefixes, what changed between neighbours: the data of
``etcd3 spec diff``).  From the code: the CLI reference (every verb and flag, read from
the argparse parser of ``etcd3.cli.main``), the pytest plugin's fixtures, options and
ini keys, and the table of error classes.

The pages go to ``docs/_generated/`` (ignored by git); a page is rewritten only when its
text changed, so an unchanged build stays incremental.  ``generate(directory)`` is the
whole generator; the tests call it without Sphinx.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

GENERATED = "_generated"


# -- reStructuredText helpers ----------------------------------------------------------

_RST_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")


def escape(text: str) -> str:
    """Text (spec descriptions, help strings) as literal reST: no markup, one line."""
    return _RST_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def heading(text: str, char: str, over: bool = False) -> List[str]:
    line = char * max(len(text), 3)
    return ([line] if over else []) + [text, line, ""]


def list_table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Optional[str] = None) -> List[str]:
    out = [".. list-table::", "   :header-rows: 1"]
    if widths:
        out.append("   :widths: %s" % widths)
    out.append("")
    for row in [header] + list(rows):
        for i, cell in enumerate(row):
            out.append("   %s %s" % ("* -" if i == 0 else "  -", cell if cell != "" else "\\ "))
    return out + [""]


# -- the per-version API pages -----------------------------------------------------------

def version_doc(version: str) -> str:
    """The document name of a spec version's page (``versions/v3.5``)."""
    return "versions/v%s" % version


def rpc_label(version: str, method: str) -> str:
    return "spec-%s-%s" % (version, method.replace("_", "-"))


def service_of(op: Any) -> str:
    """The gateway's group of an operation: ``kv``, ``lease``, ``maintenance``, ..."""
    return op.path[len(op.bundle.prefix):].strip("/").split("/")[0]


def _default_text(value: Any) -> str:
    name = getattr(value, "name", None)
    if name is not None and type(value).__name__ != "str":
        return "%s.%s" % (type(value).__name__, name)  # an enum member: RangeRequestSortOrder.NONE
    return repr(value)


def signature_text(op: Any) -> str:
    """The method's signature as Python writes it (enum defaults by name, no self)."""
    parts: List[str] = []
    star_done = False
    for param in op.signature.parameters.values():
        if param.name == "self":
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            parts.append("**" + param.name)
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            parts.append("*" + param.name)
            star_done = True
            continue
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        text = param.name
        if param.default is not inspect.Parameter.empty:
            text += "=" + _default_text(param.default)
        parts.append(text)
    return "%s(%s)" % (op.name, ", ".join(parts))


def parameters(op: Any) -> List[Tuple[str, str]]:
    """(name, text) of each parameter, the lines of the method's docstring (``op.doc``)."""
    result = []
    for param in op.signature.parameters.values():
        if param.name == "self":
            continue
        text = op._param_doc(param)
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            name = "**" + param.name
            text = text.split(":", 1)[1].strip() if ":" in text else text
        else:
            name = param.name
            text = text[len(param.name):].strip() if text.startswith(param.name) else text
        result.append((name, text))
    return result


def route_notes(op: Any, aliases_only: bool = False) -> List[str]:
    """What is special about how the gateway serves an operation of this version
    (``aliases_only``: only the other paths it is bound at, which are no quirk)."""
    notes: List[str] = []
    if aliases_only:
        return ["also bound at %s" % ", ".join(op.extra_paths)] if op.extra_paths else []
    if op.min_version:
        notes.append("served by etcd %s and newer (the gateway route came in a patch release; "
                     "older servers answer 404)" % op.min_version)
    if op._request_ref:
        notes.append("the gateway serves %s at %s on etcd %s (the spec names another RPC there)"
                     % (op.rpc, op.path, op.bundle.etcd_version))
    if op.extra_paths:
        notes.append("also bound at %s" % ", ".join(op.extra_paths))
    return notes


def version_page(version: str) -> str:
    from etcd3.spec import bundled_versions, load_bundle

    bundle = load_bundle(version)
    ops = bundle.operations
    versions = bundled_versions()
    lines = [".. _spec-%s:" % version, ""]
    lines += heading("etcd %s API (spec %s)" % (version, version), "=")
    lines += [
        "Generated from the bundled spec ``specs/v%s/`` (etcd %s's swagger documents) when the "
        "documentation was built." % (version, bundle.etcd_version),
        "",
        "* etcd release the spec was generated from: **%s**" % bundle.etcd_version,
        "* gateway prefix: ``%s``" % bundle.prefix,
        "* RPC methods: **%d**" % len(ops),
        "",
        _selection_text(version, versions),
        "",
        "Each method below is a method of :class:`etcd3.Client` and :class:`etcd3.AioClient` "
        "(where it returns an awaitable) connected to such a server; its text is the method's "
        "docstring, what ``help(client.%s)`` prints.  The :doc:`matrix` shows which versions "
        "have each RPC." % ("range" if "range" in ops else next(iter(ops))),
        "",
    ]
    groups: Dict[str, List[Any]] = {}
    for op in ops.values():
        groups.setdefault(service_of(op), []).append(op)
    for group in sorted(groups):
        lines += heading("%s (``%s/%s``)" % (group, bundle.prefix, group), "-")
        for op in groups[group]:
            lines += _operation_rst(version, op)
    return "\n".join(lines) + "\n"


def _selection_text(version: str, versions: List[str]) -> str:
    later = versions[versions.index(version) + 1:] if version in versions else []
    if later:
        return ("The client uses this spec for etcd %s.x servers." % version)
    return ("The client uses this spec for etcd %s.x servers and, with a warning, for newer ones "
            "(the nearest lower bundled spec serves a server without a spec of its own)." % version)


def _operation_rst(version: str, op: Any) -> List[str]:
    from etcd3.spec import bundled_versions, load_bundle

    summary = op.doc.split("\n\n", 1)[0]
    lines = [".. _%s:" % rpc_label(version, op.name), ""]
    lines += heading(op.name, "~")
    lines += [".. py:method:: %s" % signature_text(op), "   :no-index:", ""]
    lines += ["   %s" % escape(summary), ""]
    lines += ["   RPC ``%s``: ``%s %s``%s" % (op.rpc, op.http_method, op.path,
                                               " (a streaming response)" if op.streaming else ""), ""]
    first = next(v for v in bundled_versions() if op.name in load_bundle(v).operations)
    if first != bundled_versions()[0]:
        lines += ["   New in etcd %s (the first bundled spec that has it; see the :doc:`matrix`)." % first, ""]
    for note in route_notes(op):
        lines += ["   .. note:: %s" % escape(note), ""]
    params = parameters(op)
    for name, text in params:
        lines.append("   :param %s: %s" % (escape(name), escape(text) if text else "\\ "))
    returns = "%s%s" % ("an iterator of " if op.streaming else "", op.response.getModel().__name__)
    fields = response_fields(op)
    lines.append("   :returns: %s%s" % (escape(returns), ", with the fields:" if fields else ""))
    if fields:
        lines.append("")
        for name, text in fields:
            lines.append("      * ``%s`` %s" % (name, escape(text)))
    return lines + [""]


def response_fields(op: Any) -> List[Tuple[str, str]]:
    """(field, "(type): description") of the response message's top-level fields."""
    from etcd3.spec import _type_name

    result = []
    for name, schema in op.response._node.get("properties", {}).items():
        description = " ".join((schema.get("description") or schema.get("title") or "").split())
        text = "(%s)" % _type_name(op.document, schema)
        result.append((name, text + (": " + description if description else "")))
    return result


# -- the matrix page -------------------------------------------------------------------

def matrix_page() -> str:
    from etcd3.cli.spec_cmd import spec_diff
    from etcd3.spec import bundled_versions, load_bundle

    versions = bundled_versions()
    bundles = [load_bundle(v) for v in versions]
    lines = [".. _spec-matrix:", ""]
    lines += heading("Version matrix", "=")
    lines += ["Generated from ``specs/`` at build time: which bundled etcd version has which RPC, the "
              "gateway prefix of each, and what changed from one version to the next (what "
              "``etcd3 spec diff OLD NEW`` prints).", ""]
    lines += heading("Bundled versions", "-")
    lines += list_table(
        ["spec", "etcd release", "gateway prefix", "RPC methods", "page"],
        [[b.version, b.etcd_version, "``%s``" % b.prefix, str(len(b.operations)),
          ":doc:`v%s`" % b.version] for b in bundles])
    lines += heading("RPC methods per version", "-")
    lines += ["**yes**: the method exists (links to its entry); **—**: absent; **quirk**: "
              "present, served differently than its spec says; a number: see the note of that "
              "number below the table.", ""]
    names: Dict[str, Tuple[str, str]] = {}
    for b in reversed(bundles):  # grouped by the newest path (3.2's leases were under kv/)
        for name, op in b.operations.items():
            names.setdefault(name, (service_of(op), op.rpc))
    rows, notes = [], []
    for name, (group, rpc) in sorted(names.items(), key=lambda item: (item[1][0], item[0])):
        row = ["``%s``" % name, rpc, group]
        for b in bundles:
            op = b.operations.get(name)
            if op is None:
                row.append("—")
                continue
            quirks = route_notes(op)
            if quirks:
                notes.append((name, b.version, quirks))
                word = "yes" if quirks == route_notes(op, aliases_only=True) else "quirk"
                row.append(":ref:`%s <%s>` [%d]" % (word, rpc_label(b.version, name), len(notes)))
            else:
                row.append(":ref:`yes <%s>`" % rpc_label(b.version, name))
        rows.append(row)
    lines += list_table(["method", "RPC", "group"] + versions, rows)
    if notes:
        lines += ["Route quirks:", ""]
        for i, (name, version, quirks) in enumerate(notes, 1):
            lines.append("%d. ``%s`` on %s: %s" % (i, name, version, escape("; ".join(quirks))))
        lines.append("")
    lines += heading("What changed between neighbouring versions", "-")
    for old, new in zip(versions, versions[1:]):
        lines += _diff_rst(spec_diff(old, new))
    return "\n".join(lines) + "\n"


def _diff_rst(diff: Dict[str, Any]) -> List[str]:
    old, new = diff["from"], diff["to"]
    lines = heading("%s → %s" % (old, new), "~")
    lines += ["etcd %s → etcd %s; ``etcd3 spec diff %s %s`` prints the same, listing the fields "
              "of a new nested message one by one." % (
        diff["from_etcd"], diff["to_etcd"], old, new), ""]
    if diff["prefix"][0] != diff["prefix"][1]:
        lines += ["* gateway prefix: ``%s`` → ``%s``" % tuple(diff["prefix"])]
    for method, rpc in diff["rpcs_added"].items():
        lines.append("* added: :ref:`%s <%s>` (%s)" % (method, rpc_label(new, method), rpc))
    for method, rpc in diff["rpcs_removed"].items():
        lines.append("* removed: :ref:`%s <%s>` (%s)" % (method, rpc_label(old, method), rpc))
    for method, entry in diff["changed"].items():
        lines.append("* changed: :ref:`%s <%s>`" % (method, rpc_label(new, method)))
        lines.append("")
        if "path" in entry:
            lines.append("  * path: ``%s`` → ``%s``" % tuple(entry["path"]))
        for side in ("request", "response"):
            parts = entry.get(side, {})
            for kind in ("added", "removed"):
                for field, typ, nested in _collapse(parts.get(kind, {})):
                    more = " (and its %d nested field%s)" % (nested, "s" if nested > 1 else "") if nested else ""
                    lines.append("  * %s %s ``%s`` %s%s" % (side, kind, field, escape(typ), more))
            for field, (was, now) in parts.get("retyped", {}).items():
                lines.append("  * %s retyped ``%s``: %s → %s" % (side, field, escape(was), escape(now)))
        lines.append("")
    if not (diff["rpcs_added"] or diff["rpcs_removed"] or diff["changed"]
            or diff["prefix"][0] != diff["prefix"][1]):
        lines.append("No RPC or field differs.")
    return lines + [""]


def _collapse(fields: Dict[str, str]) -> List[Tuple[str, str, int]]:
    """(field, type, how many of its nested fields are listed too) for the fields whose
    parent is not itself in ``fields``: ``success.request_txn`` stands for its subtree."""
    result: List[Tuple[str, str, int]] = []
    for field, typ in fields.items():
        parts = field.split(".")
        if any(".".join(parts[:i]) in fields for i in range(1, len(parts))):
            continue
        nested = sum(1 for other in fields if other.startswith(field + "."))
        result.append((field, typ, nested))
    return result


def versions_index_page() -> str:
    from etcd3.spec import bundled_versions, load_bundle

    versions = bundled_versions()
    lines = heading("The API per etcd version", "=")
    lines += ["Generated from the specs bundled with this release (``specs/``).  The client reads the "
              "server's version when it connects and takes the spec of that minor version, else the "
              "nearest lower one.", ""]
    lines += [".. toctree::", "   :maxdepth: 1", "", "   matrix"]
    lines += ["   v%s" % v for v in reversed(versions)]
    lines.append("")
    lines += supported_versions_rst(link=True)
    return "\n".join(lines) + "\n"


def supported_versions_rst(link: bool = False) -> List[str]:
    from etcd3.spec import bundled_versions, load_bundle

    rows = []
    for v in bundled_versions():
        b = load_bundle(v)
        rows.append([":doc:`%s <v%s>`" % (v, v) if link else ":doc:`%s </%s/%s>`" % (v, GENERATED, version_doc(v)),
                     b.etcd_version, "``%s``" % b.prefix, str(len(b.operations))])
    return list_table(["etcd minor", "spec generated from", "gateway prefix", "RPC methods"], rows)


# -- the CLI reference ------------------------------------------------------------------

@contextlib.contextmanager
def _fixed_width(columns: int = 88) -> Iterator[None]:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)  # argparse wraps the usage at the terminal's width
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return parser._get_formatter()._expand_help(action)


def _subparsers(parser: argparse.ArgumentParser) -> Optional[argparse._SubParsersAction]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _flag_rows(parser: argparse.ArgumentParser, skip: frozenset) -> Tuple[List[List[str]], List[List[str]]]:
    positionals, flags = [], []
    hidden = {o for a in parser._actions if a.help == argparse.SUPPRESS for o in a.option_strings}
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.dest in skip:
            continue
        if action.help == argparse.SUPPRESS:  # the hidden twin of a pflag-style boolean (--flag=false)
            continue
        help_text = escape(_help_text(parser, action))
        if action.option_strings:
            names = ", ".join("``%s``" % o for o in action.option_strings)
            if any(o.startswith(tuple(a + "=" for a in action.option_strings)) for o in hidden):
                names = ", ".join("``%s[=true|false]``" % o for o in action.option_strings)
            elif action.nargs != 0 and action.metavar is not None:
                names += " ``%s``" % action.metavar
            elif action.nargs != 0:
                names += " ``%s``" % action.dest.upper()
            flags.append([names, help_text])
        else:
            metavar = action.metavar or action.dest
            if isinstance(metavar, tuple):
                metavar = " ".join(metavar)
            flags_note = {"*": " (any number)", "+": " (one or more)", "?": " (optional)",
                          argparse.REMAINDER: " (the rest of the command line)"}.get(action.nargs, "")
            positionals.append(["``%s``%s" % (metavar, flags_note), help_text])
    return positionals, flags


def cli_page() -> str:
    from etcd3.cli import spec_cmd
    from etcd3.cli.main import VERB_HELP, build_parser, global_parent

    with _fixed_width():
        parser = build_parser(None)
        global_dests = frozenset(a.dest for a in global_parent(False)._actions)
        lines = [".. _cli:", ""]
        lines += heading("Command line: ``etcd3``", "=")
        lines += ["Generated from the argparse parser of ``etcd3.cli.main`` when the documentation was "
                  "built, so every verb and flag is here.  ``etcd3`` speaks etcdctl v3.5's verbs, flags "
                  "and exit codes (0 success, 1 error, 2 bad connection, 3 invalid input, 4 bad feature, "
                  "5 interrupted, 6 I/O error, 128 bad arguments).", ""]
        lines += [".. code-block:: text", ""] + ["   " + line for line in parser.format_usage().splitlines()]
        lines.append("")
        lines += heading("Global flags", "-")
        lines += ["Every verb takes these, before or after the verb; each can also be set by an "
                  "environment variable (``ETCDCTL_`` and the flag's name, as etcdctl reads them).", ""]
        _, flags = _flag_rows(global_parent(False), frozenset())
        lines += list_table(["flag", "meaning"], flags, widths="35 65")
        lines += heading("Verbs", "-")
        verbs = _subparsers(parser)
        assert verbs is not None
        lines += list_table(["verb", "what it does"],
                            [[":ref:`%s <cli-%s>`" % (name, name), escape(VERB_HELP.get(name, ""))]
                             for name in verbs.choices])
        for name, sub in verbs.choices.items():
            if name == "spec":
                sub = spec_cmd._parser()
            lines += _verb_rst(["etcd3", name], sub, global_dests, "~")
    return "\n".join(lines) + "\n"


_LEVELS = "~^'`"


def _verb_rst(words: List[str], parser: argparse.ArgumentParser, skip: frozenset, char: str) -> List[str]:
    command = " ".join(words)
    lines = [".. _cli-%s:" % "-".join(words[1:]), ""]
    lines += heading(command, char)
    if parser.description:
        lines += [escape(parser.description), ""]
    usage = parser.format_usage().replace("usage: " + parser.prog, "usage: " + command, 1)
    lines += [".. code-block:: text", ""] + ["   " + line for line in usage.splitlines()] + [""]
    positionals, flags = _flag_rows(parser, skip)
    if positionals:
        lines += list_table(["argument", "meaning"], positionals, widths="35 65")
    if flags:
        lines += list_table(["flag", "meaning"], flags, widths="35 65")
    subs = _subparsers(parser)
    if subs is not None:
        helps = {a.dest: a.help for a in subs._choices_actions}
        lines += list_table(["command", "what it does"],
                            [[":ref:`%s <cli-%s>`" % (n, "-".join(words[1:] + [n])), escape(helps.get(n) or "")]
                             for n in subs.choices])
        deeper = _LEVELS[min(_LEVELS.index(char) + 1, len(_LEVELS) - 1)]
        for name, sub in subs.choices.items():
            if sub.description is None and helps.get(name):
                sub.description = helps[name]
            lines += _verb_rst(words + [name], sub, skip, deeper)
    return lines


# -- the pytest plugin's options ---------------------------------------------------------

class _OptionRecorder:
    """Stands for pytest's parser in ``pytest_addoption``: keeps what the plugin declares."""

    def __init__(self) -> None:
        self.options: List[Tuple[Tuple[str, ...], Dict[str, Any]]] = []
        self.ini: List[Tuple[str, str, Dict[str, Any]]] = []

    def getgroup(self, name: str, description: str = "") -> "_OptionRecorder":
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.options.append((names, attrs))

    def addini(self, name: str, help: str, type: Optional[str] = None, default: Any = None) -> None:
        self.ini.append((name, help, {"type": type or "string", "default": default}))


def _fixtures_described(docstring: str) -> Dict[str, str]:
    """The module docstring's definition list: ````etcd_proc```` (session) and its text below."""
    described: Dict[str, str] = {}
    names: List[str] = []
    for line in inspect.cleandoc(docstring).splitlines():
        header = re.fullmatch(r"((?:``\w+``(?: / )?)+) \((\w+)\)", line.strip()) if not line.startswith(" ") else None
        if header:
            names = re.findall(r"``(\w+)``", header.group(1))
        elif line.startswith("    ") and names:
            for name in names:
                described[name] = (described.get(name, "") + " " + line.strip()).strip()
        else:
            names = []
    return described


def plugin_page() -> str:
    import etcd3.testing.pytest_plugin as plugin

    recorder = _OptionRecorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    lines = heading("The pytest plugin: fixtures, options and ini keys", "=")
    lines += ["Generated from ``etcd3.testing.pytest_plugin`` at build time.", ""]
    lines += heading("Fixtures", "-")
    described = _fixtures_described(plugin.__doc__ or "")
    rows = []
    for name in sorted(vars(plugin)):
        obj = getattr(plugin, name)
        if type(obj).__name__ != "FixtureFunctionDefinition" and not hasattr(obj, "_pytestfixturefunction"):
            continue
        scope = getattr(getattr(obj, "_fixture_function_marker", None), "scope", None) or "function"
        doc = inspect.getdoc(getattr(obj, "_get_wrapped_function", lambda: obj)()) or ""
        doc = doc.split("\n\n")[0] or described.get(name, "")
        rows.append(["``%s``" % name, str(scope), " ".join(doc.split())])  # docstrings are reST already
    lines += list_table(["fixture", "scope", "what it gives"], rows, widths="25 10 65")
    lines += ["The module's own description of each fixture and the factories that make more of them "
              "are in :mod:`etcd3.testing.pytest_plugin`.", ""]
    lines += heading("Command-line options", "-")
    opt_rows = []
    for names, attrs in recorder.options:
        flag = ", ".join("``%s``" % n for n in names)
        if attrs.get("action") not in ("store_true", "store_false") and attrs.get("metavar"):
            flag += " ``%s``" % attrs["metavar"]
        opt_rows.append([flag, escape(attrs.get("help", ""))])
    lines += list_table(["option", "meaning"], opt_rows, widths="35 65")
    lines += heading("Ini keys", "-")
    lines += ["In ``pytest.ini``, ``pyproject.toml`` (``[tool.pytest.ini_options]``), ``tox.ini`` or "
              "``setup.cfg``; a command-line option wins over its key.", ""]
    lines += list_table(["key", "type", "default", "meaning"],
                        [["``%s``" % n, attrs["type"], "``%r``" % (attrs["default"],), escape(h)]
                         for n, h, attrs in recorder.ini], widths="20 10 10 60")
    return "\n".join(lines) + "\n"


# -- the error classes -------------------------------------------------------------------

def errors_page() -> str:
    import etcd3.errors as errors

    lines = heading("Every etcd error class", "=")
    lines += ["Generated from ``etcd3.errors`` at build time: one class per gRPC status code (under "
              ":class:`~etcd3.errors.Etcd3APIError`) and, under it, one class per error message of "
              "etcd's Go ``rpctypes``; ``except`` either level.", ""]
    code_rows, etcd_rows = [], []
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not isinstance(cls, type) or not issubclass(cls, errors.Etcd3APIError):
            continue
        message = cls.__dict__.get("etcd_message")
        if cls.__bases__ == (errors.Etcd3APIError,) and "code" in cls.__dict__ and cls is not errors.ErrUnknownError:
            code_rows.append(["``%s``" % name, str(cls.code)])
        elif message:
            etcd_rows.append(["``%s``" % name, "``%s``" % cls.__mro__[1].__name__, escape(message)])
    lines += heading("By gRPC code", "-")
    lines += list_table(["class", "gRPC code"], code_rows)
    lines += heading("By etcd error", "-")
    lines += list_table(["class", "subclass of", "etcd's message"], etcd_rows, widths="30 20 50")
    return "\n".join(lines) + "\n"


# -- writing the pages ------------------------------------------------------------------

def pages() -> Dict[str, str]:
    """Relative path under ``_generated/`` -> page text."""
    from etcd3.spec import bundled_versions

    result = {"versions/index.rst": versions_index_page(), "versions/matrix.rst": matrix_page(),
              "cli.rst": cli_page(), "pytest_plugin.rst": plugin_page(), "errors.rst": errors_page(),
              "supported_versions.rst": "\n".join(supported_versions_rst()) + "\n"}
    for version in bundled_versions():
        result["%s.rst" % version_doc(version)] = version_page(version)
    return result


def generate(directory: os.PathLike) -> List[Path]:
    """Write the generated pages under ``directory``; stale ones are removed.  Returns
    the pages written."""
    root = Path(directory)
    wanted = pages()
    written = []
    for relative, text in wanted.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for old in root.rglob("*.rst"):  # a spec version no longer bundled
        if old.relative_to(root).as_posix() not in wanted:
            old.unlink()
    return written


def _on_config_inited(app: Any, config: Any) -> None:
    generate(Path(app.srcdir) / GENERATED)


def setup(app: Any) -> Dict[str, Any]:
    app.connect("config-inited", _on_config_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
