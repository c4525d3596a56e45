"""Every example of the guides and the cookbook runs against a real etcd.

The convention the pages follow (``docs/guides/*.rst``, ``docs/cookbook/*.rst``):

- A Python example is a ``.. code-block:: python`` block.  The blocks of one page
  run in order, in one namespace (a later block uses the names of an earlier
  one), as a reader pasting them into one interpreter would.
- Examples talk to ``127.0.0.1`` on etcd's usual ports.  The test swaps the port
  numbers for those of its own servers: ``2379`` is the session's server (the
  ``etcd`` fixture).  A page that has the comment ``.. examples: cluster`` gets a
  3-member cluster instead, whose members stand for ``2379``, ``22379`` and
  ``32379`` (etcd's own local-cluster ports).  No other address may appear.
- A block preceded by the comment ``.. example: not-run (reason)`` is shown but
  not run; the reason is required (it is said in the page's text too).
- A Python block with a ``:caption:`` is a file (``:caption: test_app.py``): it is
  written under that name into the page's working directory (a temporary one),
  not run.
- A shell session is a ``.. code-block:: console`` block; every ``$ etcd3 ...``
  line runs through the ``etcd3`` command's ``main()`` (in this process), and every
  ``$ pytest ...`` line runs pytest in a fresh interpreter in the page's directory
  (over the files written before it); other programs' lines are not run.  Both
  get the same port swap and must exit 0 (an ``etcd3`` line whose output shows
  ``Error:`` must fail instead).  The output shown under an ``etcd3`` line must be
  what it prints, line for line; ``...`` in a shown line stands for any text
  (ids, times).
- After each page the server's keys, leases, users and roles are removed again.

The examples do the checking themselves: where a result matters they assert it.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List, NamedTuple, Optional

import pytest

from etcd3.cli.main import main as cli_main

DOCS = Path(__file__).resolve().parent.parent / "docs"
SECTIONS = ("guides", "cookbook")
PORTS = ("2379", "22379", "32379")
_PORT = re.compile(r"(?<![\d.])(%s)(?!\d)" % "|".join(PORTS))
_DIRECTIVE = re.compile(r"^\.\. (code-block|code|sourcecode|testcode|doctest)::\s*(\S*)\s*$")
_NOT_RUN = re.compile(r"^\.\. example: not-run \((.+)\)\s*$")


class Example(NamedTuple):
    page: str
    line: int  # 1-based line of the directive
    language: str
    code: str
    not_run: Optional[str]  # the reason, or None when it runs
    caption: Optional[str]  # the ``:caption:`` option: a file name for a file block


def extract(path: Path) -> List[Example]:
    """The code blocks of one page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: List[Example] = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index].strip()) if not lines[index].startswith(" ") else None
        if match is None:
            index += 1
            continue
        kind, language = match.groups()
        if kind != "code-block":
            raise AssertionError("%s:%d: use '.. code-block:: LANG' (the examples test reads only those)"
                                 % (path.name, index + 1))
        start = index
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        not_run = _NOT_RUN.match(previous.strip())
        index += 1
        caption = None
        while index < len(lines) and lines[index].strip().startswith(":") and lines[index].startswith(" "):
            option = lines[index].strip()  # the directive's options
            if option.startswith(":caption:"):
                caption = option[len(":caption:"):].strip()
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
            body.append(lines[index])
            index += 1
        examples.append(Example(path.name, start + 1, language, textwrap.dedent("\n".join(body)).strip("\n"),
                                not_run.group(1) if not_run else None, caption))
    return examples


def pages() -> List[Path]:
    return sorted(p for section in SECTIONS for p in (DOCS / section).glob("*.rst"))


def runnable(path: Path) -> List[Example]:
    return [e for e in extract(path) if e.language in ("python", "console") and e.not_run is None]


def page_id(path: Path) -> str:
    return "%s/%s" % (path.parent.name, path.name)


def wants_cluster(path: Path) -> bool:
    return any(line.strip() == ".. examples: cluster" for line in path.read_text(encoding="utf-8").splitlines())


def swap_ports(code: str, ports: dict, where: str) -> str:
    def swap(match: "re.Match[str]") -> str:
        if match.group(1) not in ports:
            raise AssertionError("%s: port %s has no server on this page (add '.. examples: cluster'?)"
                                 % (where, match.group(1)))
        return str(ports[match.group(1)])
    return _PORT.sub(swap, code)


def run_console(example: Example, ports: dict, where: str) -> int:
    """Run the ``$ etcd3 ...`` and ``$ pytest ...`` lines of a console block; returns how
    many ran.  An ``etcd3`` line's output shown under it must be what it prints
    (``...`` in a shown line stands for any text)."""
    ran = 0
    lines = example.code.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        command = swap_ports(line[2:], ports, where)
        words = shlex.split(command, comments=True)
        if words[0] == "pytest":
            run_pytest(words[1:], where)
            ran += 1
            continue
        if words[0] != "etcd3":
            continue  # a shell line of another program (pip, etcd): not ours to run
        shown = []
        for following in lines[number + 1:]:
            if following.startswith("$ "):
                break
            shown.append(swap_ports(following, ports, where))
        expect_error = any(text.startswith("Error:") for text in shown)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli_main(words[1:])  # in-process: a fresh interpreter per line costs ~1.4 s
        assert (status != 0) == expect_error, "%s: %r exited %d\nstdout: %s\nstderr: %s" % (
            where, line, status, out.getvalue(), err.getvalue())
        printed = (out.getvalue() + err.getvalue()).rstrip("\n").splitlines()
        if shown:
            assert len(printed) == len(shown) and all(
                re.fullmatch(".*".join(map(re.escape, want.split("..."))), got)
                for want, got in zip(shown, printed)), "%s: %r printed\n%s\ninstead of\n%s" % (
                where, line, "\n".join(printed), "\n".join(shown))
        ran += 1
    return ran


def run_pytest(args: List[str], where: str) -> None:
    """``pytest ARGS`` in the current directory (the page's files), in a fresh interpreter:
    the plugin is loaded there as a user's run loads it."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, "%s: pytest %s exited %d\n%s\n%s" % (
        where, " ".join(args), done.returncode, done.stdout[-3000:], done.stderr[-3000:])


def _clean(endpoint_ports: dict) -> None:
    from etcd3 import Client

    with Client("127.0.0.1", int(endpoint_ports["2379"])) as client:
        client.delete_range(all=True)
        for lease in client.lease_leases().leases or ():
            client.lease_revoke(lease.ID)


def test_extraction_finds_the_examples():
    """Every page is read; blocks in an unknown form or without a reason to skip fail here."""
    found = {page_id(p): extract(p) for p in pages()}
    assert found, "no pages under %s" % DOCS
    assert sum(len(examples) for examples in found.values()) > 20
    for name, examples in found.items():
        for example in examples:
            assert example.code, "%s:%d: an empty block" % (name, example.line)
            if example.language == "python" and example.not_run is None:
                compile(example.code, "%s:%d" % (name, example.line), "exec")
    for path in pages():  # a page of the guides or the cookbook shows something that runs
        if path.name != "index.rst":
            assert runnable(path), "%s has no example that runs" % page_id(path)


# ~40 s on one version: the newest only (the pages were also checked by hand on 3.3.25)
@pytest.mark.etcd_versions("newest")
@pytest.mark.parametrize("page", [p for p in pages() if runnable(p)], ids=page_id)
def test_page_examples(page, etcd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files an example writes (a snapshot, certificates) go there
    cluster = None
    if wants_cluster(page):
        from etcd3.testing.server import EtcdCluster

        cluster = EtcdCluster(size=3, binary=etcd.binary, workdir_root=tmp_path).start()
        ports = {name: member.port for name, member in zip(PORTS, cluster.members)}
    else:
        ports = {"2379": etcd.port}
    namespace = {"__name__": "__docs_example__"}
    try:
        for example in runnable(page):
            where = "%s:%d" % (page_id(page), example.line)
            if example.language == "console":
                run_console(example, ports, where)
                continue
            if example.caption:  # a file of the example (a test module): written, not run
                Path(example.caption).write_text(swap_ports(example.code, ports, where) + "\n", encoding="utf-8")
                continue
            code = compile(swap_ports(example.code, ports, where), where, "exec")
            exec(code, namespace)
    finally:
        for value in list(namespace.values()):  # clients the examples left open
            close = getattr(value, "close", None)
            if type(value).__name__ == "Client" and callable(close):
                close()
        if cluster is not None:
            cluster.stop()
        else:
            _clean(ports)
