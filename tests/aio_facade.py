"""Run the integration tests against AioClient too: a thin synchronous facade.

Every call on the facade goes to the real AioClient (or the helper object it
made), and whatever comes back awaitable is awaited on an event loop that runs
in a thread of its own.  Nothing is faked: the requests, streams, watches and
keepalives are the async client's own, on its own loop.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any

import etcd3
from etcd3 import aio_client
from etcd3.stateful import election, lease, lock, watch
from etcd3.stateful import transaction as txn

RESULT_TIMEOUT = 120


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aio-facade", daemon=True)
        self.thread.start()

    def run(self, awaitable: Any) -> Any:
        async def wrapper():
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(RESULT_TIMEOUT)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


_WRAPPED = (etcd3.AioClient, aio_client.ModelizedStreamResponse, lock.Lock, lock.FairLock, lease.Lease, txn.Txn,
            election.Election, watch.AioWatcher)


def wrap(value: Any, loop: LoopThread) -> Any:
    # coroutines are awaited; a Task (runDaemon's) is returned as it is: it runs on
    if inspect.iscoroutine(value):
        value = loop.run(value)
    if isinstance(value, _WRAPPED):
        return Facade(value, loop)
    if inspect.isasyncgen(value):
        return _iterate(value, loop)
    return value


def _iterate(agen: Any, loop: LoopThread):
    """An async generator, iterated from the calling thread."""
    try:
        while True:
            try:
                yield loop.run(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run(agen.aclose())


class Facade:
    """The synchronous face of an async object."""

    def __init__(self, target: Any, loop: LoopThread) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    @property
    def aio(self) -> Any:
        """The real async object behind the facade."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                args = tuple(a._target if isinstance(a, Facade) else a for a in args)
                kwargs = {k: v._target if isinstance(v, Facade) else v for k, v in kwargs.items()}
                return wrap(self._loop.run(_call_in_loop(value, args, kwargs)), self._loop)
            try:
                call.__signature__ = inspect.signature(value)  # type: ignore[attr-defined]
            except (TypeError, ValueError):
                pass
            return call
        return wrap(value, self._loop)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return repr(self._target)

    def __dir__(self):
        return dir(self._target)

    def __enter__(self) -> "Facade":
        target = self._target
        if hasattr(target, "__aenter__"):
            wrap(self._loop.run(target.__aenter__()), self._loop)
        else:
            target.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        target = self._target
        if hasattr(target, "__aexit__"):
            self._loop.run(target.__aexit__(*exc))
        else:
            target.__exit__(*exc)

    def __iter__(self):
        return _iterate(self._target.__aiter__(), self._loop)


async def _call_in_loop(fn: Any, args: tuple, kwargs: dict) -> Any:
    # calls happen in the loop's thread, as an async program makes them
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result) or isinstance(result, aio_client.StreamCall):
        result = await result
    return result


def make_aio_client(server: Any, **kwargs: Any) -> Facade:
    loop = LoopThread()
    client = loop.run(_make(server, kwargs))
    facade = Facade(client, loop)
    return facade


async def _make(server: Any, kwargs: dict) -> Any:
    client = etcd3.AioClient(host=server.host, port=server.port, **kwargs)
    await client._ensure_connected()
    return client


def close_aio_client(facade: Facade) -> None:
    loop = facade._loop
    loop.run(facade._target.close())
    loop.stop()
