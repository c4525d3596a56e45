"""``etcd3.utils`` and ``etcd3.errors`` as etcd3-py 0.1.6 had them (ORIGINAL_API.md
sections 7 and 3): every helper's behaviour, every error class name where 0.1.6
had it with its constructor and attributes (no server), and the errors that real
calls raise on real servers carrying 0.1.6's ``error``, ``code``, ``codeText``,
``status``."""
from __future__ import annotations

import asyncio
import collections
import gc
import inspect
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import types
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path

import pytest

import etcd3
from etcd3 import errors, utils
from etcd3.utils import Etcd3Warning

# -- utils ------------------------------------------------------------------------------


def test_plain_names():
    assert utils.log is logging.getLogger("etcd3")
    assert issubclass(Etcd3Warning, UserWarning)
    assert utils.bytes_types == (bytes, bytearray)
    assert utils.OrderedDictEx is OrderedDict
    assert utils.get_ident is threading.get_ident
    assert utils.getargspec is inspect.getfullargspec
    assert utils.Hashable is collections.abc.Hashable
    assert utils.enum_value(etcd3.EventType.DELETE) == "DELETE" and utils.enum_value("x") == "x"
    x = {"a": 1, "b": 1}
    assert utils.merge_two_dicts(x, {"b": 2, "c": 3}) == {"a": 1, "b": 2, "c": 3} and x == {"a": 1, "b": 1}


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(Path(etcd3.__file__).parent.parent))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_utils_shows_every_etcd3_warning():
    out = run_python(
        "import warnings\n"
        "import etcd3.utils as u\n"
        "print(next(f[0] for f in warnings.filters if issubclass(u.Etcd3Warning, f[2])))\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    for _ in range(3):\n"
        "        warnings.warn('again', u.Etcd3Warning)\n"
        "print(len(seen))\n")
    assert out.split() == ["always", "3"]


def test_the_suite_still_turns_etcd3_warnings_into_errors():
    # setup.cfg's filterwarnings applies per test, over the module's 'always'
    with pytest.raises(Etcd3Warning):
        warnings.warn("a warning of ours", Etcd3Warning)


def test_the_utils_module_itself_imports_no_asyncio_or_subprocess():
    # loaded alone (the package's __init__ imports the clients, and so asyncio)
    out = run_python(
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('standalone_utils', 'etcd3/utils.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('asyncio', 'subprocess', 'shlex', 'json') if m in sys.modules))\n")
    assert out.strip() == "[]"


@pytest.mark.parametrize("data,expected", [
    ("foo", b"fop"), (b"foo", b"fop"), (bytearray(b"a"), b"b"), (12, b"13"), ("é", b"\xc3\xaa"),
    (b"a\xfe", b"a\xff"), (b"\x00", b"\x01"),
])
def test_incr_last_byte(data, expected):
    result = utils.incr_last_byte(data)
    assert result == expected and type(result) is bytes


@pytest.mark.parametrize("data", [b"\xff", b"a\xff", bytearray(b"\xff\xff")])
def test_incr_last_byte_has_no_carry(data):
    with pytest.raises(ValueError, match=r"^byte must be in range\(0, 256\)$"):
        utils.incr_last_byte(data)


@pytest.mark.parametrize("data", [b"", ""])
def test_incr_last_byte_of_nothing(data):
    with pytest.raises(IndexError):
        utils.incr_last_byte(data)


def test_the_prefix_sugar_carries():
    assert utils.prefix_range_end(b"a\xff") == b"b" and utils.prefix_range_end(b"\xff\xff") == b"\0"
    assert utils.prefix_range_end("foo") == b"fop"
    assert utils.key_range(b"a\xff", prefix=True) == (b"a\xff", b"b")


class TestCheckParam:
    def test_needs_a_list_at_decoration(self):
        decorate = utils.check_param()  # the factory itself accepts anything
        with pytest.raises(TypeError, match=r"^check_param\(\) requires at least one argument of "
                                            r"at_least_one_of, at_most_one_of$"):
            decorate(lambda: None)
        with pytest.raises(TypeError, match=r"^check_param\(\) only accept list or tuple as parameter$"):
            utils.check_param(at_least_one_of="ab")(lambda a=None, b=None: None)

    def test_messages(self):
        @utils.check_param(at_least_one_of=["key", "all"], at_most_one_of=["range_end", "prefix", "all"])
        def range(key=None, range_end=None, prefix=False, all=False):
            return key, range_end, prefix, all

        with pytest.raises(TypeError, match=r"^range\(\) requires at least one argument of key,all$"):
            range()
        with pytest.raises(TypeError, match=r"^range\(\) requires at most one of param range_end or prefix or all$"):
            range("a", range_end="b", prefix=False)  # an explicit False counts
        assert range("a", "b") == ("a", "b", False, False)
        assert range(all=False) == (None, None, False, False)  # passes: False is not None
        assert range.__name__ == "range" and range.__wrapped__ is not None

    def test_positional_arguments_count_by_their_names(self):
        class API:
            @utils.check_param(at_least_one_of=["self"])
            def only_self(self):
                return "ok"

            @utils.check_param(at_most_one_of=["a", "b"])
            def fn(self, a=None, b=None):
                return a, b

        api = API()
        assert api.only_self() == "ok"  # self is a named parameter too
        with pytest.raises(TypeError, match=r"^fn\(\) requires at most one of param a or b$"):
            api.fn(1, 2)
        with pytest.raises(TypeError, match=r"^fn\(\) requires at most one of param a or b$"):
            api.fn(1, b=2)
        assert api.fn(None, 2) == (None, 2)


class TestMemoize:
    def test_cache_and_keys(self):
        calls = []

        @utils.memoize
        def fn(a, b=2):
            calls.append((a, b))
            return a + b

        assert fn(1) == 3 and fn(1) == 3 and fn(a=1) == 3
        assert fn(1, 2) == 3  # an explicit default is another key, as in 0.1.6
        assert calls == [(1, 2), (1, 2)]
        assert fn.cache == {(1, None): 3, (1, 2): 3}
        assert fn.__wrapped__.cache is fn.cache  # the same dict on the function and on the wrapper
        fn.invalidate_cache()
        assert fn.cache == {} and fn(1) == 3 and len(calls) == 3

    def test_unhashable_arguments_are_computed_each_time(self):
        calls = []

        @utils.memoize
        def total(items):
            calls.append(items)
            return sum(items)

        assert total([1, 2]) == 3 and total([1, 2]) == 3 and len(calls) == 2 and total.cache == {}

    def test_a_method_cache_leaves_self_out_of_the_key(self):
        class Thing:
            made = 0

            @utils.memoize
            def value(self, x):
                Thing.made += 1
                return x * 2

        assert Thing().value(2) == 4 and Thing().value(2) == 4 and Thing.made == 1
        assert Thing.value.cache == {(2,): 4}


class TestMemoizeInObject:
    def test_per_instance(self):
        class Thing:
            def __init__(self, k):
                self.k, self.made = k, 0

            @utils.memoize_in_object
            def value(self, x, y=None):
                self.made += 1
                return self.k * x

        a, b = Thing(1), Thing(10)
        assert a.value(2) == 2 and a.value(2) == 2 and a.value(x=2) == 2 and a.made == 1
        assert b.value(2) == 20 and b.made == 1
        assert a.value(2, 5) == 2 and a.made == 2  # another key

    def test_the_cache_goes_with_the_instance(self):
        # 0.1.6 kept every instance in a global dict for ever
        class Thing:
            @utils.memoize_in_object
            def value(self):
                return object()

        thing = Thing()
        first = thing.value()
        assert thing.value() is first
        ref = weakref.ref(thing)
        del thing
        gc.collect()
        assert ref() is None

    def test_an_override_calling_super_keeps_two_caches(self):
        class Base:
            @utils.memoize_in_object
            def value(self):
                return 1

        class Child(Base):
            @utils.memoize_in_object
            def value(self):
                return super().value() + 1

        child = Child()
        assert child.value() == 2 and Base.value(child) == 1 and child.value() == 2


class TestLruCache:
    def test_default_size_100_and_stats(self):
        @utils.lru_cache()
        def square(x):
            return x * x

        assert [square(i) for i in (1, 2, 1)] == [1, 4, 1]
        info = square.cache_info()
        assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 2, 100, 2)
        square.cache_clear()
        assert square.cache_info() == (0, 0, 100, 0)

    def test_bare_unbounded_and_eviction(self):
        @utils.lru_cache
        def bare(x):
            return x

        assert bare(1) == 1 and bare.cache_info().maxsize == 100

        @utils.lru_cache(maxsize=None)
        def unbounded(x):
            return x

        for i in range(300):
            unbounded(i)
        assert unbounded.cache_info().currsize == 300 and unbounded.cache_info().maxsize is None

        calls = []

        @utils.lru_cache(maxsize=2)
        def small(x):
            calls.append(x)
            return x

        small(1), small(2), small(1), small(3)  # 2 is the least recently used: evicted
        small(1)
        small(2)
        assert calls == [1, 2, 3, 2]


def test_cached_property():
    class Thing:
        made = 0

        @utils.cached_property
        def value(self):
            """The doc."""
            Thing.made += 1
            return [Thing.made]

    thing = Thing()
    assert isinstance(Thing.value, utils.cached_property) and Thing.value.__doc__ == "The doc."
    assert thing.value is thing.value and thing.value == [1] and thing.__dict__["value"] == [1]
    del thing.value
    assert thing.value == [2]


class TestIterJsonString:
    def test_one_result_object(self):
        chunk = b'{"result":{"header":{"revision":"1"}}}'
        assert list(utils.iter_json_string(chunk)) == [(True, chunk, 0), (False, b"", len(chunk) - 1)]

    def test_several_objects_and_bytes_between(self):
        chunk = b'{"a":1}\n{"b":{"c":2}}{"d"'
        assert list(utils.iter_json_string(chunk)) == [
            (True, b'{"a":1}', 6), (True, b"\n", 7), (True, b'{"b":{"c":2}}', 20), (False, b'{"d"', 20)]

    def test_incomplete_and_empty(self):
        assert list(utils.iter_json_string(b'{"a":')) == [(False, b'{"a":', -1)]
        assert list(utils.iter_json_string(b"")) == [(False, b"", -1)]

    def test_braces_inside_strings_do_not_count(self):
        # 0.1.6 counted them: a "}" in a value cut the object there
        chunk = b'{"result":{"v":"}{\\"}"}}\n{"result":{}}'
        parts = list(utils.iter_json_string(chunk))
        assert parts == [(True, b'{"result":{"v":"}{\\"}"}}', 23), (True, b"\n", 24),
                         (True, b'{"result":{}}', 37), (False, b"", 37)]

    def test_a_lone_closing_brace_raises_err_cls(self):
        chunk = b'{"a":1}}'
        with pytest.raises(errors.Etcd3StreamError) as info:
            list(utils.iter_json_string(chunk, resp="the response", err_cls=errors.Etcd3StreamError))
        assert (info.value.error, info.value.buf, info.value.resp) == ("Stream decode error", chunk, "the response")
        with pytest.raises(ValueError) as plain:
            list(utils.iter_json_string(b"}"))
        assert plain.value.args == ("Stream decode error", b"}", None)

    def test_other_brackets(self):
        assert list(utils.iter_json_string(b"[1,[2]]", lb=ord("["), rb=ord("]"))) == [
            (True, b"[1,[2]]", 6), (False, b"", 6)]


class TestExecCmd:
    def test_stdout_bytes_and_shlex(self):
        out = utils.exec_cmd("printf '%s|' 'a b' c")
        assert out == b"a b|c|" and type(out) is bytes
        assert utils.exec_cmd(["printf", "%s", "x y"]) == b"x y"

    def test_environment_is_only_envs(self):
        # 'env' is found through find_executable although the command gets no PATH
        assert utils.exec_cmd("env") == b""
        assert utils.exec_cmd("env", envs={"ETCD3_A": "1"}) == b"ETCD3_A=1\n"

    def test_failure(self):
        with pytest.raises(RuntimeError) as info:
            utils.exec_cmd(["sh", "-c", "echo out; echo oops >&2; exit 3"])
        assert info.value.args == (b"oops\n",)
        assert utils.exec_cmd(["sh", "-c", "echo out; exit 3"], raise_error=False) == b"out\n"
        with pytest.raises(ValueError, match="needs a command"):
            utils.exec_cmd("")


class TestRetry:
    def test_returns_none_after_a_pause_before_every_try(self):
        tries = []

        def flaky():
            tries.append(time.monotonic())
            if len(tries) < 3:
                raise OSError("not yet")
            return "a result 0.1.6 dropped"

        started = time.monotonic()
        assert utils.retry(flaky, max_tries=3) is None
        assert len(tries) == 3
        assert tries[0] - started >= 0.29 and all(b - a >= 0.29 for a, b in zip(tries, tries[1:]))

    def test_gives_up_with_the_last_error(self):
        tries = []

        def failing():
            tries.append(1)
            raise OSError("try %d" % len(tries))

        with pytest.raises(OSError, match="try 2"):
            utils.retry(failing, max_tries=2, log=logging.getLogger("test"))
        assert len(tries) == 2

    def test_only_err_cls_is_retried(self):
        tries = []

        def wrong():
            tries.append(1)
            raise KeyError("not retried")

        with pytest.raises(KeyError):
            utils.retry(wrong, err_cls=OSError)
        assert len(tries) == 1


class TestFindExecutable:
    def test_path_and_itself(self, tmp_path):
        tool = tmp_path / "etcd3-test-tool"
        tool.write_text("#!/bin/sh\n")
        assert utils.find_executable("etcd3-test-tool", path=str(tmp_path)) is None  # not executable
        tool.chmod(0o755)
        assert utils.find_executable("etcd3-test-tool", path=os.pathsep.join(["/nonexistent", str(tmp_path)])) \
            == str(tool)
        assert utils.find_executable(str(tool), path="") == str(tool)
        assert utils.find_executable("etcd3-no-such-tool-anywhere") is None
        assert utils.find_executable("sh") == os.path.join(
            next(d for d in os.environ["PATH"].split(os.pathsep) if os.path.isfile(os.path.join(d, "sh"))), "sh")

    def test_usr_local_bin_fallback(self):
        local = Path("/usr/local/bin")
        tools = sorted(p for p in local.iterdir() if p.is_file() and os.access(p, os.X_OK)) \
            if local.is_dir() else []
        if not tools:
            pytest.skip("no program in /usr/local/bin on this machine")
        assert utils.find_executable(tools[0].name, path="/nonexistent") == str(tools[0])


class TestRunCoro:
    @pytest.fixture(autouse=True)
    def no_loop_left_set(self):
        yield
        loop = getattr(utils._coroutine_loops, "loop", None)
        asyncio.set_event_loop(None)
        if loop is not None:
            loop.close()

    def test_one_loop_kept_between_calls(self):
        async def running_loop():
            return asyncio.get_running_loop()

        async def make_future():
            return asyncio.get_running_loop().create_future()

        first = utils.run_coro(running_loop())
        assert utils.run_coro(running_loop()) is first and not first.is_closed()
        future = utils.run_coro(make_future())  # something bound to the loop of one call ...

        async def settle():
            future.set_result(7)
            return await future

        assert utils.run_coro(settle()) == 7  # ... works in the next one

    def test_the_loop_the_caller_set(self):
        async def running_loop():
            return asyncio.get_running_loop()

        mine = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(mine)
            assert utils.run_coro(running_loop()) is mine
        finally:
            asyncio.set_event_loop(None)
            mine.close()

    def test_not_inside_a_running_loop(self):
        async def inner():
            return 1

        async def outer():
            coro = inner()
            with pytest.raises(RuntimeError, match="running event loop"):
                utils.run_coro(coro)
            return inspect.getcoroutinestate(coro)

        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no "never awaited"
            assert asyncio.run(outer()) == inspect.CORO_CLOSED


# -- errors -----------------------------------------------------------------------------

# 0.1.6's server errors and their gRPC codes (ORIGINAL_API.md section 3)
ORIGINAL_ERRORS = {
    "ErrEmptyKey": 3, "ErrKeyNotFound": 3, "ErrValueProvided": 3, "ErrLeaseProvided": 3, "ErrTooManyOps": 3,
    "ErrDuplicateKey": 3, "ErrCompacted": 11, "ErrFutureRev": 11, "ErrNoSpace": 8, "ErrLeaseNotFound": 5,
    "ErrLeaseExist": 9, "ErrLeaseTTLTooLarge": 11, "ErrMemberExist": 9, "ErrPeerURLExist": 9,
    "ErrMemberNotEnoughStarted": 9, "ErrMemberBadURLs": 3, "ErrMemberNotFound": 5, "ErrRequestTooLarge": 3,
    "ErrTooManyRequests": 8, "ErrRootUserNotExist": 9, "ErrRootRoleNotExist": 9, "ErrUserAlreadyExist": 9,
    "ErrUserEmpty": 3, "ErrUserNotFound": 9, "ErrRoleAlreadyExist": 9, "ErrRoleNotFound": 9, "ErrAuthFailed": 3,
    "ErrPermissionDenied": 7, "ErrRoleNotGranted": 9, "ErrPermissionNotGranted": 9, "ErrAuthNotEnabled": 9,
    "ErrInvalidAuthToken": 16, "ErrInvalidAuthMgmt": 3, "ErrNoLeader": 14, "ErrNotLeader": 9, "ErrNotCapable": 14,
    "ErrStopped": 14, "ErrTimeout": 14, "ErrTimeoutDueToLeaderFail": 14, "ErrTimeoutDueToConnectionLost": 14,
    "ErrUnhealthy": 14, "ErrCorrupt": 15,
}
ORIGINAL_ALL = ["Etcd3Exception", "get_client_error", "Etcd3StreamError", "Etcd3WatchCanceled",
                "UnsupportedServerVersion"] + list(ORIGINAL_ERRORS)


@pytest.mark.parametrize("name,code", sorted(ORIGINAL_ERRORS.items()))
def test_every_server_error_of_0_1_6(name, code):
    from etcd3.errors import go_etcd_rpctypes_error as rpctypes

    cls = getattr(errors, name)
    assert getattr(rpctypes, name) is cls
    assert issubclass(cls, errors.Etcd3Exception) and issubclass(cls, errors.Etcd3APIError)
    assert issubclass(cls, getattr(errors, errors.GRPC_CODES[code]))  # under its gRPC code's class
    e = cls()
    assert e.code == code and e.error == cls.etcd_message and e.error.startswith("etcdserver: ")
    assert rpctypes.errStringToClientError[e.error] is cls
    grpc_name = "ErrGRPCRequestTooManyRequests" if name == "ErrTooManyRequests" else "ErrGRPC" + name[3:]
    assert getattr(rpctypes, grpc_name) == (code, e.error) and rpctypes.errStringToError[e.error] == (code, e.error)


def test_module_surface():
    assert set(ORIGINAL_ALL) <= set(errors.__all__)
    for name in ORIGINAL_ALL + ["ErrUnknownError"]:
        assert hasattr(errors, name), name
    from etcd3.errors import errors as errors_module
    from etcd3.errors import go_etcd_rpctypes_error as rpctypes

    for name in ("Etcd3StreamError", "Etcd3WatchCanceled", "UnsupportedServerVersion", "get_client_error",
                 "Etcd3Exception", "ErrUnknownError"):
        assert getattr(errors_module, name) is getattr(errors, name)
    for name in ("Etcd3Exception", "ErrUnknownError", "get_client_error"):
        assert getattr(rpctypes, name) is getattr(errors, name)
    assert rpctypes.error_desc(rpctypes.ErrGRPCEmptyKey) == "etcdserver: key is not provided"
    assert issubclass(errors.UnsupportedServerVersion, errors.Etcd3Exception)
    assert str(errors.UnsupportedServerVersion("2.3.7")) == "2.3.7"


def test_grpc_codes_http_status_and_the_gateway_table():
    from etcd3.errors.go_grpc_codes import GRPCCode, codeText
    from etcd3.errors.go_grpc_gateway_errors import HTTPStatusFromCode
    from etcd3.errors.go_net_http_status import HTTPStatus, StatusText, statusText

    names = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
             "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
             "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"]
    assert [getattr(GRPCCode, name) for name in names] == list(range(17))
    assert codeText == dict(enumerate(names))
    assert (HTTPStatus.StatusOK, HTTPStatus.StatusNotFound, HTTPStatus.StatusPreconditionFailed,
            HTTPStatus.StatusTooManyRequests, HTTPStatus.StatusServiceUnavailable) == (200, 404, 412, 429, 503)
    assert statusText[404] == StatusText(404) == "Not Found" and StatusText(299) == ""
    assert [HTTPStatusFromCode(code) for code in range(17)] == [
        200, 408, 500, 400, 408, 404, 409, 403, 403, 412, 409, 400, 501, 500, 503, 500, 401]
    assert HTTPStatusFromCode(99) == 500


class TestServerErrorConstructor:
    def test_without_arguments(self):
        with pytest.raises(errors.ErrLeaseNotFound) as info:
            raise errors.ErrLeaseNotFound
        e = info.value
        assert (e.error, e.code, e.codeText, e.status, e.response) == (
            "etcdserver: requested lease not found", 5, None, None, None)
        assert e.args == ()
        assert e.as_dict() == {"error": "etcdserver: requested lease not found", "code": 5, "codeText": None,
                               "status": None}
        assert repr(e) == "<ErrLeaseNotFound error:'etcdserver: requested lease not found', code:5>"
        assert str(e) == repr(e)  # as 0.1.6
        # ours too
        assert (e.message, e.code_name, e.http_status, e.details) == (
            "etcdserver: requested lease not found", "NotFound", None, None)

    def test_with_0_1_6_arguments(self):
        response = object()
        e = errors.ErrKeyNotFound("etcdserver: key not found", 3, 400, response)
        assert e.args == ("etcdserver: key not found", 3, 400, response)
        assert (e.error, e.code, e.codeText, e.status, e.response) == (
            "etcdserver: key not found", 3, "InvalidArgument", 400, response)
        assert repr(e) == "<ErrKeyNotFound error:'etcdserver: key not found', code:3>"
        assert str(e) == repr(e)

    def test_error_and_code_are_the_class_own(self):
        # as 0.1.6: the passed message and code do not change error/code; codeText names the passed code
        e = errors.ErrNoLeader(b"rpc error: etcdserver: no leader", 2, 503)
        assert (e.error, e.code, e.codeText, e.status) == ("etcdserver: no leader", 14, "Unknown", 503)
        assert e.message == "rpc error: etcdserver: no leader"  # ours keeps the server's text

    def test_pickles(self):
        e = errors.ErrLeaseNotFound("etcdserver: requested lease not found", 5, 404)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is errors.ErrLeaseNotFound and back.as_dict() == e.as_dict()
        u = errors.ErrUnknownError("boom", 14, 503)
        back = pickle.loads(pickle.dumps(u))
        assert type(back) is type(u) and back.as_dict() == u.as_dict()


class TestUnknownError:
    def test_keeps_the_code(self):
        e = errors.ErrUnknownError("  something new \n", 5, 404)
        assert (e.error, e.code, e.codeText, e.status, e.response) == ("something new", 5, "NotFound", 404, None)
        assert type(e).__name__ == "ErrUnknownError" and repr(e) == "<ErrUnknownError error:'something new', code:5>"
        assert isinstance(e, errors.ErrUnknownError) and isinstance(e, errors.NotFound)
        assert type(e) is errors.ErrUnknownError.NotFound
        assert not isinstance(e, errors.ErrLeaseNotFound)

    def test_without_a_code_the_status_decides(self):
        # 0.1.6 raised KeyError from codeText[None]
        e = errors.ErrUnknownError("upstream connect error", None, 503)
        assert (e.code, e.codeText, e.status) == (14, None, 503) and isinstance(e, errors.Unavailable)
        assert errors.ErrUnknownError("x", None, None).code == 2


class TestGetClientError:
    def test_returns_the_class_of_the_exact_message(self):
        e = errors.get_client_error(b"etcdserver: user name not found", 9, 412, "resp")
        assert type(e) is errors.ErrUserNotFound
        assert e.as_dict() == {"error": "etcdserver: user name not found", "code": 9,
                               "codeText": "FailedPrecondition", "status": 412}
        assert e.response == "resp"

    def test_other_messages_are_unknown_errors(self):
        e = errors.get_client_error("etcdserver: user name not found, and more", 9, 412)
        assert isinstance(e, errors.ErrUnknownError) and isinstance(e, errors.FailedPrecondition)
        assert (e.error, e.code, e.codeText) == ("etcdserver: user name not found, and more", 9, "FailedPrecondition")
        # 0.1.6 failed with TypeError on a missing message
        assert isinstance(errors.get_client_error(None, 2, 500), errors.ErrUnknownError)


class TestStreamErrors:
    def test_stream_error(self):
        e = errors.Etcd3StreamError("Stream decode error", b'{"res', "resp")
        assert (e.error, e.buf, e.resp) == ("Stream decode error", b'{"res', "resp")
        assert e.args == ("Stream decode error", b'{"res', "resp")
        assert isinstance(e, errors.Etcd3Exception) and isinstance(e, errors.Etcd3APIError)
        assert errors.Etcd3StreamError("only a message").buf is None

    def test_watch_canceled(self):
        resp = types.SimpleNamespace(canceled=True, compact_revision=7, watch_id=3)  # a watch response
        e = errors.Etcd3WatchCanceled("watch on compacted revision: 5", resp)
        assert (e.error, e.resp) == ("watch on compacted revision: 5", resp)
        assert (e.compact_revision, e.watch_id) == (7, 3)
        assert isinstance(e, errors.Etcd3StreamError)
        # how this library builds them
        ours = errors.Etcd3WatchCompacted("revisions before 9 are compacted", compact_revision=9, watch_id=1)
        assert isinstance(ours, errors.Etcd3WatchCanceled) and isinstance(ours, errors.ErrCompacted)
        assert (ours.error, ours.code, ours.compact_revision, ours.resp) == (
            "revisions before 9 are compacted", 11, 9, None)
        assert errors.Etcd3WatchCanceled("the watch was stopped").error == "the watch was stopped"

    def test_errors_inside_a_stream(self):
        e = errors.error_from_response(None, {"error": {
            "grpc_code": 11, "http_code": 400, "http_status": "Bad Request",
            "message": "etcdserver: mvcc: required revision has been compacted"}})
        assert isinstance(e, errors.ErrCompacted) and isinstance(e, errors.Etcd3StreamError)
        # 0.1.6 passed no code here (codeText None, and KeyError for an unknown message)
        assert e.as_dict() == {"error": "etcdserver: mvcc: required revision has been compacted", "code": 11,
                               "codeText": "OutOfRange", "status": 400}
        unknown = errors.error_from_response(None, {"error": {"code": 14, "message": "transport is closing"}})
        assert isinstance(unknown, errors.ErrUnknownError) and isinstance(unknown, errors.Etcd3StreamError)
        assert (unknown.code, unknown.error) == (14, "transport is closing")


# -- errors raised by real calls --------------------------------------------------------

def status_of_failed_precondition(version: str) -> int:
    from helpers import version_at_least

    return 412 if not version_at_least(version, "3.5") else 400  # 400 from etcd 3.5 on


def check(error, cls, code, status):
    assert isinstance(error, cls) and not isinstance(error, errors.ErrUnknownError)
    assert error.as_dict() == {"error": cls.etcd_message, "code": code, "codeText": errors.GRPC_CODES[code],
                               "status": status}
    assert (error.error, error.code, error.codeText, error.status) == (
        cls.etcd_message, code, errors.GRPC_CODES[code], status)
    assert error.message == cls.etcd_message and error.http_status == status
    assert repr(error) == "<%s error:'%s', code:%d>" % (cls.__name__, cls.etcd_message, code)


def test_lease_not_found(client):
    with pytest.raises(errors.ErrLeaseNotFound) as info:
        client.lease_revoke(12345)
    check(info.value, errors.ErrLeaseNotFound, 5, 404)


def test_empty_key(client):
    with pytest.raises(errors.ErrEmptyKey) as info:
        client.put("", "v")
    check(info.value, errors.ErrEmptyKey, 3, 400)


def test_future_revision(client):
    with pytest.raises(errors.ErrFutureRev) as info:
        client.range("a", revision=10 ** 9)
    check(info.value, errors.ErrFutureRev, 11, 400)


def test_user_not_found(client, etcd_version):
    with pytest.raises(errors.ErrUserNotFound) as info:
        client.user_get("etcd3-no-such-user")
    check(info.value, errors.ErrUserNotFound, 9, status_of_failed_precondition(etcd_version))


# -- the same facts, side by side with the released 0.1.6 -------------------------------

SIDE_BY_SIDE = r'''
import logging
from etcd3 import utils
from etcd3 import errors
from etcd3.errors import go_etcd_rpctypes_error as rpctypes, go_grpc_codes, go_grpc_gateway_errors


def show(label, fn):
    try:
        value = fn()
    except Exception as e:
        value = "raised %s%r" % (type(e).__name__, e.args)
    print(label, "=", repr(value))


for data in ("foo", b"foo", bytearray(b"a"), 12, u"\u00e9", b"\xff", b"a\xff", b""):
    show("incr_last_byte(%r)" % (data,), lambda: utils.incr_last_byte(data))

show("check_param()", lambda: utils.check_param()(lambda: None))
show("check_param(str)", lambda: utils.check_param(at_least_one_of="ab")(lambda a=None: None))


@utils.check_param(at_least_one_of=["key", "all"], at_most_one_of=["range_end", "prefix", "all"])
def range(self, key=None, range_end=None, prefix=False, all=False):
    return key, range_end, prefix, all


show("range(s)", lambda: range("s"))
show("range(s, a, b)", lambda: range("s", "a", "b"))
show("range(s, a, prefix=False)", lambda: range("s", "a", prefix=False))
show("range(s, all=False)", lambda: range("s", all=False))
show("range(s, a, range_end=b, all=True)", lambda: range("s", "a", range_end="b", all=True))


@utils.memoize
def add(a, b=2):
    return a + b


add(1), add(1, 2), add(b=3, a=1)
show("memoize cache", lambda: sorted(add.cache.items()))
show("lru_cache() maxsize", lambda: utils.lru_cache()(lambda x: x).cache_info().maxsize)
show("retry", lambda: utils.retry(lambda: 5))
for chunk in (b'{"result":{"a":1}}', b'{"a":1}\n{"b":{"c":2}}{"d"', b'{"a":', b"", b'{"a":1}}', b"\n\n"):
    show("iter_json_string(%r)" % (chunk,), lambda: list(utils.iter_json_string(chunk)))
show("exec_cmd(echo)", lambda: utils.exec_cmd("echo 'a  b' c"))
show("exec_cmd(env)", lambda: utils.exec_cmd("env", envs={"ETCD3_A": "1"}))
show("exec_cmd(fail)", lambda: utils.exec_cmd(["sh", "-c", "echo err >&2; exit 2"]))
show("exec_cmd(fail, no raise)", lambda: utils.exec_cmd(["sh", "-c", "echo out; exit 2"], raise_error=False))
show("enum_value", lambda: (utils.enum_value(go_grpc_codes.GRPCCode.NotFound), utils.merge_two_dicts({1: 2}, {3: 4})))

for name in ("ErrEmptyKey", "ErrLeaseNotFound", "ErrUserNotFound", "ErrNoLeader", "ErrCorrupt", "ErrTooManyRequests"):
    cls = getattr(errors, name)
    show(name + "()", lambda: (repr(cls()), cls().as_dict(), cls().args))
    show(name + "(...)", lambda: (repr(cls("x", 14, 503, None)), cls("x", 14, 503, None).as_dict()))
for message in (b"etcdserver: requested lease not found", u"etcdserver: user name not found",
                u" something else \n"):
    show("get_client_error(%r)" % (message,), lambda: (
        type(errors.get_client_error(message, 9, 412)).__name__, errors.get_client_error(message, 9, 412).as_dict(),
        repr(errors.get_client_error(message, 9, 412))))
show("ErrUnknownError", lambda: rpctypes.ErrUnknownError(" boom ", 5, 404).as_dict())
show("stream error", lambda: (lambda e: (e.error, e.buf, e.resp))(errors.Etcd3StreamError("decode", b"{", "resp")))
show("watch canceled", lambda: (lambda e: (e.error, e.resp))(errors.Etcd3WatchCanceled("canceled", "resp")))
show("grpc tuples", lambda: (rpctypes.ErrGRPCEmptyKey, rpctypes.ErrGRPCRequestTooManyRequests,
                             rpctypes.ErrGRPCCorrupt, rpctypes.errStringToError["etcdserver: not leader"]))
show("codeText", lambda: go_grpc_codes.codeText)
show("HTTPStatusFromCode", lambda: [go_grpc_gateway_errors.HTTPStatusFromCode(c) for c in range(18)])
show("status of codes", lambda: [errors.get_client_error("etcdserver: no leader", c, 503).codeText
                                 for c in (0, 5, 16)])
show("find_executable", lambda: (utils.find_executable("sh"), utils.find_executable("etcd3-no-such-tool")))


class Thing(object):
    @utils.memoize
    def twice(self, x, y=None):
        return 2 * x


Thing().twice(1), Thing().twice(1, y=3)
show("memoize of a method", lambda: sorted(Thing.twice.cache.items()))
show("decorated name", lambda: (range.__name__, add.__name__))
'''


def test_side_by_side_with_0_1_6(etcd3_016_python, tmp_path):
    """The same script prints the same lines with the released etcd3-py 0.1.6 and with ours."""
    script = tmp_path / "facts.py"
    script.write_text(SIDE_BY_SIDE)

    def run(python):
        done = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.splitlines()

    original, ours = run(etcd3_016_python), run(sys.executable)
    assert len(original) == len(ours)
    assert [(a, b) for a, b in zip(original, ours) if a != b] == []
