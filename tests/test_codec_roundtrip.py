"""Hypothesis: encode -> JSON -> decode gives back the value, for every request
schema of every bundled spec (no server)."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3.models import EtcdMessage
from etcd3.spec import bundled_versions, load_bundle

INT_RANGES = {"int64": (-(2 ** 63), 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1),
              "int32": (-(2 ** 31), 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1)}


def strategy(document, schema, depth=0):
    """Values the codec must accept for ``schema``, with what decode must give back."""
    if "$ref" in schema:
        node = document.ref(schema["$ref"]).resolved
        return strategy(document, node._node, depth)
    if "enum" in schema:
        members = schema["enum"]
        # by name in any case, by index, or the member itself
        return st.sampled_from(members).flatmap(lambda m: st.sampled_from(
            [(m, m), (m.lower(), m), (members.index(m), m)]))
    typ, fmt = schema.get("type", "object"), schema.get("format")
    if typ == "string" and fmt == "byte":
        return st.one_of(st.binary(max_size=40).map(lambda b: (b, b)),
                         st.text(max_size=20).map(lambda s: (s, s.encode("utf-8"))),
                         # 0.1.6 stored a number as its text
                         st.integers().map(lambda i: (i, str(i).encode("ascii"))))
    if (typ == "string" and fmt in INT_RANGES) or typ == "integer":
        low, high = INT_RANGES.get(fmt, INT_RANGES["int32"])
        # decimal strings (with spaces) and integral floats, as 0.1.6 took them
        return st.integers(low, high).flatmap(lambda i: st.sampled_from(
            [(i, i), (str(i), i), (" %d " % i, i)] + ([(float(i), i)] if abs(i) < 2 ** 53 else [])))
    if typ == "boolean":
        return st.one_of(st.booleans().map(lambda b: (b, b)), st.sampled_from([(0, False), (1, True)]))
    if typ == "string":
        return st.text(max_size=20).map(lambda s: (s, s))
    if typ == "number":
        return st.floats(allow_nan=False, allow_infinity=False).map(lambda f: (f, f))
    if typ == "array":
        item = strategy(document, schema.get("items", {}), depth + 1)
        return st.lists(item, max_size=3).map(lambda pairs: ([p[0] for p in pairs], [p[1] for p in pairs]))
    properties = schema.get("properties", {})
    if depth > 2 or not properties:
        return st.just(({}, {}))
    fields = {name: strategy(document, prop, depth + 1) for name, prop in properties.items()}
    return st.fixed_dictionaries({}, optional=fields).map(
        lambda d: ({k: v[0] for k, v in d.items()}, {k: v[1] for k, v in d.items() if v[1] != []}))


def plain(value):
    """A decoded value as comparable plain data (enum members by name)."""
    if isinstance(value, EtcdMessage):
        # arrays absent from the wire are filled with [] on decode: leave those out
        return {k: plain(v) for k, v in value.__dict__.items() if not (v == [] and k in value._array_fields)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, (bytes, str)):
        return value.name
    return value


CASES = [(version, name) for version in bundled_versions()
         for name, op in load_bundle(version).operations.items() if op.request is not None]


@pytest.mark.parametrize("version,name", CASES, ids=["%s-%s" % c for c in CASES])
def test_request_round_trip(version, name):
    op = load_bundle(version).operations[name]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy(op.document, op.request._node))
    def round_trip(pair):
        given_value, expected = pair
        wire = json.loads(json.dumps(op.request.encode(given_value)))
        decoded = op.request.decode(wire)
        assert isinstance(decoded, EtcdMessage)
        assert plain(decoded) == expected

    round_trip()
