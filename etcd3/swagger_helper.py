"""Swagger (OpenAPI v2) documents as lazily built node trees, and the codec.

``SwaggerSpec`` wraps one swagger document.  ``SwaggerNode`` objects are made
only when touched and memoized on the spec that owns them (by JSON pointer), as
are the codecs and model classes built from schema nodes, so everything goes
away with the spec.

The codec turns Python values into the gateway's JSON (bytes as base64,
int64/uint64 as decimal strings, enums by name) and back into models.  It is
driven by one table keyed by (type, format); object schemas get a compiled
decoder because decoding large range responses is on the hot path.
"""
from __future__ import annotations

import binascii
import copy
import enum
import json
import threading
from typing import Any, Callable, Dict, List, Optional, Union

import jsonpointer
import yaml

from .models import EtcdMessage, enum_class

__all__ = ["swagger_escape", "SwaggerSpec", "SwaggerNode"]

_MODEL_PREFIXES = ("etcdserverpb", "mvccpb", "authpb", "v3lockpb", "v3electionpb")


def swagger_escape(s: str) -> str:
    """/ and ~ are special characters in JSON Pointers, and need to be escaped
    when used literally (for example, in path names).

    https://swagger.io/docs/specification/using-ref/#escape
    """
    return s.replace("~", "~0").replace("/", "~1")


class SwaggerSpec:
    """Parse the swagger spec of gRPC-JSON-Gateway to object tree."""

    def __init__(self, spec: Union[dict, str, bytes]) -> None:
        """:param spec: dict or json string or yaml string"""
        if isinstance(spec, bytes):
            spec = spec.decode("utf-8")
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError:
                spec = yaml.safe_load(spec)
        if not isinstance(spec, dict):
            raise TypeError("a swagger spec must be a mapping, got %s" % type(spec).__name__)
        self.spec: dict = spec
        # everything built from this document is cached here, keyed by JSON pointer
        self._nodes: Dict[str, SwaggerNode] = {}
        self._codecs: Dict[str, _Codec] = {}
        self._building: Dict[str, _Codec] = {}  # codecs being built (seen by the building thread only)
        self._models: Dict[str, type] = {}
        # codecs and models are built on first use, possibly by several threads at once
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return "SwaggerSpec(%r)" % self.spec.get("info", {}).get("title", "")

    def ref(self, ref_path: str) -> "SwaggerNode":
        """Get the node object from an absolute reference, e.g.
        ``spec.ref('#/definitions/etcdserverpbAlarmResponse')``."""
        pointer = ref_path[1:] if ref_path.startswith("#") else ref_path
        node = self._nodes.get(pointer)
        if node is None:
            try:
                raw = jsonpointer.resolve_pointer(self.spec, pointer)
            except jsonpointer.JsonPointerException as e:
                raise KeyError("%s: no such node in the spec (%s)" % (ref_path, e)) from None
            name = jsonpointer.JsonPointer(pointer).parts[-1] if pointer else None
            node = SwaggerNode(self, raw, pointer, name=name)
        return node

    def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        """Equivalent to ``self.spec.get(key)``."""
        return self.spec.get(key, *args, **kwargs)

    def getPath(self, key: Union["SwaggerNode", str]) -> "SwaggerNode":
        """The node of a path: a SwaggerNode, a ``$ref`` string or a path like ``/v3/kv/range``."""
        if isinstance(key, SwaggerNode):
            return key
        if key.startswith("#"):
            return self.ref(key)
        return self.ref("#/paths/" + swagger_escape(key))

    def getSchema(self, key: Union["SwaggerNode", str]) -> "SwaggerNode":
        """The node of a schema: a SwaggerNode, a ``$ref`` string or a definition name."""
        if isinstance(key, SwaggerNode):
            return key
        if key.startswith("#"):
            return self.ref(key)
        return self.ref("#/definitions/" + key)

    def getEnum(self, key: Union["SwaggerNode", str]) -> type:
        """The enum class of an enum schema."""
        node = self.getSchema(key)
        if "enum" not in node.resolved.node:
            raise TypeError("%s is not an enum schema" % node.path)
        return node.getModel()


class SwaggerNode:
    """A node of a swagger document: a path, a schema or an ordinary node.

    Children are reached by attribute or item access (``node.properties.key``);
    a ``$ref`` node is followed transparently.  As a schema it encodes and
    decodes payloads and gives the model class of the definition."""

    __slots__ = ("root", "node", "path", "parent", "name", "_resolved", "__weakref__")

    def __init__(self, root: SwaggerSpec, node: Any, path: str, parent: Optional["SwaggerNode"] = None,
                 name: Optional[str] = None) -> None:
        self.root = root
        self.node = node
        self.path = path
        self.parent = parent
        self.name = name
        root._nodes.setdefault(path, self)

    def __repr__(self) -> str:
        return "SwaggerNode(%r)" % ("#" + self.path)

    @property
    def resolved(self) -> "SwaggerNode":
        """The node a ``$ref`` points to (followed to the end), else this node."""
        try:
            return self._resolved
        except AttributeError:
            pass
        node = self
        seen = 0
        while isinstance(node.node, dict) and "$ref" in node.node:
            node = node.root.ref(node.node["$ref"])
            seen += 1
            if seen > 32:
                raise ValueError("$ref loop at %s" % self.path)
        self._resolved = node
        return node

    def _child(self, key: str) -> Any:
        target = self.resolved
        raw = target.node[key] if isinstance(target.node, dict) else target.node[int(key)]
        if not isinstance(raw, (dict, list)):
            return raw
        path = "%s/%s" % (target.path, swagger_escape(str(key)))
        node = self.root._nodes.get(path)
        return node if node is not None else SwaggerNode(self.root, raw, path, parent=target, name=str(key))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # our own (unset) slots and dunders, never spec keys
            raise AttributeError(key)
        try:
            return self._child(key)
        except (KeyError, IndexError, ValueError, TypeError):
            raise AttributeError("%s has no %r" % (self, key)) from None

    def __getitem__(self, key: Union[str, int]) -> Any:
        return self._child(key)

    def __contains__(self, key: str) -> bool:
        return key in self.resolved.node

    def __iter__(self):
        return iter(self.resolved.node)

    def __dir__(self):
        node = self.resolved.node
        return sorted(set(object.__dir__(self)) | (set(node) if isinstance(node, dict) else set()))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._child(key)
        except (KeyError, IndexError):
            return default

    @property
    def description(self) -> str:
        node = self.node if isinstance(self.node, dict) else {}
        return node.get("description") or node.get("title") or node.get("summary") or ""

    # -- schema behaviour ---------------------------------------------------
    def encode(self, data: Any) -> Any:
        """Encode ``data`` as the schema defines (to the gateway's JSON values)."""
        return _codec(self).encode(data, self)

    def decode(self, data: Any) -> Any:
        """Decode the gateway's JSON value ``data`` as the schema defines."""
        return _decoder(self)(copy.deepcopy(data))

    def decode_owned(self, data: Any) -> Any:
        """``decode`` for JSON that nobody else holds: its dicts become the models'."""
        return _decoder(self)(data)

    def getModel(self) -> type:
        """The model class of the schema: an ``EtcdMessage`` subclass for a message,
        an ``enum.Enum`` (and ``EtcdModel``) subclass for an enum; one per node.

        Null handling follows gogoproto's deserialization rule, as etcd3-py 0.1.6
        applied it: int -> 0, bool -> False, object -> None, array -> None,
        string -> "", bytes -> None; an absent enum is its first (default) member."""
        target = self.resolved
        model = target.root._models.get(target.path)
        if model is None:
            with target.root._lock:
                model = target.root._models.get(target.path)
                if model is None:
                    model = target.root._models[target.path] = _build_model(target)
        return model

    def _label(self) -> str:
        target = self.resolved
        return _model_name(target.name or target.path)


# -- models -----------------------------------------------------------------

def _model_name(definition: str) -> str:
    for prefix in _MODEL_PREFIXES:
        if definition.startswith(prefix) and len(definition) > len(prefix):
            return definition[len(prefix):]
    return definition


def _build_model(target: SwaggerNode) -> type:
    raw = target.node
    if "enum" in raw:
        return enum_class(target.name or "Enum", raw["enum"], "#" + target.path)
    properties = raw.get("properties", {})
    namespace: Dict[str, Any] = {
        "__slots__": (),
        "__doc__": (raw.get("description") or raw.get("title") or "") + "\n\nref: #" + target.path,
        "_fields": tuple(properties),
        "_field_set": frozenset(properties),
        "_array_fields": tuple(k for k, p in properties.items() if _kind(target.root, p) == "array"),
        "_ref": "#" + target.path,
        "__module__": "etcd3.models",
    }
    for name, prop in properties.items():
        namespace[name] = _default(target.root, prop)
    return type(_model_name(target.name or "Message"), (EtcdMessage,), namespace)


def _kind(root: SwaggerSpec, schema: dict) -> str:
    while "$ref" in schema:
        schema = root.ref(schema["$ref"]).node
    if "enum" in schema:
        return "enum"
    typ = schema.get("type", "object")
    if typ == "object" and "additionalProperties" in schema:
        return "map"
    if typ == "string" and schema.get("format") in _INT_FORMATS:
        return "int64"
    return {"string": "bytes" if schema.get("format") == "byte" else "string"}.get(typ, typ)


_INT_FORMATS = ("int64", "uint64")
_DEFAULTS = {"bytes": None, "string": "", "int64": 0, "integer": 0, "number": 0.0, "boolean": False}


def _default(root: SwaggerSpec, schema: dict) -> Any:
    kind = _kind(root, schema)
    if kind == "enum":
        target = schema
        node = None
        if "$ref" in schema:
            node = root.ref(schema["$ref"])
            target = node.resolved.node
        members = target.get("enum") or [None]
        cls = node.getModel() if node is not None else enum_class("Enum", members)
        return cls(members[0]) if members[0] is not None else None
    return _DEFAULTS.get(kind)  # bytes, message, array and map: None


# -- codec ------------------------------------------------------------------

class _Codec:
    """Encode/decode one schema node; built once per node, cached on its spec.
    ``prime()`` gives the final decode function (object decoders are compiled on
    first use, and schemas can be recursive)."""

    __slots__ = ("encode", "decode", "prime", "decode_list")

    def __init__(self) -> None:
        self.prime = lambda: self.decode
        # messages only: decode a whole JSON array of them in one call
        self.decode_list: Optional[Callable[[list], list]] = None


def _codec(node: SwaggerNode) -> _Codec:
    root = node.root
    key = node.path
    codec = root._codecs.get(key)
    if codec is None:
        with root._lock:
            codec = root._codecs.get(key) or root._building.get(key)
            if codec is None:
                # seen as "being built" first (schemas are recursive), published when done
                codec = root._building[key] = _Codec()
                try:
                    _build_codec(codec, node)
                    root._codecs[key] = codec
                finally:
                    del root._building[key]
    return codec


def _decoder(node: SwaggerNode) -> Callable[[Any], Any]:
    """The final decode function of a schema node (``$ref`` followed)."""
    return _codec(node.resolved).prime()


def _build_codec(codec: _Codec, node: SwaggerNode) -> None:
    raw = node.node
    if "$ref" in raw:
        target = node.resolved
        codec.encode = lambda data, label: _codec(target).encode(data, label)
        codec.decode = lambda data: _decoder(target)(data)
        codec.prime = lambda: _decoder(target)
        return
    kind = _kind(node.root, raw)
    _BUILDERS[kind](codec, node)


# Where a value sits, for error messages: the SwaggerNode being encoded, or a
# (parent label, field name | list index | [map key]) pair.  Made into text only for an error,
# so that encoding a valid request formats no strings.
Label = Any


def label_text(label: Label) -> str:
    if isinstance(label, tuple):
        parent, step = label
        if isinstance(step, int):  # a list index
            return "%s[%d]" % (label_text(parent), step)
        if isinstance(step, list):  # [a map key]
            return "%s[%r]" % (label_text(parent), step[0])
        return "%s.%s" % (label_text(parent), step)
    if isinstance(label, SwaggerNode):
        return label._label()
    return str(label)


def _type_error(label: Label, expected: str, value: Any) -> TypeError:
    return TypeError("%s: expected %s, got %r" % (label_text(label), expected, value))


def _build_bytes(codec: _Codec, node: SwaggerNode) -> None:
    b2a, a2b = binascii.b2a_base64, binascii.a2b_base64

    def encode(data, label):
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise _type_error(label, "bytes or str", data)
        return b2a(data, newline=False).decode("ascii")

    def decode(data):
        return a2b(data) if data else None

    codec.encode, codec.decode = encode, decode


def _build_int64(codec: _Codec, node: SwaggerNode) -> None:
    unsigned = node.node.get("format") == "uint64"
    low, high = (0, 2 ** 64 - 1) if unsigned else (-(2 ** 63), 2 ** 63 - 1)

    def encode(data, label):
        if isinstance(data, bool) or not isinstance(data, int):
            raise _type_error(label, "int", data)
        if not low <= data <= high:
            raise ValueError("%s: %d is out of range for %s" % (label_text(label), data, node.node.get("format")))
        return str(data)

    codec.encode, codec.decode = encode, int


def _build_integer(codec: _Codec, node: SwaggerNode) -> None:
    def encode(data, label):
        if isinstance(data, bool) or not isinstance(data, int):
            raise _type_error(label, "int", data)
        return data

    codec.encode, codec.decode = encode, int


def _build_number(codec: _Codec, node: SwaggerNode) -> None:
    def encode(data, label):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise _type_error(label, "number", data)
        return data

    codec.encode, codec.decode = encode, float


def _build_boolean(codec: _Codec, node: SwaggerNode) -> None:
    def encode(data, label):
        if not isinstance(data, bool):
            raise _type_error(label, "bool", data)
        return data

    codec.encode, codec.decode = encode, bool


def _build_string(codec: _Codec, node: SwaggerNode) -> None:
    def encode(data, label):
        if not isinstance(data, str):
            raise _type_error(label, "str", data)
        return data

    codec.encode, codec.decode = encode, lambda data: data


def _build_enum(codec: _Codec, node: SwaggerNode) -> None:
    members = node.node["enum"]
    cls = node.getModel()
    by_name = {m: cls(m) for m in members}

    def encode(data, label):
        if isinstance(data, enum.Enum):
            data = data.name
        elif isinstance(data, int) and not isinstance(data, bool):
            if not 0 <= data < len(members):
                raise ValueError("%s: %d is not a valid %s (0..%d)"
                                 % (label_text(label), data, cls.__name__, len(members) - 1))
            return members[data]
        if isinstance(data, str):
            upper = data.upper()
            if upper in by_name:
                return upper
            raise ValueError("%s: %r is not a valid %s; choose from %s"
                             % (label_text(label), data, cls.__name__, ", ".join(members)))
        raise _type_error(label, "%s member or name" % cls.__name__, data)

    def decode(data):
        try:
            return by_name[data]
        except KeyError:
            if isinstance(data, int) and 0 <= data < len(members):
                return by_name[members[data]]
            return data  # an enum value newer than the spec: keep it as it is

    codec.encode, codec.decode = encode, decode


def _build_array(codec: _Codec, node: SwaggerNode) -> None:
    items = node.items

    def encode(data, label):
        if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
            raise _type_error(label, "a list", data)
        item_encode = _codec(items).encode
        return [item_encode(v, (label, i)) for i, v in enumerate(data)]

    def decode(data):
        if data is None:
            return None
        item_decode = _decoder(items)  # cheap once primed: a cached node and a dict lookup
        decode_list = _codec(items.resolved).decode_list
        if decode_list is not None:  # messages: the whole list in one loop
            return decode_list(data)
        return [item_decode(v) for v in data]

    codec.encode, codec.decode = encode, decode


def _build_map(codec: _Codec, node: SwaggerNode) -> None:
    values = node.additionalProperties

    def encode(data, label):
        if not isinstance(data, dict):
            raise _type_error(label, "a dict", data)
        value_encode = _codec(values).encode
        return {str(k): value_encode(v, (label, [k])) for k, v in data.items()}

    def decode(data):
        value_decode = _decoder(values)
        return {k: value_decode(v) for k, v in (data or {}).items()}

    codec.encode, codec.decode = encode, decode


_IDENTITY_KINDS = ("string", "boolean", "integer", "number")


def _build_object(codec: _Codec, node: SwaggerNode) -> None:
    properties = node.node.get("properties", {})
    model = node.getModel()
    label_name = model.__name__
    state: Dict[str, Any] = {}

    def field_codecs() -> Dict[str, _Codec]:
        fields = state.get("fields")
        if fields is None:
            props = node.properties if properties else {}
            fields = state["fields"] = {name: _codec(props[name]) for name in properties}
        return fields

    def encode(data, label):
        if isinstance(data, EtcdMessage):
            data = {k: v for k, v in data.__dict__.items()}
        elif not isinstance(data, dict):
            raise _type_error(label, "%s (a dict or model)" % label_name, data)
        fields = field_codecs()
        out = {}
        for key, value in data.items():
            if value is None:
                continue
            field = fields.get(key)
            if field is None:
                raise TypeError("%s: unknown field %r; fields are: %s"
                                % (label_text(label), key, ", ".join(properties)))
            out[key] = field.encode(value, (label, key))
        return out

    def build_decoder() -> Callable:
        # int64 and bytes fields are converted by type, nested messages by their
        # codec; fields whose JSON value is already right need no work at all
        def converter(field: SwaggerNode) -> Optional[Callable]:
            kind = _kind(node.root, field.node)
            if kind in _IDENTITY_KINDS:
                return None
            if kind == "int64":
                return int
            if kind == "bytes":
                return binascii.a2b_base64
            return _decoder(field)

        # straight-line code per schema: this runs once per decoded message (and a list
        # of messages is one loop of it: decode_list, which the list's codec calls)
        # the decoded values replace the JSON ones in place: decoders get a fresh copy
        # (SwaggerNode.decode) or JSON that nobody else holds (the clients' responses)
        body: List[str] = []
        env: Dict[str, Any] = {"new": object.__new__, "model": model}
        for i, name in enumerate(properties):
            field = node.properties[name]
            convert = "convert_%d" % i
            if _kind(node.root, field.node) == "array":
                # lists of JSON-ready values stay as they are; others go through the list's codec
                ready = _kind(node.root, field.resolved.items.node) in _IDENTITY_KINDS
                env[convert] = None if ready else converter(field)
                # an absent list stays absent: the class default (None) answers for it
                if env[convert] is not None:
                    body += ["value = values.get(%r)" % name, "if value is not None:",
                             "    values[%r] = %s(value)" % (name, convert)]
                continue
            env[convert] = converter(field)
            if env[convert] is not None:
                body += ["value = values.get(%r)" % name, "if value is not None:",
                         "    values[%r] = %s(value)" % (name, convert)]
        # the converters are bound as default arguments: local names are the fastest to load
        bound = "".join(", %s=%s" % (name, name) for name, value in env.items() if value is not None)
        lines = ["def decode(values%s):" % bound, "    if values is None:", "        return None"]
        lines += ["    " + line for line in body]
        lines += ["    obj = new(model)", "    obj.__dict__ = values", "    return obj", "",
                  "def decode_list(items%s):" % bound, "    out = []", "    append = out.append",
                  "    for values in items:",
                  "        if values is None:", "            append(None)", "            continue"]
        lines += ["        " + line for line in body]
        lines += ["        obj = new(model)", "        obj.__dict__ = values", "        append(obj)", "    return out"]
        exec(compile("\n".join(lines), "<decoder of %s>" % label_name, "exec"), env)
        codec.decode_list = env["decode_list"]
        return env["decode"]

    def prime():
        decoder = state.get("decoder")
        if decoder is None:
            with node.root._lock:
                decoder = state.get("decoder")
                if decoder is None:
                    if state.get("building"):
                        return decode_lazily  # a recursive schema, in this thread: bind late
                    state["building"] = True
                    decoder = state["decoder"] = codec.decode = build_decoder()
        return decoder

    def decode_lazily(data):
        return prime()(data)

    codec.encode, codec.decode, codec.prime = encode, decode_lazily, prime


_BUILDERS: Dict[str, Callable[[_Codec, SwaggerNode], None]] = {
    "bytes": _build_bytes,
    "int64": _build_int64,
    "integer": _build_integer,
    "number": _build_number,
    "boolean": _build_boolean,
    "string": _build_string,
    "enum": _build_enum,
    "array": _build_array,
    "map": _build_map,
    "object": _build_object,
}
