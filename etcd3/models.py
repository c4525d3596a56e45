"""Model classes: what decoded responses are made of.

``EtcdModel`` is the base of everything decoded from etcd.  Messages are
``EtcdMessage`` subclasses built at run time, one class per schema node of a
spec (see ``SwaggerNode.getModel``).  Enums are ``enum.Enum`` subclasses of
``EtcdModel`` named after the spec's definitions (``RangeRequestSortOrder``,
``EventEventType``, ...); the module-level ones hold the members of every
bundled spec and are created on first access from the specs themselves.
"""
from __future__ import annotations

import enum
import types
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

__all__ = ["EtcdModel", "EtcdMessage", "enum_class", "name_to_model"]


class EtcdModel:
    """Base class of every model (messages and enums)."""

    __slots__ = ()


class _unhidden:
    """A method that no key of an instance's ``__dict__`` can hide: a data descriptor
    (it has ``__set__``), looked up before the instance's own keys."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.__doc__ = method.__doc__
        self.__name__ = method.__name__
        self.__wrapped__ = method

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return self.method if instance is None else types.MethodType(self.method, instance)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError("%s is a method of %s" % (self.__name__, type(instance).__name__))


class EtcdMessage(EtcdModel):
    """A decoded message: fields by attribute, defaults filled per the gogoproto
    rule as etcd3-py 0.1.6 applied it (int 0, bool False, str "", bytes None,
    message None, array None; an enum its first member).

    ``Model(data)`` takes a decoded dict, as 0.1.6's ``getModel()`` classes did
    (nested dicts become their models, enum names their members; a model is taken
    as its fields); ``Model(field=value, ...)`` takes fields.  Iterating a message,
    and ``in``, see the fields the server actually sent."""

    __slots__ = ("__dict__",)
    _fields: Tuple[str, ...] = ()
    _array_fields: Tuple[str, ...] = ()
    _ref: str = ""

    def __init__(self, _data: Optional[Dict[str, Any]] = None, /, **fields: Any) -> None:
        if _data is not None:
            if isinstance(_data, EtcdMessage):
                _data = _data.__dict__
            elif not isinstance(_data, dict):
                raise TypeError("%s(data): a dict expected, got a %r instead"
                                % (type(self).__name__, type(_data).__name__))
            values = {**_data, **fields}
        else:
            values = fields
        # fields of the schema are checked only when given by keyword (a decoded dict
        # may hold fields newer than the spec, as decoded messages do)
        unknown = [name for name in fields if name not in self._field_set]
        if unknown:
            raise TypeError("%s has no field(s) %s; fields are: %s"
                            % (type(self).__name__, ", ".join(sorted(unknown)), ", ".join(self._fields)))
        converters = self._converters()
        for name, value in values.items():
            convert = converters.get(name)
            if convert is not None and value is not None:
                values[name] = convert(value)
        self.__dict__.update(values)

    # the model of a schema sets this: () -> {field: what turns a nested dict into its model}
    _make_converters: Optional[Callable[[], Dict[str, Callable[[Any], Any]]]] = None

    @classmethod
    def _converters(cls) -> Dict[str, Callable[[Any], Any]]:
        converters = cls.__dict__.get("_converter_table")
        if converters is None:
            converters = cls._make_converters() if cls._make_converters is not None else {}
            cls._converter_table = converters
        return converters

    @property
    def _data(self) -> Dict[str, Any]:
        """The fields present in the message (0.1.6's name for them)."""
        return self.__dict__

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.__dict__))

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    # A decoded message's __dict__ is the server's JSON object, with whatever keys it
    # has (fields newer than the spec are kept), so a key such as "to_dict" or "_items"
    # must not hide the methods: they are data descriptors, which win over __dict__, and
    # the class attributes are read from the class.
    @_unhidden
    def _items(self) -> Iterable[Tuple[str, Any]]:
        cls = type(self)
        for name in cls._fields:
            yield name, getattr(self, name)
        field_set = cls._field_set
        for name, value in self.__dict__.items():
            if name not in field_set:
                yield name, value

    @_unhidden
    def to_dict(self) -> Dict[str, Any]:
        """Every field (defaults included) as plain Python values, recursively."""
        return {name: _plain(value) for name, value in self._items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EtcdMessage) or type(other)._ref != type(self)._ref:
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = []
        cls = type(self)
        for name, value in self._items():
            default = cls.__dict__.get(name, _NO_DEFAULT) if name in cls._field_set else _NO_DEFAULT
            if value is default or value == default:
                continue
            parts.append("%s=%r" % (name, value))
        return "%s(%s)" % (cls.__name__, ", ".join(parts))

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are neither fields nor methods
        raise AttributeError("%s has no field %r; fields are: %s"
                             % (type(self).__name__, name, ", ".join(type(self)._fields)))

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(type(self)._fields))

    _field_set: frozenset = frozenset()


_NO_DEFAULT = object()


def _plain(value: Any) -> Any:
    if isinstance(value, EtcdMessage):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def enum_class(name: str, members: Iterable[str], ref: str = "") -> type:
    """The enum class for a spec definition: the module-level one when it has every
    member (so enums from different server versions compare equal), else a new one."""
    members = list(members)
    existing = _module_enum(name)
    if existing is not None and all(m in existing.__members__ for m in members):
        return existing
    return _make_enum(name, members, ref)


def _make_enum(name: str, members: list, ref: str) -> type:
    cls = enum.Enum(name, [(m, m) for m in members], module=__name__, type=EtcdModel)
    cls.__doc__ = "ref: %s\n\ndefault: %s" % (ref or "#/definitions/" + name, members[0] if members else "")
    return cls


_enums: Dict[str, type] = {}


def _module_enum(name: str) -> Optional[type]:
    """The module-level enum ``name`` (its members united across the bundled specs), built
    on first use; None if no bundled spec defines it."""
    cls = _enums.get(name)
    if cls is None:
        from .spec import enum_members

        members = enum_members().get(name)
        if members is None:
            return None
        cls = _enums.setdefault(name, _make_enum(name, list(members), "#/definitions/" + name))
    return cls


def _module_enums() -> Dict[str, type]:
    """The enums of every bundled spec, members united across versions."""
    from .spec import enum_members

    return {name: _module_enum(name) for name in enum_members()}  # type: ignore[misc]


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    if name == "name_to_model":
        # 0.1.6's table: definition name -> enum class (built on first use, as the enums are)
        table = globals()["name_to_model"] = dict(_module_enums())
        return table
    cls = _module_enum(name)
    if cls is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    return cls


def __dir__():
    return sorted(set(globals()) | set(_module_enums()) | {"name_to_model"})
