"""From a method's arguments to its request: the signature table applied to a spec.

A ``Binding`` is made once per operation of a spec (``Operation.binding``) from the
request message's fields and the operation's entry of ``signatures.SIGNATURES``, if
any.  It knows the method's effective signature (what ``inspect.signature`` and
``help()`` show) and turns a call's ``args``/``kwargs`` into the request body.  Every
decision that depends only on the operation is taken here, at construction: a call
does the argument matching, the flags that apply to it, and the encoding.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

from .signatures import REQUIRED, SIGNATURES, EnumDefault, RpcSignature, apply_range_args

__all__ = ["Binding", "RequestOp", "CALL_OPTIONS", "asks_for_request_op"]

# what ``**kwargs`` of a ``call_options`` method (watch) may hold: options of the call itself
CALL_OPTIONS = ("timeout", "headers")

# method name -> the position of its ``txn_obj`` parameter,
# for the methods that take one: known without a binding (so without the spec)
_TXN_OBJ_INDEX = {name: [p for p, _ in entry.params].index("txn_obj")
                  for name, entry in SIGNATURES.items() if entry.txn_op}


def asks_for_request_op(name: str, args: tuple, kwargs: Dict[str, Any]) -> bool:
    """Whether a call of the method ``name`` asks for ``txn_obj``: answered without
    binding the rest, and without a Binding (so without the spec)."""
    index = _TXN_OBJ_INDEX.get(name)
    if index is None:
        return False
    return bool(kwargs["txn_obj"] if "txn_obj" in kwargs else len(args) > index and args[index])

_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


class RequestOp(dict):
    """The un-encoded request op that ``txn_obj=True`` returns (``{'request_put': {...}}``),
    to put in ``txn()``'s ``success``/``failure`` lists; nothing was sent."""

    __slots__ = ()


class Binding:
    """How the arguments of one RPC method become its request body."""

    __slots__ = ("name", "positional", "accepted", "required", "custom", "encode",
                 "txn_op", "range_sugar", "special", "call_options", "clears_token",
                 "one_of", "nested", "raw_body", "text_fields", "arguments", "_params", "_signature",
                 "_request_defaults")

    def __init__(self, name: str, fields: Tuple[str, ...], encode: Callable[[Any], Any],
                 custom: Optional[RpcSignature] = None, text_fields: Tuple[str, ...] = (),
                 message: str = "the request") -> None:
        """
        :param fields: the request message's fields, in proto order
        :param encode: the request message's encoder
        :param custom: the operation's entry of the signature table
        :param text_fields: the fields among key/range_end that the spec types as
            plain strings (3.2/3.3's role_revoke_permission): bytes are sent as UTF-8 text
        :param message: the request message's name, for errors in the table
        """
        self.name = name
        self.custom = custom
        self.encode = encode
        self.text_fields = text_fields
        if custom is None:
            # the request message's fields; prefix/all wherever there is a key range
            self.range_sugar = "key" in fields and "range_end" in fields
            positional: Tuple[Tuple[str, Any], ...] = tuple((f, None) for f in fields)
            keyword: Tuple[Tuple[str, Any], ...] = (("prefix", False), ("all", False)) if self.range_sugar else ()
            self.txn_op = self.raw_body = self.nested = None
            self.one_of: Tuple[str, ...] = ()
            self.call_options = self.clears_token = False
        else:
            self.range_sugar = custom.range_sugar
            self.txn_op, self.raw_body, self.nested = custom.txn_op, custom.raw_body, custom.nested
            self.call_options, self.clears_token = custom.call_options, custom.clears_token
            self.one_of = tuple(f for f in custom.one_of if f in fields)
            positional = custom.params  # (enum defaults resolved when the signature is made)
            names = {p for p, _ in positional}
            subfields = custom.nested[1] if custom.nested else ()
            special = {"prefix", "all"} if custom.range_sugar else set()
            special |= {"txn_obj"} if custom.txn_op else set()
            special |= {custom.raw_body} if custom.raw_body else set()
            for p in names - special - set(subfields):
                if p not in fields:
                    raise ValueError("the signature of %s() names %r, which is not a field of %s (fields: %s)"
                                     % (name, p, message, ", ".join(fields) or "none"))
            # fields 0.1.6 did not know: keyword-only, after its parameters
            keyword = tuple((f, None) for f in fields if f not in names)
        self.positional = tuple(p for p, _ in positional)
        self.accepted = frozenset(self.positional) | frozenset(p for p, _ in keyword)
        self.required = tuple(p for p, default in positional if default is REQUIRED and p != self.raw_body)
        # flags that need more than "encode what was passed"
        self.special = bool(self.range_sugar or self.nested or self.raw_body or self.one_of or text_fields)
        # the parameters, their enum defaults unresolved: the signature and the request op's
        # defaults are made when first wanted (the enums they hold are built from every
        # bundled spec, which a plain call does not need)
        self._params = (positional, keyword)
        self._signature: Optional[inspect.Signature] = None
        self._request_defaults: Optional[Dict[str, Any]] = None
        self.arguments = ", ".join([p for p, _ in positional] + [p for p, _ in keyword] +
                                   (["kwargs"] if self.call_options else []))

    @property
    def signature(self) -> inspect.Signature:
        """The method's effective signature (``self`` first), made on first use."""
        signature = self._signature
        if signature is None:
            positional, keyword = self._params
            params = [inspect.Parameter("self", _POSITIONAL)]
            params += [inspect.Parameter(p, _POSITIONAL, default=_resolve(d)) for p, d in positional]
            params += [inspect.Parameter(p, _KEYWORD, default=_resolve(d)) for p, d in keyword]
            if self.call_options:
                params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
            signature = self._signature = inspect.Signature(params)
        return signature

    @property
    def request_defaults(self) -> Dict[str, Any]:
        """The defaults 0.1.6 put in a request op (``txn_obj=True``), in its order; None is
        never sent."""
        defaults = self._request_defaults
        if defaults is None:
            defaults = self._request_defaults = {
                p: _resolve(d) for p, d in self._params[0]
                if p not in ("prefix", "all", "txn_obj") and d is not REQUIRED}
        return defaults

    def __repr__(self) -> str:
        return "<Binding %s%s>" % (self.name, str(self.signature).replace("(self, ", "(").replace("(self)", "()"))

    # -- a call ---------------------------------------------------------------------------
    def bind(self, args: tuple, kwargs: Dict[str, Any]) -> Any:
        """The request body of a call: the encoded message (a dict), raw bytes
        (``raw_body``), or a ``RequestOp`` (``txn_obj=True``: not to be sent)."""
        names = self.positional
        if len(args) > len(names):
            raise TypeError("%s() takes %d positional arguments but %d were given"
                            % (self.name, len(names), len(args)))
        values = dict(zip(names, args))
        if kwargs:
            accepted = self.accepted
            for key, value in kwargs.items():
                if key not in accepted:
                    raise TypeError("%s() got an unexpected keyword argument %r; its arguments are: %s"
                                    % (self.name, key, self.arguments))
                if key in values:
                    raise TypeError("%s() got multiple values for argument %r" % (self.name, key))
                values[key] = value
        for name in self.required:
            if name not in values:
                raise TypeError("%s() missing required argument %r" % (self.name, name))
        if self.txn_op is not None and values.pop("txn_obj", False):
            return self._request_op(values)
        if self.special:
            return self._finish(values)
        return self.encode(values)

    def _request_op(self, values: Dict[str, Any]) -> RequestOp:
        if self.range_sugar:
            apply_range_args(self.name, values)
        op = {p: values.pop(p, d) for p, d in self.request_defaults.items()}
        op.update(values)
        return RequestOp({self.txn_op: {k: v for k, v in op.items() if v is not None}})

    def _finish(self, values: Dict[str, Any]) -> Any:
        if self.raw_body is not None:
            return self._raw(values)
        if self.one_of:
            self._check_one_of(values)
        nested = self.nested
        if nested is not None:
            field, subfields = nested
            if field in values:  # the message itself, as the request defines it
                mixed = [p for p in subfields + ("prefix", "all") if p in values]
                if mixed:
                    raise TypeError("%s() takes either %s or %s, not both"
                                    % (self.name, field, ", ".join(mixed)))
                return self.encode(values)
        if self.range_sugar:
            apply_range_args(self.name, values)
        for field in self.text_fields:
            value = values.get(field)
            if isinstance(value, (bytes, bytearray)):
                values[field] = bytes(value).decode("utf-8")
        if nested is not None:
            defaults = self.request_defaults
            inner = {p: values.pop(p, defaults.get(p)) for p in subfields}
            values[field] = {k: v for k, v in inner.items() if v is not None}
        return self.encode(values)

    def _raw(self, values: Dict[str, Any]) -> Any:
        data = values.pop(self.raw_body, None)  # type: ignore[arg-type]
        if data is None:
            if not values:
                raise TypeError("%s() missing required argument %r" % (self.name, self.raw_body))
            return self.encode(values)
        if values:
            raise TypeError("%s() takes the request as %s or as fields (%s), not both"
                            % (self.name, self.raw_body, ", ".join(values)))
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        if isinstance(data, str):
            return data.encode("utf-8")
        if isinstance(data, dict):
            return self.encode(data)
        if isinstance(data, int) and not isinstance(data, bool) and self.accepted >= {"ID"}:
            return self.encode({"ID": data})  # lease_keep_alive(123): the lease's ID
        raise TypeError("%s(): %s must be bytes, str or a dict, got %r" % (self.name, self.raw_body, data))

    def _check_one_of(self, values: Dict[str, Any]) -> None:
        given = [f for f in self.one_of if values.get(f) is not None]
        if not given:
            raise TypeError("%s() requires at least one argument of %s" % (self.name, ",".join(self.one_of)))
        if len(given) > 1:
            raise TypeError("%s() requires at most one of param %s" % (self.name, " or ".join(self.one_of)))


def _resolve(default: Any) -> Any:
    return default.resolve() if isinstance(default, EnumDefault) else default


def binding_for(name: str, fields: Tuple[str, ...], encode: Callable[[Any], Any],
                text_fields: Tuple[str, ...] = (), message: str = "the request") -> Binding:
    """The binding of the operation ``name`` with these request fields."""
    return Binding(name, fields, encode, SIGNATURES.get(name), text_fields, message)
