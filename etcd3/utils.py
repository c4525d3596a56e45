"""Small helpers kept under the names the seed's users import."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import shutil
import subprocess
import time
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Tuple

log = logging.getLogger("etcd3")

lru_cache = functools.lru_cache


class Etcd3Warning(UserWarning):
    """Warnings of this library (spec fallback, TLS verification off, ...)."""


def memoize(fn: Callable) -> Callable:
    """Cache a function's return value per arguments (arguments must be hashable)."""
    return functools.lru_cache(maxsize=None)(fn)


def memoize_in_object(fn: Callable) -> Callable:
    """Cache a method's return value per arguments on the instance itself, so the
    cache goes away with the instance (no module-level cache keyed by instance)."""
    attr = "_memo_" + fn.__name__

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            cache = self.__dict__[attr]
        except KeyError:
            cache = self.__dict__[attr] = {}
        key = (args, tuple(sorted(kwargs.items())))
        try:
            return cache[key]
        except KeyError:
            value = cache[key] = fn(self, *args, **kwargs)
            return value

    return wrapper


def incr_last_byte(data: bytes | str) -> bytes:
    """The smallest key greater than every key with the prefix ``data``:
    drop trailing 0xff bytes, then increment the last byte (etcd's prefix
    range_end). A prefix of only 0xff bytes (or empty) has no upper bound: b'\\0'."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    data = bytes(data).rstrip(b"\xff")
    if not data:
        return b"\0"
    return data[:-1] + bytes([data[-1] + 1])


def key_range(key: Any, range_end: Any = None, prefix: Optional[bool] = False, all: Optional[bool] = False,
              what: str = "") -> Tuple[Any, Any]:
    """``(key, range_end)`` with the ``prefix``/``all`` sugar applied: ``all`` is every
    key (b'\\0', b'\\0'), ``prefix`` every key that starts with ``key``."""
    where = "%s: " % what if what else ""
    if prefix and all:
        raise TypeError(where + "prefix and all are exclusive")
    if (prefix or all) and range_end is not None:
        raise TypeError(where + "range_end cannot be combined with %s" % ("prefix" if prefix else "all"))
    if all:
        if key not in (None, b"", "", b"\0", "\0"):
            raise TypeError(where + "all=True ranges over every key; do not pass a key")
        return b"\0", b"\0"
    if prefix:
        if key is None:
            raise TypeError(where + "prefix=True needs a key")
        return key, incr_last_byte(key)
    return key, range_end


def merge_two_dicts(x: dict, y: dict) -> dict:
    z = dict(x)
    z.update(y)
    return z


def check_param(at_least_one_of: Optional[Sequence[str]] = None,
                at_most_one_of: Optional[Sequence[str]] = None) -> Callable:
    """Decorator: require at least / at most one of the named keyword arguments."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if at_least_one_of is not None and not any(kwargs.get(k) is not None for k in at_least_one_of):
                raise TypeError("%s() requires at least one argument of %s"
                                % (fn.__name__, ",".join(at_least_one_of)))
            if at_most_one_of is not None and sum(kwargs.get(k) is not None for k in at_most_one_of) > 1:
                raise TypeError("%s() requires at most one param of %s"
                                % (fn.__name__, ",".join(at_most_one_of)))
            return fn(*args, **kwargs)

        return wrapper

    return decorator


def run_coro(coro):
    """Run a coroutine to completion in a fresh event loop."""
    return asyncio.run(coro)


class cached_property:
    """A property computed once per instance, then stored as a plain attribute.
    Deleting the attribute resets it."""

    def __init__(self, func: Callable):
        self.func = func
        self.__doc__ = getattr(func, "__doc__")
        self.__name__ = func.__name__

    def __set_name__(self, owner, name):
        self.__name__ = name

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = obj.__dict__[self.__name__] = self.func(obj)
        return value


def iter_json_string(chunk: bytes | str, start: int = 0, lb: int = 123, rb: int = 125,
                     resp: Any = None, err_cls: type = ValueError) -> Iterator[Tuple[bool, Any, int]]:
    """Split ``chunk`` into the complete JSON objects it holds.

    Yields ``(True, object_text, end_index)`` for each complete object and, at the
    end, ``(False, rest, index)`` for an incomplete tail (to be joined with the next
    chunk). Braces inside string values are not counted (the seed's version did)."""
    text = chunk.decode("utf-8") if isinstance(chunk, (bytes, bytearray)) else chunk
    decoder = json.JSONDecoder()
    pos = start
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return
        if ord(text[pos]) != lb:
            raise err_cls("unexpected data in stream at %d: %r" % (pos, text[pos:pos + 40]))
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            yield False, text[pos:], pos
            return
        yield True, text[pos:end], end
        pos = end


def enum_value(e: Any) -> Any:
    """The value of an enum member, anything else unchanged."""
    import enum

    return e.value if isinstance(e, enum.Enum) else e


def retry(func: Callable, max_tries: int = 3, log: Any = logging, err_cls: type = Exception) -> Any:
    """Call ``func`` up to ``max_tries`` times while it raises ``err_cls``."""
    for attempt in range(1, max_tries + 1):
        try:
            return func()
        except err_cls as e:
            if attempt == max_tries:
                raise
            log.warning("retry %d/%d after %r", attempt, max_tries, e)
            time.sleep(min(0.1 * 2 ** attempt, 2))


def exec_cmd(cmd: str | Iterable[str], envs: Optional[dict] = None, raise_error: bool = True) -> str:
    """Run a command, return its stdout; raise on a non-zero exit if ``raise_error``."""
    import os

    env = dict(os.environ)
    env.update(envs or {})
    proc = subprocess.run(cmd, shell=isinstance(cmd, str), env=env, capture_output=True, text=True)
    if raise_error and proc.returncode != 0:
        raise RuntimeError("command %r failed (%d): %s" % (cmd, proc.returncode, proc.stderr.strip()))
    return proc.stdout


def find_executable(executable: str, path: Optional[str] = None) -> Optional[str]:
    """Full path of ``executable`` if it can be run, else None."""
    return shutil.which(executable, path=path)
