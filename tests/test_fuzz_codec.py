"""Fuzzing the codec with hypothesis, on every request and response schema of every
bundled spec (no server).

* encoding random values for random fields either gives a body that can be sent
  (JSON, UTF-8) or raises TypeError/ValueError naming the field;
* decoding random JSON (wrong types included) either gives the schema's model, with
  every field of its kind's Python type, or raises Etcd3ProtocolError naming the field;
* JSON as the gateway writes it decodes and encodes back to itself.

A deterministic sweep also puts every wrong JSON type into every field of every
schema, so no schema is left to chance.  Bounded in examples and time."""
from __future__ import annotations

import base64
import enum
import json
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3.errors import Etcd3ProtocolError
from etcd3.spec import bundled_versions, load_bundle
from etcd3.swagger_helper import SwaggerNode, _kind

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VERSIONS = bundled_versions()
INT_RANGES = {"int64": (-(2 ** 63), 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1)}


def schemas(version: str, side: str) -> List[SwaggerNode]:
    """The request (or response) schemas of a version's operations, each once."""
    found: Dict[str, SwaggerNode] = {}
    for op in load_bundle(version).operations.values():
        node = getattr(op, side)
        if node is not None:
            found.setdefault(node._ref, node.resolved)
    return [found[ref] for ref in sorted(found)]


def kind_of(node: SwaggerNode) -> str:
    node = node.resolved
    return _kind(node._root, node._node)


def fields_of(node: SwaggerNode) -> Dict[str, SwaggerNode]:
    node = node.resolved
    return {name: node.properties[name] for name in node._node.get("properties") or {}}


# -- values ---------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2 ** 70, 2 ** 70)
                | st.floats() | st.text(max_size=8) | st.sampled_from(["", "abc", "YQ==", "12", "PUT", "é"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
# what a caller may pass: JSON, and bytes, tuples, text with lone surrogates (scalars
# drawn as often as containers: most fields are scalars)
python_scalars = json_scalars | st.binary(max_size=8) | st.text(st.sampled_from("aé\x00") | surrogates,
                                                                min_size=1, max_size=4)
python_values = python_scalars | st.recursive(
    python_scalars, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
UNKNOWN_FIELDS = ("brand_new", "future_field")

_wire_cache: Dict[Tuple[int, str, int], Any] = {}


def wire(node: SwaggerNode, depth: int = 0) -> Any:
    """JSON as the gateway writes it for the schema (int64 as decimal text, bytes
    as base64, enums by name): it decodes and encodes back to itself."""
    node = node.resolved
    key = (id(node._root), node._pointer, depth)  # the bundled specs live as long as the process
    cached = _wire_cache.get(key)
    if cached is not None:
        return cached
    kind = kind_of(node)
    raw = node._node
    if kind == "enum":
        made = st.sampled_from(raw["enum"])
    elif kind == "bytes":
        made = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
    elif kind == "int64":
        low, high = INT_RANGES.get(raw.get("format"), INT_RANGES["int64"])
        made = st.integers(low, high).map(str)
    elif kind == "integer":
        made = st.integers(-(2 ** 31), 2 ** 31 - 1)
    elif kind == "boolean":
        made = st.booleans()
    elif kind == "string":
        made = st.text(max_size=8)
    elif kind == "number":
        made = st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "array":
        items = node.items
        item = wire(items, depth + 1)
        if kind_of(items) == "bytes":  # an empty item decodes as None
            item = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())
        made = st.lists(item, max_size=3)
    elif kind == "object" and depth < 4:
        made = st.fixed_dictionaries({}, optional={name: wire(field, depth + 1)
                                                   for name, field in fields_of(node).items()})
    else:
        made = st.just({})
    _wire_cache[key] = made
    return made


def answers(node: SwaggerNode, depth: int = 0) -> Any:
    """JSON for the schema, each field either right or of any JSON type at all."""
    fields = fields_of(node)
    if not fields or depth > 2:
        return st.dictionaries(st.sampled_from(UNKNOWN_FIELDS), json_values, max_size=1)
    optional = {}
    for name, field in fields.items():
        kind = kind_of(field)
        if kind == "object":
            right = answers(field, depth + 1)
        elif kind == "array" and kind_of(field.resolved.items) == "object":
            right = st.lists(answers(field.resolved.items, depth + 1), max_size=2)
        else:
            right = wire(field, depth + 1)
        optional[name] = st.one_of(right, json_values)
    optional[UNKNOWN_FIELDS[0]] = json_values
    return st.fixed_dictionaries({}, optional=optional)


# -- checks ---------------------------------------------------------------------------

PY_TYPES = {"int64": (int,), "integer": (int,), "bytes": (bytes,), "string": (str,), "boolean": (bool,),
            "number": (int, float), "map": (dict,)}


def check_model(node: SwaggerNode, value: Any) -> None:
    """A decoded value has its kind's Python type, all the way down."""
    kind = kind_of(node)
    if kind == "object":
        assert isinstance(value, node.resolved.getModel()), value
        repr(value), value.to_dict()  # noqa: B018 - they must not raise
        for name, field in fields_of(node).items():
            if value.__dict__.get(name) is not None:
                check_model(field, value.__dict__[name])
    elif kind == "array":
        assert type(value) is list, value
        for item in value:
            check_model(node.resolved.items, item)
    elif kind == "enum":
        # a member, or a name or number newer than the spec, kept as it is
        assert isinstance(value, enum.Enum) or type(value) in (str, int), value
    else:
        assert type(value) in PY_TYPES[kind], (kind, value)


def decode_both(node: SwaggerNode, data: Any) -> Tuple[Any, Any]:
    """(decode's outcome, decode_owned's on a fresh copy): a model or the error's text."""
    outcomes = []
    for decode, value in ((node.decode, data), (node.decode_owned, json.loads(json.dumps(data)))):
        try:
            outcomes.append(decode(value))
        except Etcd3ProtocolError as e:
            outcomes.append(str(e))
    return outcomes[0], outcomes[1]


def assert_decodes_or_names_a_field(node: SwaggerNode, data: Any) -> None:
    before = json.dumps(data, sort_keys=True)
    decoded, owned = decode_both(node, data)
    assert json.dumps(data, sort_keys=True) == before  # decode works on a copy
    label = node._label()
    if isinstance(decoded, str):
        assert decoded == owned
        assert decoded.startswith(label + ".") or decoded.startswith(label + ":"), decoded
        assert "does not decode" not in decoded, decoded  # the field was found
    else:
        check_model(node, decoded)
        assert not isinstance(owned, str), owned
        assert repr(decoded) == repr(owned)


def assert_encodes_or_names_a_field(node: SwaggerNode, value: Dict[str, Any]) -> None:
    label = node._label()
    try:
        body = node.encode(value)
    except (TypeError, ValueError) as e:
        message = str(e)
        named = [name for name in value if message.startswith("%s.%s" % (label, name))]
        assert named or message.startswith("%s: unknown field" % label), message
        return
    assert isinstance(body, dict)
    json.dumps(body, allow_nan=False).encode("utf-8")  # a body that can be sent


# -- hypothesis -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_encoding_random_values_encodes_or_names_the_field(version):
    nodes = schemas(version, "request")

    @FUZZ
    @given(st.data())
    def run(data):
        node = data.draw(st.sampled_from(nodes))
        names = list(fields_of(node)) + [UNKNOWN_FIELDS[0]]
        value = data.draw(st.dictionaries(st.sampled_from(names), python_values, max_size=4))
        assert_encodes_or_names_a_field(node, value)

    run()


@pytest.mark.parametrize("version", VERSIONS)
def test_decoding_random_json_gives_a_model_or_names_the_field(version):
    nodes = schemas(version, "response")

    @FUZZ
    @given(st.data())
    def run(data):
        node = data.draw(st.sampled_from(nodes))
        assert_decodes_or_names_a_field(node, data.draw(answers(node)))

    run()


@pytest.mark.parametrize("version", VERSIONS)
def test_gateway_json_decodes_and_encodes_back_to_itself(version):
    nodes = schemas(version, "response") + schemas(version, "request")

    @FUZZ
    @given(st.data())
    def run(data):
        node = data.draw(st.sampled_from(nodes))
        answer = data.draw(wire(node))
        decoded = node.decode(answer)
        check_model(node, decoded)
        assert node.encode(decoded) == answer
        assert node.decode_owned(json.loads(json.dumps(answer))) == decoded

    run()


# -- every wrong type in every field ------------------------------------------------------

WRONG_JSON = [0, 0.0, 1.5, -1, 2 ** 64, True, False, "", "abc", "YQ==", "12", "é", [], [1], [None], ["x"],
              {}, {"a": 1}, [{}], float("inf")]
# the JSON types a field of each kind can be at all
ACCEPTED_TYPES = {"object": (dict,), "map": (dict,), "array": (list,), "boolean": (bool,), "string": (str,),
                  "bytes": (str,), "int64": (str, int, float, bool), "integer": (str, int, float, bool),
                  "enum": (str, int), "number": (int, float)}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_wrong_type_in_every_response_field(version):
    for node in schemas(version, "response"):
        for name, field in fields_of(node).items():
            kind = kind_of(field)
            for value in WRONG_JSON:
                data = {name: value}
                assert_decodes_or_names_a_field(node, data)
                if type(value) not in ACCEPTED_TYPES[kind]:
                    with pytest.raises(Etcd3ProtocolError, match=r"^%s\.%s" % (node._label(), name)):
                        node.decode(data)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_wrong_type_in_every_request_field(version):
    for node in schemas(version, "request"):
        for name, field in fields_of(node).items():
            for value in WRONG_JSON + [b"\xff", "\udc80", ("a",), object()]:
                assert_encodes_or_names_a_field(node, {name: value})


def test_models_decode_every_wrong_type_under_a_list_of_messages():
    # a list of messages is decoded in one loop: a bad field deep in its third item is named
    node = schemas("3.5", "response")[0]._root.getSchema("etcdserverpbRangeResponse")
    for value in WRONG_JSON:
        for name in ("key", "value", "version", "lease"):
            data = {"kvs": [{"key": "YQ=="}, {"key": "Yg=="}, {"key": "Yw==", name: value}]}
            assert_decodes_or_names_a_field(node, data)


def test_the_sweep_covers_every_kind():
    kinds = {kind_of(field) for version in VERSIONS for side in ("request", "response")
             for node in schemas(version, side) for field in fields_of(node).values()}
    assert kinds >= {"object", "array", "boolean", "string", "bytes", "int64", "integer", "enum"}
