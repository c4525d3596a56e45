"""What every API group stands on: ``BaseAPI``, and 0.1.6's range check for sugar methods."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict

from .signatures import check_range_args

__all__ = ["BaseAPI", "range_checked"]


class BaseAPI:
    """The base of the API groups.  The RPC methods themselves come from the
    connected server's spec (see ``BaseClient``); a group holds the methods that
    the spec cannot say: sugar over one or more RPCs, and the plain HTTP endpoints.
    The client that mixes the groups in provides the hooks below."""

    headers: Dict[str, str] = {}

    @staticmethod
    def _raise_for_status(resp: Any) -> None:
        raise NotImplementedError

    def _url(self, method: str, prefix: bool = True) -> str:
        raise NotImplementedError

    def _get(self, url: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def call_rpc(self, method: str, data: Any = None, stream: bool = False, encode: bool = True,
                 raw: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


def range_checked(fn: Callable) -> Callable:
    """0.1.6's check of the ``key``/``range_end``/``prefix``/``all`` arguments, on the
    arguments a call actually passes (by position or by name; defaults do not count)."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_range_args(fn.__name__, signature.bind(*args, **kwargs).arguments)
        return fn(*args, **kwargs)

    return wrapper
