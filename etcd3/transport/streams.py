"""Background full-duplex streams (watch, lease keepalive) of both clients.

A stream is kept open while its owner has work: it connects, re-authenticates
once on an invalid token, reconnects with capped exponential backoff, and hands
the open stream to the owner's ``_pump``.  ``StreamPolicy`` holds what both
drivers share; ``BackgroundStream`` runs it in a thread (sync client),
``AioBackgroundStream`` in an asyncio task (async client).  The owners keep
their state in I/O-free cores (``WatchHub``, ``KeepaliveSchedule``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .._lazy import asyncio
from .. import errors
from . import forksafe
from .duplex import AioDuplexStream, DuplexStream, ssl_context
from ..errors import Etcd3TransportError
from ..errors.go_grpc_codes import GRPCCode

__all__ = ["StreamPolicy", "BackgroundStream", "AioBackgroundStream"]

log = logging.getLogger("etcd3.streams")

REAUTH, RETRY, REFUSED = "reauth", "retry", "refused"


class StreamPolicy:
    """What a background stream does, whichever driver runs it."""

    NAME = "stream"
    BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0
    # Seconds the server may stay silent while something sent is unanswered (every
    # watch and keepalive request gets an answer; the watch stream asks for one when it
    # has been idle): past that the stream is taken as dead and opened again (a watch
    # resumes where it was, so nothing is lost).  Generous: etcd answers in milliseconds.
    ANSWER_TIMEOUT = 10.0
    # A stream that stayed open this long was a working stream: the backoff starts again
    # from BACKOFF_FIRST.  One that breaks sooner (a server answering its head and then
    # cutting it, or sending garbage) counts as another failed attempt, so such a server
    # is retried ever more slowly instead of 20 times a second.
    HEALTHY_AFTER = 1.0
    connections = 0  # streams opened so far (for tests and stats)

    def __init__(self, client: Any, op: Any) -> None:
        self.client = client
        self.op = op
        self._stream: Any = None
        forksafe.register(self)

    # -- what an owner provides (called with the lock held) ------------------------------------
    def _active(self) -> bool:
        raise NotImplementedError

    def _first_lines(self) -> List[bytes]:
        """The request lines that start a new stream."""
        raise NotImplementedError

    def _broken(self, attempt: int, error: BaseException) -> None:
        """The stream broke for the ``attempt``-th time in a row."""

    def _refused(self, error: BaseException) -> None:
        """The server refused the stream itself: no retry will help."""

    def _forget_parents_work(self) -> None:
        """In a forked child: drop the parent's watches or leases (they stay the parent's)."""

    # -- shared --------------------------------------------------------------------------------
    def _send(self, lines: List[bytes]) -> None:
        if lines and self._stream is not None:
            try:
                self._stream.send(b"".join(lines))
            except Etcd3TransportError:
                pass  # the driver notices and reconnects; _first_lines() sends everything again

    def _connection_args(self) -> Tuple[str, str, int, Any]:
        client = self.client
        at = client._in_use  # one read: a cluster client may move to another member meanwhile
        context = ssl_context(client.verify, client.cert) if at.protocol == "https" else None
        self._endpoint_used = at.url  # a cluster client moves from it if the stream breaks
        return at.url, at.host, at.port, context

    _endpoint_used = ""

    def _headers(self) -> Dict[str, str]:
        return self.client._rpc_request(self.op.path, b"", stream=True,
                                        headers=self.client._stream_headers()).headers

    def _needs_token(self) -> bool:
        return bool(self.client.username and self.client.password and not self.client.token)

    def _classify(self, error: BaseException) -> str:
        if isinstance(error, (errors.ErrInvalidAuthToken, errors.ErrUserEmpty)) and \
                self.client.username and self.client.password:
            return REAUTH
        if isinstance(error, errors.Etcd3APIError) and error.code == GRPCCode.ResourceExhausted:
            # an answer larger than the gateway relays (3.3's takes 4 MiB): opened again, the
            # stream resumes where it was and the same answer comes again, for ever
            return REFUSED
        if isinstance(error, errors.Etcd3APIError) and not isinstance(
                error, (errors.Etcd3StreamError, errors.Unavailable)):
            return REFUSED
        if not isinstance(error, (Etcd3TransportError, errors.Etcd3APIError)):
            log.error("%s stream to %s failed unexpectedly; reconnecting", self.NAME, self.client.baseurl,
                      exc_info=error)
        self.client._stream_broke(self._endpoint_used)  # a cluster client's next try: the next member
        return RETRY

    def _attempts_after(self, attempts: int, opened_at: Optional[float]) -> int:
        """The count of failed attempts in a row, now that one more stream broke (it was
        opened at ``opened_at``, or never opened)."""
        if opened_at is not None and time.monotonic() - opened_at >= self.HEALTHY_AFTER:
            return 1
        return attempts + 1

    def _backoff(self, attempt: int) -> float:
        log.debug("%s stream to %s broke; reconnecting, attempt %d", self.NAME, self.client.baseurl, attempt)
        return min(self.BACKOFF_MAX, self.BACKOFF_FIRST * 2 ** (attempt - 1))


def _status_error(status: int, body: bytes) -> errors.Etcd3APIError:
    return errors.error_from_response(status, body)


class BackgroundStream(StreamPolicy):
    """A background stream of the sync client, run by a thread of its own."""

    def __init__(self, client: Any, op: Any) -> None:
        super().__init__(client, op)
        self._lock = threading.RLock()
        self._thread: Optional[threading.Thread] = None
        self._wakeup = threading.Event()

    def _pump(self, stream: DuplexStream) -> None:
        """Use the open stream; return when there is no work left, raise when it broke."""
        raise NotImplementedError

    def _after_fork_in_child(self) -> None:
        # the thread is gone here and may have held the lock; the stream is the parent's:
        # nothing is sent on it (close() would shut the parent's connection down), only the
        # child's copy of its socket is closed.  The child's own work opens a new stream.
        stream, self._stream = self._stream, None
        self._lock = threading.RLock()
        self._thread = None
        self._wakeup = threading.Event()
        self._forget_parents_work()
        if stream is not None:
            try:
                stream.sock.close()
            except OSError:
                pass

    def _ensure_running(self) -> None:
        """Start the thread if it is not running (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="etcd3-" + self.NAME, daemon=True)
            self._thread.start()

    def _stop_streaming(self) -> None:
        """Close the stream (lock held); the thread ends if there is no work."""
        if self._stream is not None:
            self._stream.close()
        self._wakeup.set()

    def close(self) -> None:
        with self._lock:
            self._stop_streaming()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _open(self) -> Optional[DuplexStream]:
        """The open stream, or None when the work went while connecting."""
        if self._needs_token():
            self.client.auth()
        path = self.client._stream_path(self.op.path)  # (a cluster's member may serve another prefix)
        stream = DuplexStream(*self._connection_args())
        try:
            with self._lock:
                first = b"".join(self._first_lines())
                if not first and not self._active():
                    # etcd answers (its head too) only after a first request: opening with
                    # nothing to send would wait for nothing
                    stream.close()
                    return None
                stream.answer_timeout = self.ANSWER_TIMEOUT
                stream.start("POST", path, self._headers(), first)
                self._stream = stream
            status, _ = stream.head(timeout=self.ANSWER_TIMEOUT)
            if status != 200:
                raise _status_error(status, stream.read_all(timeout=10))
        except BaseException:
            with self._lock:
                self._stream = None
            stream.close()
            raise
        self.connections += 1
        return stream

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._lock:
                if not self._active():
                    self._thread = self._stream = None
                    return
            opened_at = None
            try:
                stream = self._open()
                if stream is None:
                    continue
                opened_at = time.monotonic()
                try:
                    self._pump(stream)
                finally:
                    stream.close()  # ended or broken: its socket goes now, not at garbage collection
                continue
            except Exception as e:  # noqa: BLE001 - classified below; a stream must never die silently
                error: BaseException = e
            with self._lock:
                if not self._active():
                    continue  # the last work went and closed the stream: no member to move from
            kind = self._classify(error)
            if kind == REAUTH:
                try:
                    self.client.token = None
                    self.client.auth()
                    continue
                except Exception as e:  # noqa: BLE001 - retried as a broken stream
                    error, kind = e, RETRY
            with self._lock:
                self._stream = None
                if kind == REFUSED:
                    self._refused(error)
                    continue
                if not self._active():
                    continue
                attempt = self._attempts_after(attempt, opened_at)
                self._broken(attempt, error)
            self._wakeup.clear()
            self._wakeup.wait(self._backoff(attempt))


class _NoLock:
    """The async driver's lock: one event loop thread needs none.  Entering it notices
    that the stream is used from another event loop than before (see ``_follow_loop``)."""

    __slots__ = ("owner",)

    def __init__(self, owner: "AioBackgroundStream") -> None:
        self.owner = owner

    def __enter__(self) -> None:
        self.owner._follow_loop()

    def __exit__(self, *args: Any) -> None:
        return None


class AioBackgroundStream(StreamPolicy):
    """A background stream of the async client, run by an asyncio task."""

    def __init__(self, client: Any, op: Any) -> None:
        super().__init__(client, op)
        self._lock = _NoLock(self)
        self._task: Optional["asyncio.Task[None]"] = None
        self._wakeup: Optional[asyncio.Event] = None

    async def _pump(self, stream: AioDuplexStream) -> None:
        raise NotImplementedError

    def _after_fork_in_child(self) -> None:
        # the task and the stream belong to the parent's event loop: left untouched (see
        # forksafe); the child's own work starts a task in the child's loop
        forksafe.keep_untouched(self._stream, self._task)
        self._stream = self._task = self._wakeup = None
        self._forget_parents_work()

    def _follow_loop(self) -> None:
        """The task and the stream of an event loop that is not the running one are of no
        use in this one (that loop ended, most likely): let go of them; the next work
        starts a task in this loop, on a new stream (its watches or leases go on there)."""
        task = self._task
        if task is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        old_loop = task.get_loop()
        if old_loop is loop:
            return
        self._task = self._stream = self._wakeup = None
        if not old_loop.is_closed():
            old_loop.call_soon_threadsafe(task.cancel)  # its stream is closed as the task ends

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="etcd3-" + self.NAME)

    def _stop_streaming(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._wakeup is not None:
            self._wakeup.set()

    async def close(self) -> None:
        self._follow_loop()
        self._stop_streaming()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def _open(self) -> Optional[AioDuplexStream]:
        """The open stream, or None when the work went while connecting."""
        if self._needs_token():
            await self.client.auth()
        path = await self.client._stream_path(self.op.path)
        stream = await AioDuplexStream.connect(*self._connection_args())
        try:
            first = b"".join(self._first_lines())
            if not first and not self._active():
                stream.close()  # nothing to open it for (see BackgroundStream._open)
                return None
            self._stream = stream
            stream.answer_timeout = self.ANSWER_TIMEOUT
            stream.start("POST", path, self._headers(), first)
            status, _ = await stream.head(timeout=self.ANSWER_TIMEOUT)
            if status != 200:
                raise _status_error(status, await stream.read_all(timeout=10))
        except BaseException:
            self._stream = None
            stream.close()
            raise
        self.connections += 1
        return stream

    async def _run(self) -> None:
        attempt = 0
        while True:
            if not self._active():
                self._stream = None
                return
            opened_at = None
            try:
                stream = await self._open()
                if stream is None:
                    continue
                opened_at = time.monotonic()
                try:
                    await self._pump(stream)
                finally:
                    stream.close()  # ended or broken: its transport goes now, not at garbage collection
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - classified below; a stream must never die silently
                error: BaseException = e
            if not self._active():
                continue  # the last work went and closed the stream: no member to move from
            kind = self._classify(error)
            if kind == REAUTH:
                try:
                    self.client.token = None
                    await self.client.auth()
                    continue
                except Exception as e:  # noqa: BLE001 - retried as a broken stream
                    error, kind = e, RETRY
            self._stream = None
            if kind == REFUSED:
                self._refused(error)
                continue
            if not self._active():
                continue
            attempt = self._attempts_after(attempt, opened_at)
            self._broken(attempt, error)
            assert self._wakeup is not None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._backoff(attempt))
            except asyncio.TimeoutError:
                pass
