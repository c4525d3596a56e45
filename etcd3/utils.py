"""Small helpers, under the names and with the behaviour of etcd3-py 0.1.6's
``etcd3.utils`` (users import them), plus the key-range sugar of this library.

Importing this module sets ``warnings.simplefilter('always', Etcd3Warning)``, as
0.1.6 did: every warning of this library is shown, not only the first one."""
from __future__ import annotations

import enum
import functools
import inspect
import logging
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Hashable  # noqa: F401  (0.1.6 exported it)
from threading import get_ident  # noqa: F401  (0.1.6 exported it)
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

log = logging.getLogger("etcd3")

getargspec = inspect.getfullargspec  # 0.1.6's name
OrderedDictEx = OrderedDict  # 0.1.6's Python 2 shim; OrderedDict itself on Python 3
bytes_types = (bytes, bytearray)


class Etcd3Warning(UserWarning):
    """Warnings of this library (spec fallback, TLS verification off, ...)."""


warnings.simplefilter("always", Etcd3Warning)


def lru_cache(maxsize: Any = 100, typed: bool = False) -> Callable:
    """Least-recently-used cache decorator (functools', with 0.1.6's default size 100).

    ``maxsize=None`` lets the cache grow without bound.  Arguments to the cached
    function must be hashable.  ``f.cache_info()`` gives ``CacheInfo(hits, misses,
    maxsize, currsize)``, ``f.cache_clear()`` empties it, ``f.__wrapped__`` is the
    function.  ``@lru_cache`` without parentheses works too."""
    if callable(maxsize) and not isinstance(maxsize, int):  # used bare: @lru_cache
        return functools.lru_cache(maxsize=100, typed=typed)(maxsize)
    return functools.lru_cache(maxsize=maxsize, typed=typed)


def _call_key(names: Sequence[str], key_names: Sequence[str], args: tuple,
              kwargs: Dict[str, Any]) -> Tuple[Dict[str, Any], tuple]:
    """0.1.6's memoize key: the value of every named parameter but ``self``, in
    order, ``None`` for an omitted one (so ``f(1)`` and ``f(1, 2)`` are two keys
    even when 2 is the default).  Extra positional or keyword arguments (of a
    ``*args``/``**kwargs`` function), which 0.1.6 ignored, are appended."""
    named = dict(kwargs)
    named.update(zip(names, args))
    key = tuple(named.get(name) for name in key_names)
    extra_args = args[len(names):]
    extra_kwargs = [(k, v) for k, v in kwargs.items() if k not in names]
    if extra_args or extra_kwargs:
        key += (extra_args, tuple(sorted(extra_kwargs)))
    return named, key


def memoize(fn: Callable) -> Callable:
    """Decorator. Caches a function's return value each time it is called.
    If called later with the same arguments, the cached value is returned
    (not reevaluated).

    The cache is the dict ``fn.cache`` (also on the decorated function), emptied by
    ``invalidate_cache()``; its keys are tuples of the named parameters except
    ``self`` (so a method's cache is shared by its instances, as in 0.1.6).  A call
    with an unhashable argument is computed and not cached."""
    names = getargspec(fn).args
    key_names = [name for name in names if name != "self"]
    cache: Dict[Any, Any] = {}
    fn.cache = cache  # type: ignore[attr-defined]
    fn.invalidate_cache = cache.clear  # type: ignore[attr-defined]

    @functools.wraps(fn)  # copies fn.cache and fn.invalidate_cache onto the wrapper
    def memoized(*args: Any, **kwargs: Any) -> Any:
        _, key = _call_key(names, key_names, args, kwargs)
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # unhashable argument
            return fn(*args, **kwargs)
        value = cache[key] = fn(*args, **kwargs)
        return value

    return memoized


_MEMO_ATTRIBUTE = "_etcd3_memoized"


def memoize_in_object(fn: Callable) -> Callable:
    """Decorator. Caches a method's return value each time it is called, in the object instance
    If called later with the same arguments, the cached value is returned
    (not reevaluated).

    Keys as ``memoize``.  The cache lives on the instance itself (its ``__dict__``),
    so it goes away with the instance; 0.1.6 kept every instance in a global dict
    for ever.  An instance without a ``__dict__`` is not cached."""
    names = getargspec(fn).args
    key_names = [name for name in names if name != "self"]

    @functools.wraps(fn)
    def memoized(self: Any, *args: Any, **kwargs: Any) -> Any:
        _, key = _call_key(names, key_names, (self,) + args, kwargs)
        try:
            caches = vars(self).setdefault(_MEMO_ATTRIBUTE, {})
            cache = caches.setdefault(memoized, {})
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # no __dict__, or an unhashable argument
            return fn(self, *args, **kwargs)
        value = cache[key] = fn(self, *args, **kwargs)
        return value

    return memoized


def incr_last_byte(data: Union[bytes, bytearray, str, Any]) -> bytes:
    """Get the last byte in the array and increment it

    As 0.1.6: ``str`` is UTF-8 encoded, ``bytes``/``bytearray`` taken as they are,
    anything else as ``str(data)`` in Latin-1 (``12`` -> ``b'13'``).  There is no
    carry: a last byte 0xff raises ``ValueError('byte must be in range(0, 256)')``,
    empty data ``IndexError``.  The prefix sugar uses ``prefix_range_end``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes_types):
        data = str(data).encode("latin-1")
    incremented = bytearray(data)
    incremented[-1] = incremented[-1] + 1
    return bytes(incremented)


def prefix_range_end(prefix: Union[bytes, bytearray, str]) -> bytes:
    """The smallest key greater than every key that starts with ``prefix``: drop
    trailing 0xff bytes, then increment the last byte (etcd's prefix range_end).
    A prefix of only 0xff bytes (or an empty one) has no upper bound: b'\\0'."""
    if isinstance(prefix, str):
        prefix = prefix.encode("utf-8")
    stripped = bytes(prefix).rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


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
        return key, prefix_range_end(key)
    return key, range_end


def merge_two_dicts(x: dict, y: dict) -> dict:
    """A copy of ``x`` updated with ``y``."""
    z = x.copy()
    z.update(y)
    return z


def check_param(at_least_one_of: Optional[Sequence[str]] = None,
                at_most_one_of: Optional[Sequence[str]] = None) -> Callable:
    """check if at least/most one of params is given

    >>> @check_param(at_least_one_of=['a', 'b'])
    >>> def fn(a=None, b=None):
    ...     pass
    >>> fn()
    TypeError: fn() requires at least one argument of a,b

    Only arguments actually passed (positionally or by keyword) that are not
    ``None`` count; defaults are not seen."""

    def decorator(fn: Callable) -> Callable:
        if not (at_least_one_of or at_most_one_of):
            raise TypeError("check_param() requires at least one argument of at_least_one_of, at_most_one_of")
        if not (isinstance(at_least_one_of, (list, tuple)) or isinstance(at_most_one_of, (list, tuple))):
            raise TypeError("check_param() only accept list or tuple as parameter")
        names = getargspec(fn).args

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            given = dict(kwargs)
            given.update(zip(names, args))
            if at_least_one_of and all(given.get(name) is None for name in at_least_one_of):
                raise TypeError("%s() requires at least one argument of %s"
                                % (fn.__name__, ",".join(at_least_one_of)))
            if at_most_one_of and sum(given.get(name) is not None for name in at_most_one_of) > 1:
                raise TypeError("%s() requires at most one of param %s"
                                % (fn.__name__, " or ".join(at_most_one_of)))
            return fn(*args, **kwargs)

        return checked

    return decorator


_coroutine_loops = threading.local()


def run_coro(coro: Any) -> Any:
    """Run a coroutine to completion and return its result.

    :param coro: the coroutine to run

    As 0.1.6 (which ran it on ``asyncio.get_event_loop()``), every call from one
    thread runs on the same event loop, kept open between calls, so an
    ``AioClient``, its connections and the tasks one call starts carry over to the
    next: the loop set for this thread (``asyncio.set_event_loop``), else one made
    on the first call and set.  From inside a running event loop it is a
    ``RuntimeError``: await the coroutine there instead."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(coro):
            coro.close()  # never run: no "was never awaited" warning on top of the error
        raise RuntimeError("run_coro() cannot be called from a running event loop: await the coroutine")
    loop = _current_event_loop(asyncio)
    if loop is None or loop.is_closed():
        loop = getattr(_coroutine_loops, "loop", None)
        if loop is None or loop.is_closed():
            loop = _coroutine_loops.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)


def _current_event_loop(asyncio: Any) -> Any:
    """The event loop set for this thread, or None, without making one (and so
    without the deprecation warning ``get_event_loop`` gives before 3.14 when it
    would make one)."""
    if sys.version_info >= (3, 14):  # get_event_loop no longer makes a loop
        try:
            return asyncio.get_event_loop()
        except RuntimeError:
            return None
    # the default policies keep the thread's loop there; another policy: ours
    return getattr(getattr(asyncio.get_event_loop_policy(), "_local", None), "_loop", None)


class cached_property:
    """A property that is only computed once per instance and then replaces
    itself with an ordinary attribute. Deleting the attribute resets the
    property."""

    def __init__(self, func: Callable):
        self.func = func
        self.__doc__ = getattr(func, "__doc__")
        self.__name__ = func.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    def __get__(self, obj: Any, cls: Optional[type] = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.__name__] = self.func(obj)
        return value


_RESULT_MARKER = b'{"result":'


def iter_json_string(chunk: Union[bytes, str], start: int = 0, lb: Any = ord("{"), rb: Any = ord("}"),
                     resp: Any = None, err_cls: type = ValueError) -> Iterator[Tuple[bool, Any, int]]:
    """Split the top-level JSON objects out of ``chunk`` (bytes, or str), as 0.1.6.

    Yields ``(True, piece, end_index)`` for each complete object (``end_index`` the
    index of its closing brace) and for every byte outside an object (``b'\\n'``),
    then always ``(False, rest, index)``: ``rest`` the incomplete tail to join with
    the next chunk (maybe empty), ``index`` the end of the last piece (-1 if none).
    A chunk that is exactly one ``{"result": ...}`` object gives
    ``(True, chunk, 0)``.  A closing brace without an opening one raises
    ``err_cls("Stream decode error", chunk, resp)``.  Unlike 0.1.6, braces inside
    strings are not counted (0.1.6 broke on a ``}`` in a value); ``start`` is where
    scanning begins (0.1.6 only shifted its indices)."""
    text = isinstance(chunk, str)
    if text:
        left, right, quote, backslash = (chr(b) if isinstance(b, int) else b for b in (lb, rb, 34, 92))
    else:
        left, right, quote, backslash = (ord(b) if not isinstance(b, int) else b for b in (lb, rb, b'"', b"\\"))
    n = len(chunk)
    marker: Any = _RESULT_MARKER.decode() if text else _RESULT_MARKER
    if start == 0 and n and chunk.startswith(marker) and chunk[-1] == right and chunk.count(marker) == 1 \
            and _object_end(chunk, 0, left, right, quote, backslash) == n - 1:
        yield True, chunk, 0
        yield False, chunk[n:], n - 1
        return
    last = start
    depth = 0
    in_string = escaped = False
    for i in range(start, n):
        c = chunk[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == backslash:
                escaped = True
            elif c == quote:
                in_string = False
            continue
        if c == quote and depth > 0:
            in_string = True
            continue
        if c == left:
            depth += 1
        elif c == right:
            depth -= 1
        if depth == 0:
            yield True, chunk[last:i + 1], i
            last = i + 1
        elif depth < 0:
            raise err_cls("Stream decode error", chunk, resp)
    yield False, chunk[last:], last - 1


def _object_end(chunk: Any, pos: int, left: Any, right: Any, quote: Any, backslash: Any) -> int:
    """Index of the brace that closes the object opening at ``pos``; -1 if none."""
    depth = 0
    in_string = escaped = False
    for i in range(pos, len(chunk)):
        c = chunk[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == backslash:
                escaped = True
            elif c == quote:
                in_string = False
        elif c == quote:
            in_string = True
        elif c == left:
            depth += 1
        elif c == right:
            depth -= 1
            if depth == 0:
                return i
    return -1


def enum_value(e: Any) -> Any:
    """The value of an enum member, anything else unchanged."""
    return e.value if isinstance(e, enum.Enum) else e


_enum_value = enum_value  # the name in some 0.1.x releases


def retry(func: Callable, max_tries: int = 3, log: Any = logging, err_cls: type = Exception) -> None:
    """Call ``func()`` until it does not raise ``err_cls``, at most ``max_tries``
    times, then re-raise its last error.  As 0.1.6: every try is preceded by a
    0.3 s pause, failures are logged at debug level, and the result is ``None``
    (not ``func``'s return value)."""
    tries = 1
    while True:
        try:
            time.sleep(0.3)
            func()
            return None
        except err_cls as e:
            if tries >= max_tries:
                raise
            log.debug("%s() failed (try %d of %d), retrying: %s",
                      getattr(func, "__name__", func), tries, max_tries, e)
            tries += 1


def exec_cmd(cmd: Union[str, Sequence[str]], envs: Optional[Dict[str, str]] = None,
             raise_error: bool = True) -> bytes:
    """Run a command and return its standard output as bytes (as 0.1.6).

    A string is split with ``shlex``; the program is looked up with
    ``find_executable``.  The command's environment is ``envs`` and nothing else
    (empty by default, nothing inherited).  A non-zero exit raises
    ``RuntimeError(stderr_bytes)`` when ``raise_error``."""
    import shlex
    import subprocess

    argv: List[str] = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    if not argv:
        raise ValueError("exec_cmd() needs a command, got %r" % (cmd,))
    program = find_executable(argv[0])
    if program:
        argv[0] = program
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(envs or {}))
    out, err = proc.communicate()
    if proc.returncode != 0 and raise_error:
        raise RuntimeError(err)
    return out


def find_executable(executable: str, path: Optional[str] = None) -> Optional[str]:
    """Find if 'executable' can be run. Looks for it in 'path'
    (string that lists directories separated by 'os.pathsep';
    defaults to os.environ['PATH']). Checks for all executable
    extensions. Returns full path or None if no command is found.

    As 0.1.6: ``executable`` itself is tried first (a path as given), then each
    directory of the path, then ``/usr/local/bin``."""
    directories = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    extensions = [""]
    if sys.platform == "win32":
        pathext = os.environ.get("PATHEXT", ".COM;.EXE;.BAT;.CMD").lower().split(os.pathsep)
        if os.path.splitext(executable)[1].lower() not in pathext:
            extensions = pathext
    for extension in extensions:
        name = executable + extension
        for candidate in [name] + [os.path.join(d, name) for d in directories] + \
                [os.path.join("/usr/local/bin", name)]:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None
