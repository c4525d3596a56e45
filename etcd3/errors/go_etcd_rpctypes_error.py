"""etcd's server errors by the names of its Go package ``rpctypes`` (etcd3-py
0.1.6's module of the same name): ``ErrGRPC*`` ``(code, message)`` tuples,
``errStringToError`` (message -> tuple), ``errStringToClientError`` (message ->
class), the client error classes themselves and ``get_client_error``.

The classes are those of ``etcd3.errors`` (one hierarchy, not a copy)."""
from __future__ import annotations

from typing import Any, Dict, Tuple, Type

from . import (  # noqa: F401  (re-exported)
    _BY_MESSAGE, _CODE_CLASSES, _ETCD_ERRORS, Etcd3APIError, Etcd3Exception, ErrUnknownError, get_client_error,
)
from .. import errors as _errors
from .go_grpc_codes import GRPCCode, codeText  # noqa: F401  (re-exported)

# etcd names the tuple of ErrTooManyRequests after its request-limit origin
_GRPC_NAMES = {"ErrTooManyRequests": "ErrGRPCRequestTooManyRequests"}

errStringToError: Dict[str, Tuple[int, str]] = {}
for _name, _code, _message in _ETCD_ERRORS:
    globals()[_name] = getattr(_errors, _name)
    if not _name.startswith(("ErrElection", "ErrSession")):  # those come from etcd's election API
        _tuple = globals()[_GRPC_NAMES.get(_name, "ErrGRPC" + _name[3:])] = (_code, _message)
        errStringToError[_message] = _tuple

# the same table ``get_client_error`` and the clients look messages up in
errStringToClientError: Dict[str, Type[Etcd3APIError]] = _BY_MESSAGE


def error_desc(error: Tuple[int, str]) -> str:
    """The message of an ``ErrGRPC*`` tuple."""
    return error[1]


def Error(err: Tuple[int, str], name: str) -> Type[Etcd3APIError]:
    """A client error class for an ``ErrGRPC*``-style ``(code, message)`` tuple,
    under the class of its gRPC code."""
    code, message = err
    base: Any = _CODE_CLASSES.get(code, Etcd3APIError)
    return type(name, (base,), {"code": code, "etcd_message": message, "__module__": __name__})
