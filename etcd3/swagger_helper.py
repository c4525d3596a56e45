"""Swagger (OpenAPI v2) documents as lazily built node trees, and the codec.

``SwaggerSpec`` wraps one swagger document.  ``SwaggerNode`` objects are made
only when touched and memoized on the spec that owns them (by JSON pointer), as
are the codecs and model classes built from schema nodes, so everything goes
away with the spec.

Nodes are navigated as in etcd3-py 0.1.6: ``spec.definitions``,
``node.properties.key``, ``responses._200`` (a name that is no Python
identifier is reached by its escaped form: digits get a leading ``_``, keywords
a trailing ``_``, other characters become ``_``).

The codec turns Python values into the gateway's JSON (bytes as base64,
int64/uint64 as decimal strings, enums by name) and back into models.  It is
driven by one table keyed by (type, format); object schemas get a compiled
decoder because decoding large range responses is on the hot path.  A server's
value of the wrong type is an ``Etcd3ProtocolError`` naming the field; a value
that cannot be encoded is a TypeError or ValueError naming it.
"""
from __future__ import annotations

import binascii
import copy
import enum
import json
import keyword
import operator
import os
import re
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from .errors import Etcd3ProtocolError
from .transport import forksafe
from .models import EtcdMessage, enum_class

__all__ = ["swagger_escape", "SwaggerSpec", "SwaggerNode", "PROP_ENCODERS", "PROP_DECODERS", "SCHEMA_TYPES"]

_MODEL_PREFIXES = ("etcdserverpb", "mvccpb", "authpb", "v3lockpb", "v3electionpb")

# the schema types the codec handles
SCHEMA_TYPES = ("string", "integer", "number", "boolean", "array", "object")


def swagger_escape(s: str) -> str:
    """/ and ~ are special characters in JSON Pointers, and need to be escaped
    when used literally (for example, in path names).

    https://swagger.io/docs/specification/using-ref/#escape
    """
    return s.replace("~", "~0").replace("/", "~1")


def _pointer_unescape(s: str) -> str:
    return s.replace("~1", "/").replace("~0", "~")


_NON_WORD = re.compile(r"\W")
_GATEWAY_PREFIX = re.compile(r"^/v3(?:alpha|beta)?(?=/)")


def _attr_name(key: str) -> str:
    """The attribute name a spec key is reached by (0.1.6's escaping):
    ``'/v3/kv/put'`` -> ``'v3_kv_put'``, ``'200'`` -> ``'_200'``, ``'in'`` -> ``'in_'``."""
    name = _NON_WORD.sub("_", key.lstrip("/"))
    if name[:1].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def _match_key(raw: dict, key: str) -> Optional[str]:
    """The key of ``raw`` that ``key`` names: itself, or a key whose escaped form it is."""
    if key in raw:
        return key
    for candidate in raw:
        if isinstance(candidate, str) and _attr_name(candidate) == key:
            return candidate
    return None


_MISSING = object()


# -- loading -----------------------------------------------------------------

def _parse_text(text: Union[str, bytes]) -> Any:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError("Fail to load spec: not UTF-8 text (%s)" % e) from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml  # only YAML specs need it, and it is slow to import

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError("Fail to load spec: neither JSON nor YAML (%s)" % e) from None


def _load_spec(spec: Any) -> dict:
    """A dict, a file object, a path to a JSON/YAML file, or JSON/YAML text -> the spec dict."""
    if isinstance(spec, dict):
        return spec
    if hasattr(spec, "read"):
        start = spec.tell() if hasattr(spec, "seekable") and spec.seekable() else None
        loaded = _parse_text(spec.read())
        if start is not None:
            spec.seek(start)  # as 0.1.6 did: the caller's file is left where it was
    elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and len(spec) < 255 and "\n" not in spec
                                           and os.path.isfile(spec)):
        with open(spec, "rb") as f:
            loaded = _parse_text(f.read())
    elif isinstance(spec, (str, bytes, bytearray)):
        loaded = _parse_text(spec)
    else:
        raise TypeError("spec should be one of dict, path, file obj, spec string; got %s" % type(spec).__name__)
    if not isinstance(loaded, dict):
        raise ValueError("Fail to load spec: a mapping expected, the text gives a %s" % type(loaded).__name__)
    return loaded


# names of SwaggerSpec's own attributes: never looked up among the spec's keys
_SPEC_INTERNAL = frozenset({"spec", "_spec", "_nodes", "_refs", "_lookups", "_codecs", "_building", "_models",
                            "_lock", "_path", "_first_definitions", "_first_paths"})


class SwaggerSpec:
    """Parse the swagger spec of gRPC-JSON-Gateway to object tree.

    Top-level keys are attributes: ``spec.swagger == '2.0'``, ``spec.definitions``
    (a node)."""

    def __init__(self, spec: Union[dict, str, bytes, "os.PathLike[str]", Any]) -> None:
        """:param spec: a dict, a file object, a path to a JSON or YAML file, or a JSON or YAML string"""
        self.spec: dict = _load_spec(spec)
        # everything built from this document is cached here, keyed by JSON pointer
        self._nodes: Dict[str, SwaggerNode] = {}
        self._refs: Dict[str, Any] = {}  # a ref as asked for (any spelling) -> its node
        self._lookups: Dict[Tuple[str, str], Any] = {}  # getPath / getSchema answers, misses included
        self._codecs: Dict[str, _Codec] = {}
        self._building: Dict[str, _Codec] = {}  # codecs being built (seen by the building thread only)
        self._models: Dict[str, Any] = {}
        # codecs and models are built on first use, possibly by several threads at once
        self._lock = threading.RLock()
        forksafe.register(self)

    def _after_fork_in_child(self) -> None:
        # a thread of the parent may have held the lock, half-way through a build
        self._lock = threading.RLock()
        self._building.clear()

    def __repr__(self) -> str:
        info = self.spec.get("info")
        return "<SwaggerSpec %r>" % (info.get("title", "") if isinstance(info, dict) else "")

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__") or key in _SPEC_INTERNAL:  # (not set yet: no spec to look in)
            raise AttributeError(key)
        spec = self.spec
        real = _match_key(spec, key)
        if real is None:
            raise AttributeError("%r has no top-level key %r" % (self, key))
        value = spec[real]
        return self._node_at("/" + swagger_escape(real), value, real) if isinstance(value, dict) else value

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | {_attr_name(k) for k in self.spec if isinstance(k, str)})

    def _node_at(self, pointer: str, raw: Any, name: Optional[str], parent: Optional["SwaggerNode"] = None
                 ) -> "SwaggerNode":
        node = self._nodes.get(pointer)
        if node is None:
            SwaggerNode(self, raw, pointer, parent=parent, name=name)
            node = self._nodes[pointer]  # the one that was registered first, if threads raced
        return node

    def ref(self, ref_path: str) -> Any:
        """Get the node object from an absolute reference, e.g.
        ``spec.ref('#/definitions/etcdserverpbAlarmResponse')``.

        Segments are JSON Pointer escaped (``#/paths/~1v3~1kv~1put``) or escaped as
        attribute names (``#/paths/v3_kv_put``).  A dict is given as a node, any
        other value as it is; a reference not starting with ``#/`` gives None; a
        missing one ValueError."""
        if not isinstance(ref_path, str) or not ref_path.startswith("#/"):
            return None
        found = self._refs.get(ref_path, _MISSING)
        if found is _MISSING:
            found = self._refs[ref_path] = self._walk(ref_path)
        return found

    def _walk(self, ref_path: str) -> Any:
        value: Any = self.spec
        pointer = ""
        name = None
        for segment in ref_path[2:].split("/"):
            step = _pointer_unescape(segment)
            if isinstance(value, dict):
                real = _match_key(value, step)
                if real is None and step != segment:
                    real = _match_key(value, segment)
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                real = int(step)
            else:
                real = None
            if real is None:
                raise ValueError("No reference %r found in the spec (no %r at %r)" % (ref_path, step, "#" + pointer))
            value = value[real]
            name = str(real)
            pointer += "/" + swagger_escape(name)
        return self._node_at(pointer, value, name) if isinstance(value, dict) else value

    def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        """Equivalent to ``self.spec.get(key)``."""
        return self.spec.get(key, *args, **kwargs)

    def _prefix(self) -> str:
        """The gateway prefix of the paths (``/v3beta``): the first segment of the first path."""
        for path in self.spec.get("paths") or ():
            return "/" + path.lstrip("/").split("/", 1)[0]
        return ""

    def getPath(self, key: Union["SwaggerNode", str]) -> Optional["SwaggerNode"]:
        """The node of a path: a SwaggerNode, a ``$ref`` string, or a path with or
        without the gateway prefix (``'/kv/put'``, ``'/v3beta/kv/put'``); None if unknown."""
        if isinstance(key, SwaggerNode):
            return key
        if not isinstance(key, str):
            raise TypeError("getPath() takes a path string or a SwaggerNode, got %r" % (key,))
        found = self._lookups.get(("path", key), _MISSING)
        if found is _MISSING:
            found = self._lookups[("path", key)] = self._find_path(key)
        return found

    def _find_path(self, key: str) -> Optional["SwaggerNode"]:
        if key.startswith("#/"):
            try:
                found = self.ref(key)
            except ValueError:
                return None
            return found if isinstance(found, SwaggerNode) else None
        paths = self.spec.get("paths") or {}
        path = "/" + key.lstrip("/")
        prefix = self._prefix()
        # another version's gateway prefix (/v3alpha, /v3beta, /v3) names the same RPC
        unprefixed = _GATEWAY_PREFIX.sub("", path, 1)
        for candidate in (prefix + path, path, prefix + unprefixed):
            if candidate in paths:
                return self._node_at("/paths/" + swagger_escape(candidate), paths[candidate], candidate)
        return None

    def getSchema(self, key: Union["SwaggerNode", str]) -> Optional["SwaggerNode"]:
        """The node of a schema: a SwaggerNode, a ``$ref`` string or a definition name; None if unknown."""
        if isinstance(key, SwaggerNode):
            return key
        if not isinstance(key, str):
            raise TypeError("getSchema() takes a definition name, a $ref or a SwaggerNode, got %r" % (key,))
        found = self._lookups.get(("schema", key), _MISSING)
        if found is _MISSING:
            ref = key if key.startswith("#/") else "#/definitions/" + swagger_escape(key)
            try:
                found = self.ref(ref)
            except ValueError:
                found = None
            if not isinstance(found, SwaggerNode):
                found = None
            self._lookups[("schema", key)] = found
        return found

    def getEnum(self, key: Union["SwaggerNode", str]) -> type:
        """The enum class (from ``etcd3.models``) of an enum schema."""
        node = self.getSchema(key)
        if node is None:
            raise ValueError("no schema %r in the spec" % (key,))
        if not node._is_enum:
            raise TypeError("schema %s is not an enum" % node._ref)
        return node.getModel()


# names of SwaggerNode's own attributes: never looked up among the spec's keys
_NODE_INTERNAL = frozenset({"_root", "_node", "_pointer", "_parent", "_name", "_resolved"})
# what 0.1.6 set on every schema node: None where the schema does not say
_SCHEMA_ATTRIBUTES = frozenset({"type", "description", "title", "required", "format", "default", "enum"})


class SwaggerNode:
    """A node of a swagger document: a path, a schema or an ordinary node.

    Children are reached by attribute or item access (``node.properties.key``,
    ``node['post']``, ``responses._200``); a ``$ref`` node is seen merged with its
    target.  As a schema it encodes and decodes payloads and gives the model
    class of the definition."""

    __slots__ = ("_root", "_node", "_pointer", "_parent", "_name", "_resolved", "__weakref__")

    def __init__(self, root: SwaggerSpec, node: Any, path: Union[str, List[str], Tuple[str, ...]],
                 parent: Optional["SwaggerNode"] = None, name: Optional[str] = None) -> None:
        """:param path: the JSON pointer of the node (``'/definitions/X'`` or ``'#/definitions/X'``)
        or its list of segments"""
        if isinstance(path, (list, tuple)):
            pointer = "".join("/" + swagger_escape(str(segment)) for segment in path)
        else:
            pointer = path[1:] if path.startswith("#") else path
        self._root = root
        self._node = node
        self._pointer = pointer
        self._parent = parent
        self._name = name
        root._nodes.setdefault(pointer, self)

    # -- what the node is ------------------------------------------------------
    @property
    def _path(self) -> List[str]:
        """The segments of the node's JSON pointer."""
        return [_pointer_unescape(s) for s in self._pointer.split("/")[1:]]

    @property
    def _ref(self) -> str:
        """The reference of the node (of its target, for a ``$ref`` node)."""
        return "#" + self.resolved._pointer

    @property
    def _is_path(self) -> bool:
        parts = self._pointer.split("/")
        return len(parts) == 3 and parts[1] == "paths"

    @property
    def _is_schema(self) -> bool:
        raw = self.resolved._node
        return isinstance(raw, dict) and isinstance(raw.get("type"), str)

    @property
    def _is_enum(self) -> bool:
        raw = self.resolved._node
        return isinstance(raw, dict) and "enum" in raw

    def __repr__(self) -> str:
        kind = "SwaggerPath" if self._is_path else "SwaggerSchema" if self._is_schema else "SwaggerNode"
        return "%s(ref=%r)" % (kind, self._ref)

    @property
    def resolved(self) -> "SwaggerNode":
        """The node a ``$ref`` points to (followed to the end), else this node."""
        try:
            return self._resolved
        except AttributeError:
            pass
        node = self
        seen = 0
        while isinstance(node._node, dict) and "$ref" in node._node:
            target = node._root.ref(node._node["$ref"])
            if not isinstance(target, SwaggerNode):
                raise ValueError("%s: $ref %r is not a node" % (self._pointer, node._node["$ref"]))
            node = target
            seen += 1
            if seen > 32:
                raise ValueError("$ref loop at %s" % self._pointer)
        self._resolved = node
        return node

    # -- children ------------------------------------------------------------------
    def _raw_keys(self) -> List[Any]:
        raw = self._node
        if not isinstance(raw, dict):
            return list(range(len(raw))) if isinstance(raw, list) else []
        if "$ref" not in raw:
            return list(raw)
        merged = [k for k in self.resolved._raw_keys() if k not in raw]
        return [k for k in raw if k != "$ref"] + merged

    def _child(self, key: Union[str, int]) -> Any:
        """The child ``key`` (a raw or escaped key; an index of a list node): a dict as a
        node, a list as a list of children, anything else as it is.  KeyError if missing."""
        raw = self._node
        if isinstance(raw, list):
            try:
                index = int(key)
                value = raw[index]
            except (ValueError, IndexError):
                raise KeyError(key) from None
            return self._wrap(value, str(index))
        if not isinstance(raw, dict):
            raise KeyError(key)
        real = _match_key(raw, key) if isinstance(key, str) and key != "$ref" else None
        if real is None:
            if "$ref" in raw:  # the target's keys, under the node's own (its siblings win)
                return self.resolved._child(key)
            raise KeyError(key)
        return self._wrap(raw[real], real)

    def _wrap(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and "$ref" in value:  # a bare reference is its target
                target = self._root.ref(value["$ref"])
                if isinstance(target, SwaggerNode):
                    return target
            return self._root._node_at(self._pointer + "/" + swagger_escape(name), value, name, parent=self)
        if isinstance(value, list):
            pointer = self._pointer + "/" + swagger_escape(name)
            return [self._root._node_at("%s/%d" % (pointer, i), item, str(i), parent=self)
                    if isinstance(item, dict) else item for i, item in enumerate(value)]
        return value

    def __getattr__(self, key: str) -> Any:
        if key in _NODE_INTERNAL or key.startswith("__"):  # our own unset slots, dunders
            raise AttributeError(key)
        if key == "enum" and self._is_enum:
            return self.getModel()
        try:
            return self._child(key)
        except KeyError:
            pass
        if key in _SCHEMA_ATTRIBUTES and self._is_schema:
            return None
        raise AttributeError("%r has no attribute %r" % (self, key))

    def __getitem__(self, key: Union[str, int]) -> Any:
        return self._child(key)

    def __contains__(self, key: object) -> bool:
        return key in self._raw_keys()

    def __iter__(self) -> Iterator[Any]:
        """The children (nodes for dicts, values as they are otherwise)."""
        for key in self._raw_keys():
            yield self._child(key)

    def _keys(self) -> List[Any]:
        return self._raw_keys()

    def _values(self) -> List[Any]:
        return list(self)

    def _items(self) -> List[Tuple[Any, Any]]:
        return [(key, self._child(key)) for key in self._raw_keys()]

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | {_attr_name(k) for k in self._raw_keys() if isinstance(k, str)})

    def get(self, key: str, default: Any = None) -> Any:
        """The child ``key``, or ``default`` if there is none."""
        try:
            return self._child(key)
        except KeyError:
            return default

    # -- schema behaviour ---------------------------------------------------
    def encode(self, data: Any) -> Any:
        """Encode ``data`` as the schema defines (to the gateway's JSON values).
        A value that does not fit raises TypeError or ValueError naming the field."""
        try:
            return _codec(self).encode(data, self)
        except RecursionError:  # a value nested in itself (a list that holds itself...)
            raise ValueError("%s: nested too deeply to encode" % self._label()) from None

    def decode(self, data: Any) -> Any:
        """Decode the gateway's JSON value ``data`` as the schema defines (a message
        as its model).  A value of the wrong type raises ``Etcd3ProtocolError``
        naming the field (``RangeResponse.kvs: expected a list, got 'abc'``)."""
        try:
            return _decoder(self)(copy.deepcopy(data))
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the fast decoder tripped on: explained below
            raise decode_error(self, data, e) from None

    def decode_owned(self, data: Any) -> Any:
        """``decode`` for JSON that nobody else holds: its dicts become the models'."""
        try:
            return _decoder(self)(data)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the fast decoder tripped on: explained below
            raise decode_error(self, data, e) from None

    def getModel(self) -> Any:
        """The model of the schema: an ``EtcdMessage`` subclass for a message (one per
        node; ``Model(decoded_dict)`` builds one), an ``enum.Enum`` (and ``EtcdModel``)
        subclass for an enum, for an array a function from a list to a list of item
        models, for a scalar the identity.

        Null handling follows gogoproto's deserialization rule, as etcd3-py 0.1.6
        applied it: int -> 0, bool -> False, object -> None, array -> None,
        string -> "", bytes -> None; an absent enum is its first (default) member."""
        target = self.resolved
        model = target._root._models.get(target._pointer)
        if model is None:
            with target._root._lock:
                model = target._root._models.get(target._pointer)
                if model is None:
                    model = target._root._models[target._pointer] = _build_model(target)
        return model

    def _label(self) -> str:
        target = self.resolved
        return _model_name(target._name or target._pointer)


# -- models -----------------------------------------------------------------

def _model_name(definition: str) -> str:
    for prefix in _MODEL_PREFIXES:
        if definition.startswith(prefix) and len(definition) > len(prefix):
            return definition[len(prefix):]
    return definition


def _build_model(target: SwaggerNode) -> Any:
    raw = target._node
    if "enum" in raw:
        return enum_class(target._name or "Enum", raw["enum"], "#" + target._pointer)
    kind = _kind(target._root, raw)
    if kind == "array":
        return _list_model(target)
    if kind != "object":
        return _identity
    properties = raw.get("properties", {})
    namespace: Dict[str, Any] = {
        "__slots__": (),
        "__doc__": (raw.get("description") or raw.get("title") or "") + "\n\nref: #" + target._pointer,
        "_fields": tuple(properties),
        "_field_set": frozenset(properties),
        "_array_fields": tuple(k for k, p in properties.items() if _kind(target._root, p) == "array"),
        "_ref": "#" + target._pointer,
        "_node": target,
        "_make_converters": staticmethod(lambda: _field_converters(target)),
        "__module__": "etcd3.models",
    }
    for name, prop in properties.items():
        namespace[name] = _default(target._root, prop)
    return type(_model_name(target._name or "Message"), (EtcdMessage,), namespace)


def _identity(data: Any) -> Any:
    return data


def _list_model(node: SwaggerNode) -> Callable[[Any], Any]:
    label = node._label()

    def to_models(data: Any) -> Any:
        if data is None:
            return None
        if not isinstance(data, (list, tuple)):
            raise TypeError("%s: a list or tuple expected, got a %r instead" % (label, type(data).__name__))
        item_model = node.items.getModel()
        if isinstance(item_model, type) and issubclass(item_model, enum.Enum):
            return [item_model[item.upper()] if isinstance(item, str) and item.upper() in item_model.__members__
                    else item for item in data]
        return [item_model(item) if isinstance(item, (dict, EtcdMessage)) or item_model is _identity else item
                for item in data]

    return to_models


def _field_converters(node: SwaggerNode) -> Dict[str, Callable[[Any], Any]]:
    """For ``Model(decoded_dict)``: per field, what turns a nested dict into its model
    (lists of them item by item) and an enum name into its member."""
    converters: Dict[str, Callable[[Any], Any]] = {}
    for name, prop in (node._node.get("properties") or {}).items():
        field = node.properties[name]
        kind = _kind(node._root, prop)
        if kind == "array":
            item = field.resolved.items
            item_kind = _kind(node._root, item._node)
            if item_kind in ("object", "enum"):
                convert = _value_converter(item, item_kind)
                converters[name] = (lambda convert: lambda v: [convert(x) for x in v]
                                    if isinstance(v, (list, tuple)) else v)(convert)
        elif kind in ("object", "enum"):
            converters[name] = _value_converter(field, kind)
    return converters


def _value_converter(node: SwaggerNode, kind: str) -> Callable[[Any], Any]:
    model = node.getModel()
    if kind == "enum":
        def to_member(value: Any) -> Any:
            if isinstance(value, str) and value.upper() in model.__members__:
                return model[value.upper()]
            return value
        return to_member
    return lambda value: model(value) if isinstance(value, dict) else value


def _resolved_schema(root: SwaggerSpec, schema: dict) -> dict:
    """The raw schema a ``$ref`` leads to (followed to the end), as ``SwaggerNode.resolved``."""
    while "$ref" in schema:
        schema = root.ref(schema["$ref"])._node
    return schema


def _kind(root: SwaggerSpec, schema: dict) -> str:
    schema = _resolved_schema(root, schema)
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
            target = node.resolved._node
        members = target.get("enum") or [None]
        cls = node.getModel() if node is not None else enum_class("Enum", members)
        return cls(members[0]) if members[0] is not None else None
    return _DEFAULTS.get(kind)  # bytes, message, array and map: None


# -- scalar encoders and decoders ---------------------------------------------

# Where a value sits, for error messages: the SwaggerNode being encoded, or a
# (parent label, field name | list index | [map key]) pair.  Made into text only for an error,
# so that encoding a valid request formats no strings.
Label = Any


def label_text(label: Label) -> str:
    # a loop, not recursion: a label can be as deep as the value that was too deep to encode
    steps = []
    while isinstance(label, tuple):
        label, step = label
        steps.append(step)
    if label is None:
        text = "value"
    elif isinstance(label, SwaggerNode):
        text = label._label()
    else:
        text = str(label)
    for step in reversed(steps):
        if isinstance(step, int):  # a list index
            text += "[%d]" % step
        elif isinstance(step, list):  # [a map key]
            text += "[%r]" % step[0]
        else:
            text += ".%s" % step
    return text


def _label_root(label: Label) -> Label:
    while isinstance(label, tuple):
        label = label[0]
    return label


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a server's answer can be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_error(label: Label, expected: str, value: Any) -> TypeError:
    return TypeError("%s: expected %s, got %s" % (label_text(label), expected, _short(value, 120)))


_DECIMAL = re.compile(r"[+-]?[0-9]+\Z")


def _as_int(data: Any, label: Label) -> int:
    """An int from what can only mean one: an int, a decimal string (as the gateway's
    JSON writes int64), an integral float; never a bool."""
    if isinstance(data, str):
        text = data.strip()
        if _DECIMAL.match(text):
            return int(text)
    elif isinstance(data, float):
        if data.is_integer():
            return int(data)
    elif not isinstance(data, bool) and hasattr(data, "__index__"):  # int subclasses, numpy integers
        return operator.index(data)
    raise _type_error(label, "int", data)


_INT_BOUNDS = {"int64": (-(2 ** 63), 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1),
               "int32": (-(2 ** 31), 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1)}


def _int_encoder(fmt: str, as_text: bool) -> Callable[..., Any]:
    low, high = _INT_BOUNDS[fmt]

    def encode(data: Any, label: Label = None) -> Any:
        if data.__class__ is not int:
            data = _as_int(data, label)
        if not low <= data <= high:
            raise ValueError("%s: %d is out of range for %s" % (label_text(label), data, fmt))
        return str(data) if as_text else data

    encode.__name__ = "encode_" + fmt
    return encode


def encode_bytes(data: Any, label: Label = None) -> str:
    """bytes-like as they are, str as UTF-8, an int or float as its decimal text -> base64."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate
            raise _not_utf8(label, data, e) from None
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            data = str(data).encode("ascii")  # 0.1.6 stored put('n', 5) as b'5'
        else:
            raise _type_error(label, "bytes or str", data)
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def encode_boolean(data: Any, label: Label = None) -> bool:
    """True/False, and 0/1 as 0.1.6 accepted them (``prev_kv=1``)."""
    if data is True or data is False:
        return data
    if not isinstance(data, bool) and isinstance(data, int) and data in (0, 1):
        return bool(data)
    raise _type_error(label, "bool", data)


def encode_string(data: Any, label: Label = None) -> str:
    """str as it is, bytes as UTF-8 text."""
    if isinstance(data, str):
        if not data.isascii():
            try:
                data.encode("utf-8")  # the request body is UTF-8: a lone surrogate cannot go
            except UnicodeEncodeError as e:
                raise _not_utf8(label, data, e) from None
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("%s: %r is not UTF-8 text" % (label_text(label), bytes(data))) from None
    raise _type_error(label, "str", data)


def encode_number(data: Any, label: Label = None) -> Any:
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise _type_error(label, "number", data)
    return data


def _not_utf8(label: Label, data: str, error: UnicodeEncodeError) -> ValueError:
    return ValueError("%s: %s is not encodable as UTF-8 (%s at %d)"
                      % (label_text(label), _short(data), error.reason, error.start))


def decode_bytes(data: Any) -> Optional[bytes]:
    if data is None:
        return None
    if isinstance(data, (str, bytes, bytearray)):
        return binascii.a2b_base64(data) if data else None
    raise TypeError("expected base64 text, got %s" % _short(data))


def decode_string(data: Any) -> str:
    return data if data else ""


# the scalar codecs by swagger format (else type); encoders take (value, label=None)
PROP_ENCODERS: Dict[str, Callable[..., Any]] = {
    "byte": encode_bytes,
    "int64": _int_encoder("int64", True),   # int64/uint64 travel as decimal strings
    "uint64": _int_encoder("uint64", True),
    "int32": _int_encoder("int32", False),
    "uint32": _int_encoder("uint32", False),
    "integer": _int_encoder("int64", False),
    "boolean": encode_boolean,
    "string": encode_string,
    "number": encode_number,
    "double": encode_number,
    "float": encode_number,
}
PROP_DECODERS: Dict[str, Callable[[Any], Any]] = {
    "byte": decode_bytes,
    "int64": int,
    "uint64": int,
    "int32": int,
    "uint32": int,
    "integer": int,
    "boolean": bool,
    "string": decode_string,
    "number": float,
    "double": float,
    "float": float,
}


# -- what is wrong with an answer ------------------------------------------------
# The compiled decoders trust the JSON's types and fail on a wrong one with whatever
# Python raises.  Only then is the answer walked again, by ``decode_problem``, to say
# which field is wrong.  The decoders convert in place and may have stopped half-way,
# so the walk accepts each value as JSON or as what the decoder made of it (bytes for
# base64, an int for a decimal string, a model for an object, an enum member).

def decode_error(node: SwaggerNode, data: Any, cause: BaseException) -> Etcd3ProtocolError:
    """The error for an answer that ``node`` could not decode (``cause`` raised); the
    clients add who sent it."""
    try:
        problem = decode_problem(node, data, node)
    except RecursionError:
        problem = "%s: nested too deeply to decode" % node._label()
    if problem is None:  # nothing found: say what the decoder tripped on
        problem = "%s: the answer does not decode (%s: %s)" % (node._label(), type(cause).__name__, cause)
        if isinstance(cause, RecursionError):
            problem = "%s: nested too deeply to decode" % node._label()
    return Etcd3ProtocolError(problem, cause=cause)


def _expected(label: Label, what: str, value: Any, why: str = "") -> str:
    return "%s: expected %s, got %s%s" % (label_text(label), what, _short(value), " (%s)" % why if why else "")


def decode_problem(node: SwaggerNode, data: Any, label: Label) -> Optional[str]:
    """What is wrong with the JSON value ``data`` for the schema ``node``: the first
    field of the wrong type, as a message naming it; None if nothing is."""
    node = node.resolved
    kind = _kind(node._root, node._node)
    if kind == "object":
        model = node.getModel()
        if isinstance(data, model):
            return None  # decoded whole already
        if data.__class__ is not dict:
            return _expected(label, "an object (%s)" % model.__name__, data)
        properties = node._node.get("properties") or {}
        for name in properties:
            value = data.get(name)
            if value is not None:
                problem = decode_problem(node.properties[name], value, (label, name))
                if problem is not None:
                    return problem
        return None
    if kind == "array":
        if data.__class__ is not list:
            return _expected(label, "a list", data)
        items = node.items
        for i, value in enumerate(data):
            problem = decode_problem(items, value, (label, i))
            if problem is not None:
                return problem
        return None
    if kind == "map":
        if data.__class__ is not dict:
            return _expected(label, "an object", data)
        values = node.additionalProperties
        for key, value in data.items():
            problem = decode_problem(values, value, (label, [key])) if value is not None else None
            if problem is not None:
                return problem
        return None
    return _scalar_problem(kind, data, label)


def _scalar_problem(kind: str, data: Any, label: Label) -> Optional[str]:
    if kind in ("int64", "integer"):
        if data.__class__ is int:
            return None
        try:
            int(data)  # what the decoder does
        except (TypeError, ValueError, OverflowError) as e:
            return _expected(label, "an integer (int64 as decimal text)" if kind == "int64" else "an integer",
                             data, str(e) if isinstance(e, OverflowError) else "")
        return None
    if kind == "bytes":
        if isinstance(data, bytes):
            return None
        if data.__class__ is not str:
            return _expected(label, "base64 text", data)
        try:
            binascii.a2b_base64(data)
        except ValueError as e:  # binascii.Error; non-ASCII text
            return _expected(label, "base64 text", data, str(e))
        return None
    if kind == "enum":
        if data.__class__ in (str, int) or isinstance(data, enum.Enum):
            return None
        return _expected(label, "an enum name", data)
    if kind == "string":
        return None if data.__class__ is str else _expected(label, "a string", data)
    if kind == "boolean":
        return None if data is True or data is False else _expected(label, "true or false", data)
    if kind == "number":
        return None if data.__class__ in (float, int) else _expected(label, "a number", data)
    return None


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
    root = node._root
    key = node._pointer
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
    raw = node._node
    if "$ref" in raw:
        target = node.resolved
        codec.encode = lambda data, label: _codec(target).encode(data, label)
        codec.decode = lambda data: _decoder(target)(data)
        codec.prime = lambda: _decoder(target)
        return
    kind = _kind(node._root, raw)
    _BUILDERS[kind](codec, node)


def _build_bytes(codec: _Codec, node: SwaggerNode) -> None:
    codec.encode, codec.decode = encode_bytes, decode_bytes


def _build_int64(codec: _Codec, node: SwaggerNode) -> None:
    codec.encode, codec.decode = PROP_ENCODERS[node._node.get("format")], int


def _build_integer(codec: _Codec, node: SwaggerNode) -> None:
    fmt = node._node.get("format")
    codec.encode = _int_encoder(fmt, False) if fmt in _INT_BOUNDS else PROP_ENCODERS["integer"]
    codec.decode = int


def _build_number(codec: _Codec, node: SwaggerNode) -> None:
    codec.encode, codec.decode = encode_number, float


def _build_boolean(codec: _Codec, node: SwaggerNode) -> None:
    codec.encode, codec.decode = encode_boolean, bool


def _build_string(codec: _Codec, node: SwaggerNode) -> None:
    codec.encode, codec.decode = encode_string, decode_string


def _build_enum(codec: _Codec, node: SwaggerNode) -> None:
    members = node._node["enum"]
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
            return by_name[data]  # a list or dict raises TypeError: unhashable
        except KeyError:
            if data.__class__ is str:
                return data  # an enum value newer than the spec: keep it as it is
            if data.__class__ is int:  # by number, as proto3 JSON may write it
                return by_name[members[data]] if 0 <= data < len(members) else data
            raise TypeError("expected an enum name, got %s" % _short(data)) from None

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
        if data.__class__ is not list:
            raise TypeError("expected a list, got %s" % _short(data))
        decode_list = _codec(items.resolved).decode_list
        if decode_list is not None:  # messages: the whole list in one loop
            return decode_list(data)
        item_decode = _decoder(items)  # cheap once primed: a cached node and a dict lookup
        if None in data:
            raise TypeError("a null in a list")
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
        if data is None:
            return {}
        if data.__class__ is not dict:
            raise TypeError("expected an object, got %s" % _short(data))
        value_decode = _decoder(values)
        return {k: value_decode(v) for k, v in data.items()}

    codec.encode, codec.decode = encode, decode


# JSON values that are already what the model holds: the compiled decoder only checks
# their type (one comparison, no call); its test of ``value``, by kind
_TYPE_CHECKS = {
    "string": "value.__class__ is not str",
    "boolean": "value is not True and value is not False",
    "number": "value.__class__ is not float and value.__class__ is not int",
}
_READY_ITEM_TYPES = {"string": (str,), "boolean": (bool,), "number": (float, int)}

# Messages that contain themselves (TxnRequest in RequestOp in TxnRequest) are encoded
# at most this deep.  etcd refuses deeper ones anyway: every nested txn takes at least one
# of the request's ``--max-txn-ops`` (128 by default), and far deeper ones would exhaust
# Python's stack here and in the JSON encoder.
MAX_NESTING = 128


_NOT_YET = object()  # (a value found when first needed)


def _contains_itself(node: SwaggerNode) -> bool:
    """Whether the object schema ``node`` is reachable from its own fields."""
    root, start = node._root, node._pointer
    seen = {start}
    stack: List[Any] = [node._node]
    while stack:
        schema = stack.pop()
        if not isinstance(schema, dict):
            continue
        children = list((schema.get("properties") or {}).values())
        children += [schema[k] for k in ("items", "additionalProperties") if isinstance(schema.get(k), dict)]
        for child in children:
            if not isinstance(child, dict):
                continue
            if isinstance(child.get("$ref"), str):
                target = root.ref(child["$ref"])
                if not isinstance(target, SwaggerNode):
                    continue
                pointer = target.resolved._pointer
                if pointer == start:
                    return True
                if pointer not in seen:
                    seen.add(pointer)
                    stack.append(target.resolved._node)
            else:
                stack.append(child)
    return False


def _build_object(codec: _Codec, node: SwaggerNode) -> None:
    properties = node._node.get("properties", {})
    # the model's name (as _build_model names it); the model itself is built when a decoder
    # needs it: encoding a request needs neither it nor the enums of its fields' defaults
    label_name = _model_name(node._name or "Message")
    state: Dict[str, Any] = {}
    # field -> its codec, each made when a value of the field is first encoded
    fields: Dict[str, _Codec] = {}

    def field_codec(key: str) -> Optional[_Codec]:
        if key not in properties:
            return None
        field = fields.get(key)
        if field is None:
            field = fields[key] = _codec(node.properties[key])
        return field

    # how deep this thread is inside encoding this schema, for one that contains itself
    # (else None); found on the first encode: a schema only decoded never needs it
    nesting: Any = _NOT_YET

    def encode(data, label):
        nonlocal nesting
        if isinstance(data, EtcdMessage):
            data = {k: v for k, v in data.__dict__.items()}
        elif not isinstance(data, dict):
            raise _type_error(label, "%s (a dict or model)" % label_name, data)
        depth = 0
        if nesting is not None:  # counted here, not in a wrapper: a frame less per level
            if nesting is _NOT_YET:
                with node._root._lock:  # (one threading.local for every thread)
                    if nesting is _NOT_YET:
                        nesting = threading.local() if _contains_itself(node) else None
            if nesting is not None:
                depth = getattr(nesting, "depth", 0)
                if depth >= MAX_NESTING:
                    raise ValueError("%s: %s nested more than %d deep; etcd refuses that (each nested txn "
                                     "takes one of its --max-txn-ops, 128 by default)"
                                     % (label_text(_label_root(label)), label_name, MAX_NESTING))
                nesting.depth = depth + 1
        try:
            out = {}
            for key, value in data.items():
                if value is None:
                    continue
                field = fields.get(key) or field_codec(key)
                if field is None:
                    raise TypeError("%s: unknown field %r; fields are: %s"
                                    % (label_text(label), key, ", ".join(properties)))
                out[key] = field.encode(value, (label, key))
            return out
        finally:
            if nesting is not None:
                nesting.depth = depth

    codec.encode = encode

    def build_source() -> Tuple[List[str], List[str]]:
        # int64 and bytes fields are converted by type, nested messages by their
        # codec; fields whose JSON value is already right are only type-checked.
        # A value of the wrong type raises anything (AttributeError, binascii.Error...):
        # the entry points (decode, decode_owned) turn that into Etcd3ProtocolError
        root = node._root

        def converter(name: str, kind: str) -> Optional[Callable]:
            if kind in _TYPE_CHECKS:
                return None
            if kind in ("int64", "integer"):
                return int
            if kind == "bytes":
                return binascii.a2b_base64
            return _decoder(node.properties[name])  # (a node only for the fields that need one)

        # straight-line code per schema: this runs once per decoded message (and a list
        # of messages is one loop of it: decode_list, which the list's codec calls)
        # the decoded values replace the JSON ones in place: decoders get a fresh copy
        # (SwaggerNode.decode) or JSON that nobody else holds (the clients' responses)
        body: List[str] = []
        env: Dict[str, Any] = {"new": object.__new__, "model": node.getModel()}
        for i, name in enumerate(properties):
            convert = "convert_%d" % i
            kind = _kind(root, properties[name])
            check = _TYPE_CHECKS.get(kind)
            if kind == "array":
                item_kind = _kind(root, _resolved_schema(root, properties[name])["items"])
                ready = _READY_ITEM_TYPES.get(item_kind)
                if ready is not None:
                    # lists of JSON-ready values stay as they are, once their items are checked
                    check = "not %s(value)" % convert
                    env[convert] = (lambda types: lambda value: value.__class__ is list and all(
                        v.__class__ in types for v in value))(ready)
                else:
                    env[convert] = converter(name, kind)
            else:
                env[convert] = converter(name, kind)
            # an absent field stays absent: the class default (0, None, ...) answers for it
            if check is not None:
                body += ["value = values.get(%r)" % name, "if value is not None and %s:" % check,
                         "    raise TypeError(%r)" % name]
            elif env[convert] is not None:
                body += ["value = values.get(%r)" % name, "if value is not None:",
                         "    values[%r] = %s(value)" % (name, convert)]
        # the converters are bound as default arguments: local names are the fastest to load
        bound = "".join(", %s=%s" % (name, name) for name, value in env.items() if value is not None)
        lines = ["def decode(values%s):" % bound, "    if values is None:", "        return None"]
        lines += ["    " + line for line in body]
        lines += ["    obj = new(model)", "    obj.__dict__ = values", "    return obj"]
        list_lines = ["def decode_list(items%s):" % bound, "    out = []", "    append = out.append",
                      "    for values in items:"]
        list_lines += ["        " + line for line in body]
        # (a null item has no .get, or is refused by __dict__: it raises like any wrong type)
        list_lines += ["        obj = new(model)", "        obj.__dict__ = values", "        append(obj)",
                       "    return out"]

        state["env"] = env
        return lines, list_lines

    def source() -> Tuple[List[str], List[str]]:
        made = state.get("source")
        if made is None:
            state["building"] = True
            made = state["source"] = build_source()
        return made

    def compiled(lines: List[str], name: str) -> Callable:
        env = state["env"]
        text = "\n".join(lines)
        if _recorded_sources is not None:
            _recorded_sources.append(text)
        # the decoders of the bundled specs' common messages are compiled at build time
        # (etcd3/_spec_cache_X_Y.py, from this very text): compiling is most of a first call
        factory = _precompiled_decoders().get(text)
        if factory is not None:
            return factory(env)
        exec(compile(text, "<decoder of %s>" % label_name, "exec"), env)
        return env[name]

    # compiling is most of a first call's decoding: ``decode`` is compiled when a message
    # of this schema is decoded on its own, ``decode_list`` when a list of them is
    def prime():
        decoder = state.get("decoder")
        if decoder is None:
            with node._root._lock:
                decoder = state.get("decoder")
                if decoder is None:
                    if state.get("building") and "source" not in state:
                        return decode_lazily  # a recursive schema, in this thread: bind late
                    decoder = state["decoder"] = codec.decode = compiled(source()[0], "decode")
        return decoder

    def decode_list_first(items):
        with node._root._lock:
            if codec.decode_list is decode_list_first:
                codec.decode_list = compiled(source()[1], "decode_list")
        return codec.decode_list(items)

    def decode_lazily(data):
        return prime()(data)

    codec.decode, codec.prime, codec.decode_list = decode_lazily, prime, decode_list_first


# the sources compiled, while etcd3.spec writes its cache (None: not recorded)
_recorded_sources: Optional[List[str]] = None
# decoder source -> the function that makes that decoder from its environment (the
# converters it binds), compiled at build time: the DECODERS of each spec version's cache
# module (etcd3/_spec_cache_X_Y.py), added as etcd3.spec loads it
_precompiled: Dict[str, Callable[[Dict[str, Any]], Callable]] = {}


def _precompiled_decoders() -> Dict[str, Callable[[Dict[str, Any]], Callable]]:
    return _precompiled


def add_precompiled_decoders(decoders: Dict[str, Callable[[Dict[str, Any]], Callable]]) -> None:
    _precompiled.update(decoders)


def decoder_factory_source(name: str, text: str) -> List[str]:
    """The lines of a module-level function ``name(env)`` that makes the decoder of
    source ``text`` (as ``compiled`` makes it, with the names it binds taken from env)."""
    lines = text.split("\n")
    header = lines[0]  # def decode(values, new=new, model=model, convert_0=convert_0):
    bound = re.findall(r"(\w+)=\1\b", header)
    function = header.split()[1].split("(")[0]
    out = ["def %s(env):" % name]
    out += ["    %s = env[%r]" % (n, n) for n in bound]
    out += ["    " + line for line in lines]
    out += ["    return %s" % function]
    return out


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
