"""The generated documentation pages agree with what they are generated from (no server).

The per-version API pages and the matrix must list every RPC of every bundled spec with
its parameters and descriptions, and nothing else; the expectations are read from the
raw swagger documents in ``specs/`` here, not through the generator's own code path.
The CLI page must name every verb and flag of the argparse parser.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import pytest

from etcd3.spec import bundled_versions, load_bundle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import etcd3_docs  # noqa: E402

VERSIONS = bundled_versions()
LABEL = re.compile(r"^\.\. _spec-(?P<version>[\d.]+)-(?P<method>[a-z0-9-]+):$")
METHOD = re.compile(r"^\.\. py:method:: (?P<name>\w+)\((?P<args>.*)\)$")
PARAM = re.compile(r"^   :param (?P<name>\S+): (?P<text>.*)$")


def unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def snake(rpc):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", rpc).lower()


def raw_operations(version):
    """method name -> (rpc, request fields, {field: description}) from the raw documents."""
    ops = {}
    for path in sorted((ROOT / "specs" / ("v" + version)).glob("*.swagger.json")):
        doc = json.loads(path.read_text())
        definitions = doc.get("definitions", {})
        for route, methods in doc["paths"].items():
            for raw in methods.values():
                op_id = raw.get("operationId")
                if not op_id:
                    continue
                rpc = re.sub(r"\d+$", "", op_id.split("_", 1)[-1])
                props = {}
                for param in raw.get("parameters", []):
                    if param.get("in") == "body":
                        props = definitions[param["schema"]["$ref"].rsplit("/", 1)[-1]].get("properties", {})
                descriptions = {f: (s.get("description") or s.get("title") or "") for f, s in props.items()}
                ops.setdefault(snake(rpc), (rpc, route, descriptions))
    return ops


def expected_methods(version):
    """The raw spec's methods, with the one documented route quirk applied: up to 3.4 the
    gateway serves Hash (not the spec's HashKV) at .../maintenance/hash."""
    ops = raw_operations(version)
    hash_kv = ops.get("hash_kv")
    if hash_kv is not None and hash_kv[1].endswith("/maintenance/hash") and "hash" not in ops:
        del ops["hash_kv"]
        ops["hash"] = ("Hash", hash_kv[1], {})
    return ops


def parse_version_page(text):
    """method -> {"signature": args, "params": {name: text}} as the page lists them."""
    methods, current = {}, None
    for line in text.splitlines():
        m = LABEL.match(line)
        if m:
            current = None
            continue
        m = METHOD.match(line)
        if m:
            current = methods.setdefault(m.group("name"), {"signature": m.group("args"), "params": {}})
            continue
        m = PARAM.match(line)
        if m and current is not None:
            current["params"][unescape(m.group("name"))] = unescape(m.group("text"))
    return methods


@pytest.fixture(scope="module")
def pages():
    return etcd3_docs.pages()


def test_a_page_per_bundled_version_and_no_other(pages):
    version_pages = sorted(p for p in pages if re.fullmatch(r"versions/v[\d.]+\.rst", p))
    assert version_pages == sorted("versions/v%s.rst" % v for v in VERSIONS)
    assert len(VERSIONS) >= 5  # 3.2 ... 3.6 are bundled


@pytest.mark.parametrize("version", VERSIONS)
def test_version_page_lists_every_rpc_with_its_parameters(pages, version):
    listed = parse_version_page(pages["versions/v%s.rst" % version])
    expected = expected_methods(version)
    assert sorted(listed) == sorted(expected), "the page's RPCs differ from specs/v%s" % version
    bundle = load_bundle(version)
    for name, (rpc, route, descriptions) in expected.items():
        entry = listed[name]
        # every request field of the spec is a parameter, described with the spec's text
        for field, description in descriptions.items():
            assert field in entry["params"], "%s %s: field %s missing" % (version, name, field)
            words = " ".join(description.split())[:60]
            assert words in entry["params"][field], "%s %s.%s: description missing" % (version, name, field)
        # and the parameters are exactly the method's (what help() shows), nothing extra
        signature = [("**" if p.kind is p.VAR_KEYWORD else "") + p.name
                     for p in bundle.operations[name].signature.parameters.values() if p.name != "self"]
        assert list(entry["params"]) == signature, "%s %s" % (version, name)
        if not signature:
            assert entry["signature"] == "", (version, name)
        for param in signature:
            assert re.search(r"(^|, )%s(=|,|$)" % re.escape(param), entry["signature"]), (version, name, param)


def test_version_pages_carry_the_help_text(pages):
    op = load_bundle("3.5").operations["range"]
    listed = parse_version_page(pages["versions/v3.5.rst"])["range"]
    for line in op.doc.split("Parameters:", 1)[1].split("Returns:")[0].strip().splitlines():
        name, text = line.strip().split(" ", 1)
        assert listed["params"][name] == " ".join(text.split())
    assert "Range gets the keys in the range from the key-value store." in pages["versions/v3.5.rst"]
    # and what the answer holds: the response message's fields
    assert "      * ``kvs`` (list of mvccpbKeyValue): kvs is the list of key-value pairs matched" \
        in pages["versions/v3.5.rst"]


def test_route_quirks_are_on_the_pages(pages):
    assert "the gateway serves Hash at /v3/maintenance/hash on etcd 3.4.23" in unescape(pages["versions/v3.4.rst"])
    assert "served by etcd 3.5.10 and newer" in unescape(pages["versions/v3.5.rst"])


def test_matrix_marks_each_rpc_per_version(pages):
    text = pages["versions/matrix.rst"]
    rows = re.findall(r"   \* - ``(\w+)``\n     - \w+\n     - \w+\n((?:     - .*\n){%d})" % len(VERSIONS), text)
    table = {name: [cell[len("     - "):] for cell in cells.splitlines()] for name, cells in rows}
    everything = {}
    for version in VERSIONS:
        for name in expected_methods(version):
            everything.setdefault(name, set()).add(version)
    assert sorted(table) == sorted(everything)
    for name, cells in table.items():
        for version, cell in zip(VERSIONS, cells):
            if version in everything[name]:
                assert re.match(r":ref:`(yes|quirk) <spec-%s-%s>`" % (re.escape(version), name.replace("_", "-")),
                                cell), (name, version, cell)
            else:
                assert cell == "—", (name, version, cell)
    for bundle in map(load_bundle, VERSIONS):
        assert "| %s | %s | ``%s``" % (bundle.version, bundle.etcd_version, bundle.prefix) in \
            text.replace("\n   * - ", "\n| ").replace("\n     - ", " | ")


def test_matrix_lists_the_spec_diffs(pages):
    text = pages["versions/matrix.rst"]
    for old, new in zip(VERSIONS, VERSIONS[1:]):
        assert "%s → %s" % (old, new) in text
    assert ":ref:`auth_status <spec-3.5-auth-status>`" in text  # added in 3.5
    assert "* gateway prefix: ``/v3beta`` → ``/v3``" in text


def _walk(parser, words):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, words + [name])


def test_cli_page_has_every_verb_and_flag(pages):
    from etcd3.cli import spec_cmd
    from etcd3.cli.main import build_parser

    text = unescape(pages["cli.rst"])
    for words, parser in _walk(build_parser(None), ["etcd3"]):
        if words[1:] == ["spec"]:
            parser = spec_cmd._parser()
            walked = list(_walk(parser, words))
        else:
            walked = [(words, parser)]
        for sub_words, sub in walked:
            assert ".. _cli-%s:" % "-".join(sub_words[1:]) in text or len(sub_words) == 1
            for action in sub._actions:
                if action.help == argparse.SUPPRESS:  # --flag=<false>, written as --flag[=true|false]
                    continue
                for option in action.option_strings:
                    if option in ("-h", "--help"):
                        continue
                    assert re.search(r"``%s(\[=true\|false\])?``" % re.escape(option), text), (sub_words, option)


def test_plugin_page_lists_options_and_fixtures(pages):
    text = pages["pytest_plugin.rst"]
    for option in ("--etcd-binary", "--etcd-version", "--etcd-versions", "--etcd-fetch", "--etcd-host",
                   "--etcd-port"):
        assert "``%s``" % option in text
    for fixture in ("etcd_proc", "etcd_noproc", "etcd_client", "aio_etcd_client", "etcd_cluster"):
        assert "* - ``%s``" % fixture in text


def test_generate_writes_pages_and_removes_stale_ones(tmp_path):
    stale = tmp_path / "versions" / "v3.1.rst"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    written = etcd3_docs.generate(tmp_path)
    assert not stale.exists()
    assert (tmp_path / "versions" / "v3.5.rst") in written
    before = (tmp_path / "cli.rst").stat().st_mtime_ns
    etcd3_docs.generate(tmp_path)  # unchanged text: not rewritten, so Sphinx rebuilds nothing
    assert (tmp_path / "cli.rst").stat().st_mtime_ns == before
