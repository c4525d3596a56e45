"""The bundled specs (specs/vX.Y/*.swagger.json, made by scripts/gen-specs) against
the swagger files etcd publishes at each release tag.

etcd's published files live outside this repo: ``../shared/reference/upstream-specs/``
next to the repo root, or the folder named by ``ETCD3_UPSTREAM_SPECS``; without them
the comparison tests are skipped.  ``ETCD3_CHECK_SPECS=1`` also runs
``scripts/gen-specs --check`` (needs the network and apt).

What is compared is structure only: paths, HTTP methods, operations (operationId
without the ``Service_`` prefix etcd 3.5+ adds, tags, parameters, response schemas),
definitions, properties, types, formats, enums, defaults and $refs.  Prose (title,
summary, description) is not compared.  Three normalisations stand for things that
only look different:

* a streaming response is compared by the message it streams: etcd's newer
  generators wrap it (``#/x-stream-definitions/X`` in 3.4, an inline
  ``Stream result of X`` object in 3.5+), ours names ``X`` directly;
* ``format: boolean`` is dropped (not a swagger 2 format; 3.6's generator omits it);
* ``type: object`` next to a ``$ref`` is dropped (3.6's generator adds it; a $ref
  already says it).

Every other difference must be on ALLOWED, with its reason; an entry that no longer
matches anything fails too, so the list stays short and true.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
UPSTREAM = Path(os.environ.get("ETCD3_UPSTREAM_SPECS")
                or REPO.parent / "shared" / "reference" / "upstream-specs")
FILES = ("rpc", "v3lock", "v3election")

# bundled spec -> etcd's published spec it is compared with
PUBLISHED = {
    "v3.2": "v3.2.32",
    # etcd's published v3.3.x files (v3.3.25, v3.3.27) are a copy of master's docs
    # (3.4 paths and fields, see test_published_v3_3_25_is_master_docs): the last
    # published 3.3 file that describes 3.3 is the one at v3.3.0.
    "v3.3": "v3.3.0",
    "v3.4": "v3.4.23",
    "v3.5": "v3.5.16",
    "v3.6": "v3.6.14",
}
BUNDLED_VERSION = {"v3.2": "3.2.32", "v3.3": "3.3.25", "v3.4": "3.4.23",
                   "v3.5": "3.5.16", "v3.6": "3.6.14"}

NEWER_TOOLING = ("etcd's own generator (protoc-gen-swagger >= 1.9, or protoc-gen-openapiv2 "
                 "in 3.6) emits it; Debian's protoc-gen-swagger 1.6.4 does not")
# (bundled versions, fnmatch pattern over difference keys, reason)
ALLOWED = [
    (("v3.3", "v3.4", "v3.5", "v3.6"), "rpc: top security*",
     "etcd's rpc.proto declares the ApiKey (Authorization header) security option; "
     "Debian's copy of rpc.proto drops that option"),
    (("v3.4", "v3.5", "v3.6"), "*: def protobufAny", "error detail type: " + NEWER_TOOLING),
    (("v3.4", "v3.5"), "*: def runtimeStreamError", "stream error type: " + NEWER_TOOLING),
    (("v3.5",), "*: def runtimeError", "error type of default responses: " + NEWER_TOOLING),
    (("v3.6",), "*: def *rpcStatus", "error type of default responses: " + NEWER_TOOLING),
    (("v3.5", "v3.6"), "*: resp * default", "default (error) responses: " + NEWER_TOOLING),
    (("v3.4",), "*: top x-stream-definitions", "stream wrappers: " + NEWER_TOOLING),
    (("v3.5", "v3.6"), "*: top schemes", "etcd's newer generator leaves out the default schemes"),
    (("v3.6",), "*: top tags", "protoc-gen-openapiv2 lists the services at top level"),
    (("v3.3",), "rpc: def etcdserverpbWatchProgressRequest",
     "added in 3.3.14 (CHANGELOG-3.3), after the published v3.3.0 file"),
    (("v3.3",), "rpc: prop etcdserverpbWatchRequest.progress_request", "added in 3.3.14"),
    (("v3.3",), "rpc: prop etcdserverpbWatchCreateRequest.watch_id", "added in 3.3.14"),
    (("v3.3",), "rpc: prop etcdserverpbWatch*.fragment", "added in 3.3.14"),
]


# ---------------------------------------------------------------- normalisation

def schema(s):
    """A schema without prose, $refs reduced to the definition name."""
    if not isinstance(s, dict):
        return s
    if str(s.get("title", "")).startswith("Stream result of "):
        return schema(s["properties"]["result"])
    out = {}
    for key, value in s.items():
        if key in ("title", "description"):
            continue
        if key == "$ref":
            out[key] = value.rsplit("/", 1)[-1]
        elif key == "properties":
            out[key] = {name: schema(v) for name, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = schema(value)
        else:
            out[key] = value
    if out.get("format") == "boolean":
        del out["format"]
    if "$ref" in out and out.get("type") == "object":
        del out["type"]
    return out


def facts(spec: dict, file: str) -> dict:
    """Flatten a spec into {difference key: normalised value}."""
    f = {}
    for key, value in spec.items():
        if key not in ("paths", "definitions", "info", "x-etcd-version"):
            f[f"{file}: top {key}"] = value
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            f[f"{file}: op {where}"] = {
                "operationId": op.get("operationId", "").split("_", 1)[-1],
                "tags": op.get("tags"),
                "parameters": [{k: schema(v) if k == "schema" else v for k, v in p.items()
                                if k != "description"} for p in op.get("parameters", [])],
            }
            for code, resp in op.get("responses", {}).items():
                f[f"{file}: resp {where} {code}"] = schema(resp.get("schema"))
    for name, s in spec["definitions"].items():
        f[f"{file}: def {name}"] = {k: v for k, v in schema(s).items() if k != "properties"}
        for prop, ps in s.get("properties", {}).items():
            f[f"{file}: prop {name}.{prop}"] = schema(ps)
    return f


def differences(ours: dict, theirs: dict) -> list:
    """Keys whose values differ; a property of a definition only one side has is
    reported through its definition."""
    out = []
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) == theirs.get(key):
            continue
        file, rest = key.split(": ", 1)
        if rest.startswith("prop "):
            definition = f"{file}: def {rest[5:].split('.', 1)[0]}"
            if (definition in ours) != (definition in theirs):
                continue
        side = "only ours" if key not in theirs else "only upstream" if key not in ours else "differs"
        out.append((key, side))
    return out


def load(folder: Path, file: str) -> dict:
    with open(folder / f"{file}.swagger.json", encoding="utf-8") as f:
        return json.load(f)


needs_upstream = pytest.mark.skipif(
    not UPSTREAM.is_dir(),
    reason=f"etcd's published specs not found at {UPSTREAM} (set ETCD3_UPSTREAM_SPECS)")


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("version", sorted(PUBLISHED))
def test_bundled_spec_files(version):
    for file in FILES:
        spec = load(SPECS / version, file)
        assert spec["x-etcd-version"] == BUNDLED_VERSION[version]
        assert spec["swagger"] == "2.0" and spec["paths"] and spec["definitions"]


@needs_upstream
@pytest.mark.parametrize("version", sorted(PUBLISHED))
def test_matches_published(version):
    ours, theirs = {}, {}
    for file in FILES:
        ours.update(facts(load(SPECS / version, file), file))
        theirs.update(facts(load(UPSTREAM / PUBLISHED[version], file), file))
    allowed = [(pattern, reason) for versions, pattern, reason in ALLOWED if version in versions]
    used = set()
    unexpected = []
    for key, side in differences(ours, theirs):
        hits = [pattern for pattern, _ in allowed if fnmatch.fnmatchcase(key, pattern)]
        used.update(hits)
        if not hits:
            unexpected.append(f"{key} ({side})")
    assert not unexpected, (f"specs/{version} differs from etcd's published "
                            f"{PUBLISHED[version]}:\n  " + "\n  ".join(unexpected))
    stale = [pattern for pattern, _ in allowed if pattern not in used]
    assert not stale, f"allow-list entries that match nothing for {version}: {stale}"


@needs_upstream
def test_published_v3_3_25_is_master_docs():
    """Why v3.3 is compared with the v3.3.0 file: 3.3.25's gateway serves /v3beta
    (and /v3alpha), yet etcd's published v3.3.25 file has 3.4's /v3 paths."""
    published = load(UPSTREAM / "v3.3.25", "rpc")
    assert all(p.startswith("/v3/") for p in published["paths"])
    assert "/v3/lease/leases" in published["paths"]  # 3.4's lease paths
    assert all(p.startswith("/v3beta/") for p in load(SPECS / "v3.3", "rpc")["paths"])


@pytest.mark.skipif(os.environ.get("ETCD3_CHECK_SPECS") != "1",
                    reason="set ETCD3_CHECK_SPECS=1 to regenerate the specs (needs network and apt)")
def test_gen_specs_check():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen-specs"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-5000:]
