"""Watches: many on one stream, resumed after failures with no event lost.

``WatchHub`` is the I/O-free core: it turns watch creations and cancellations
into the WatchRequests to send, routes each WatchResponse to its watch by
``watch_id``, reassembles fragments, and remembers for every watch the revision
to resume from (the last delivered event's revision + 1, or a revision a
progress notification vouched for).  After a reconnect it re-creates every
watch from there, so nothing is lost and nothing is delivered twice.

``WatchStream`` drives a hub over one full-duplex HTTP stream per client (a
chunked request body of newline-delimited WatchRequests) in a reader thread,
reconnecting with capped exponential backoff.  ``Watcher`` is the seed's
callback API on top of it.
"""
from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import logging
import queue
import re
import threading
import time
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterator, List, Optional, Pattern, Tuple, Union

from .. import errors
from ..core import StreamDecoder, unwrap_stream_item
from ..transport.duplex import DuplexStream
from ..errors import Etcd3Exception, Etcd3WatchCanceled, Etcd3WatchCompacted
from ..transport.streams import AioBackgroundStream, BackgroundStream
from ..utils import key_range

__all__ = ["WatchEvent", "WatchHub", "WatchState", "WatchStream", "AioWatchStream", "WatchConnection", "Watcher",
           "AioWatcher", "watch_create_fields"]

log = logging.getLogger("etcd3.watch")

# what a watch's sink receives
CREATED, EVENTS, ERROR, ENDED = "created", "events", "error", "ended"


class WatchEvent:
    """One event of a watch: ``key``, ``value``, ``type`` (EventType.PUT/DELETE),
    ``prev_kv`` (a KeyValue when the watch asked for it), ``create_revision``,
    ``mod_revision`` (= ``revision``), ``version``, ``lease``, and the ``header``
    of the response that carried it."""

    __slots__ = ("key", "value", "type", "prev_kv", "create_revision", "mod_revision", "version", "lease", "header")

    def __init__(self, event: Any, header: Any = None) -> None:
        kv = event.kv
        self.type = event.type
        self.prev_kv = event.prev_kv
        self.header = header
        if kv is None:
            self.key, self.value, self.create_revision, self.mod_revision, self.version, self.lease = \
                b"", b"", 0, 0, 0, 0
        else:
            self.key, self.value = kv.key, kv.value
            self.create_revision, self.mod_revision = kv.create_revision, kv.mod_revision
            self.version, self.lease = kv.version, kv.lease

    @property
    def revision(self) -> int:
        return self.mod_revision

    def __repr__(self) -> str:
        return "WatchEvent(type=%s, key=%r, value=%r, mod_revision=%d)" % (
            getattr(self.type, "name", self.type), self.key, self.value, self.mod_revision)


def watch_create_fields(key: Any = None, range_end: Any = None, start_revision: Optional[int] = None,
                        progress_notify: Optional[bool] = None, prev_kv: Optional[bool] = None,
                        prefix: Optional[bool] = None, all: Optional[bool] = None, no_put: bool = False,
                        no_delete: bool = False, fragment: Optional[bool] = None) -> Dict[str, Any]:
    """The fields of a WatchCreateRequest from the Watcher's arguments."""
    if key is None and not all:
        raise TypeError("a watch needs a key (or all=True)")
    key, range_end = key_range(key, range_end, prefix, all)
    if no_put and no_delete:
        raise ValueError("no_put and no_delete together filter out every event")
    fields: Dict[str, Any] = {"key": key, "range_end": range_end, "start_revision": start_revision,
                              "progress_notify": progress_notify, "prev_kv": prev_kv, "fragment": fragment}
    filters = (["NOPUT"] if no_put else []) + (["NODELETE"] if no_delete else [])
    if filters:
        fields["filters"] = filters
    return {k: v for k, v in fields.items() if v is not None}


class WatchState:
    """One watch of a hub."""

    def __init__(self, local_id: int, create: Dict[str, Any], sink: Callable[[str, Any], None],
                 max_retries: int = -1) -> None:
        self.local_id = local_id
        self.create = create
        self.sink = sink
        self.max_retries = max_retries
        self.server_id: Optional[int] = None
        # where to (re)start: None means "now" (only until the first response tells us)
        self.next_revision: Optional[int] = create.get("start_revision") or None
        self.fragments: List[Any] = []
        self.cancel_requested = False
        self.done = False

    def __repr__(self) -> str:
        return "<WatchState %d server_id=%s next_revision=%s>" % (self.local_id, self.server_id, self.next_revision)


class WatchHub:
    """Routes one stream's WatchResponses to its watches; I/O-free.

    Methods return the encoded request lines (bytes) the caller must send."""

    def __init__(self, encode_request: Callable[[Dict[str, Any]], Any], progress_requests: bool = True) -> None:
        self._encode = encode_request
        self.progress_requests = progress_requests
        self.watches: Dict[int, WatchState] = {}
        self._awaiting_create: Deque[WatchState] = collections.deque()
        self._by_server_id: Dict[int, WatchState] = {}
        self._ids = itertools.count(1)

    @property
    def active(self) -> bool:
        return bool(self.watches)

    def _line(self, request: Dict[str, Any]) -> bytes:
        return json.dumps(self._encode(request), separators=(",", ":")).encode("utf-8") + b"\n"

    def _create_line(self, state: WatchState) -> bytes:
        create = dict(state.create)
        if state.next_revision:
            create["start_revision"] = state.next_revision
        self._awaiting_create.append(state)
        return self._line({"create_request": create})

    def add(self, create: Dict[str, Any], sink: Callable[[str, Any], None], max_retries: int = -1,
            connected: bool = True) -> Tuple[WatchState, List[bytes]]:
        state = WatchState(next(self._ids), create, sink, max_retries)
        self.watches[state.local_id] = state
        return state, [self._create_line(state)] if connected else []

    def cancel(self, state: WatchState) -> List[bytes]:
        """Stop a watch; the sink gets ENDED once."""
        if state.done or state.cancel_requested:
            return []
        state.cancel_requested = True
        self._finish(state, ENDED, None)
        if state.server_id is None:
            return []  # not created yet: cancelled when the created answer comes
        return [self._line({"cancel_request": {"watch_id": state.server_id}})]

    def reconnected(self) -> List[bytes]:
        """A new stream: re-create every live watch from its resume revision."""
        self._awaiting_create.clear()
        self._by_server_id.clear()
        lines = []
        for state in self.watches.values():
            state.server_id = None
            state.fragments = []
            lines.append(self._create_line(state))
        return lines

    def disconnected(self, attempt: int, error: BaseException) -> None:
        """The stream broke for the ``attempt``-th time in a row: watches whose
        ``max_retries`` is used up get the error and end."""
        for state in list(self.watches.values()):
            if 0 <= state.max_retries < attempt:
                self._finish(state, ERROR, error)

    def fail_all(self, error: BaseException) -> None:
        for state in list(self.watches.values()):
            self._finish(state, ERROR, error)

    def progress_request(self) -> bytes:
        return self._line({"progress_request": {}})

    def _finish(self, state: WatchState, kind: str, payload: Any) -> None:
        if state.done:
            return
        state.done = True
        self.watches.pop(state.local_id, None)
        state.sink(kind, payload)

    def feed(self, response: Any) -> List[bytes]:
        """Route one decoded WatchResponse."""
        header = response.header
        revision = header.revision if header is not None else 0
        if response.created:
            if not self._awaiting_create:
                log.debug("created answer for no pending watch: %r", response)
                return []
            state = self._awaiting_create.popleft()
            state.server_id = response.watch_id
            self._by_server_id[response.watch_id] = state
            if state.next_revision is None and revision:
                state.next_revision = revision + 1  # the watch sees everything after its creation
            if response.canceled:  # refused at creation (compacted revision, bad range, ...)
                self._by_server_id.pop(response.watch_id, None)
                return self._canceled(state, response)
            if state.cancel_requested:
                return [self._line({"cancel_request": {"watch_id": state.server_id}})]
            state.sink(CREATED, response)
            return []
        if response.watch_id == -1:  # answer to a progress request: every watch is synced up to revision
            for state in self._by_server_id.values():
                state.next_revision = max(state.next_revision or 0, revision + 1)
            return []
        state = self._by_server_id.get(response.watch_id)
        if state is None:
            return []  # a watch we cancelled, or one of an older stream
        if response.canceled:
            self._by_server_id.pop(response.watch_id, None)
            return self._canceled(state, response)
        if response.fragment:
            state.fragments.extend(response.events or ())
            return []
        events = response.events or []
        if state.fragments:
            events = state.fragments + list(events)
            state.fragments = []
        if events:
            last = events[-1].kv.mod_revision if events[-1].kv is not None else revision
            state.next_revision = max(state.next_revision or 0, last + 1)
            if not state.done:
                state.sink(EVENTS, [WatchEvent(e, header) for e in events])
        elif revision:  # a progress notification: nothing up to revision is missing
            state.next_revision = max(state.next_revision or 0, revision + 1)
        return []

    def _canceled(self, state: WatchState, response: Any) -> List[bytes]:
        if state.cancel_requested:
            self._finish(state, ENDED, None)
            return []
        reason = getattr(response, "cancel_reason", "") or ""
        if response.compact_revision:
            error: Etcd3Exception = Etcd3WatchCompacted(
                "watch from revision %s: revisions before %d are compacted"
                % (state.next_revision or "now", response.compact_revision),
                compact_revision=response.compact_revision, watch_id=response.watch_id)
        else:
            error = Etcd3WatchCanceled(reason or "the server canceled the watch", watch_id=response.watch_id)
        self._finish(state, ERROR, error)
        return []


class _WatchStreamOwner:
    """What a watch stream does with its hub, whichever driver runs it."""

    NAME = "watch"
    _lock: Any

    def _init_hub(self, client: Any) -> Any:
        op = client.spec.operations["watch"]
        self.hub = WatchHub(op.request.encode, progress_requests="progress_request" in op.request_fields)
        return op

    def add(self, create: Dict[str, Any], sink: Callable[[str, Any], None], max_retries: int = -1) -> WatchState:
        with self._lock:
            state, lines = self.hub.add(create, sink, max_retries, connected=self._stream is not None)
            self._send(lines)
            self._ensure_running()
        return state

    def cancel(self, state: WatchState) -> None:
        with self._lock:
            self._send(self.hub.cancel(state))
            if not self.hub.active:
                self._stop_streaming()

    def _cancel_all(self) -> None:
        with self._lock:
            for state in list(self.hub.watches.values()):
                self.hub.cancel(state)

    def _connection(self) -> "WatchConnection":
        return WatchConnection(self.hub, self.op.response.decode_owned, self.client.baseurl)

    def _active(self) -> bool:
        return self.hub.active

    def _first_lines(self) -> List[bytes]:
        return self.hub.reconnected()

    def _broken(self, attempt: int, error: BaseException) -> None:
        self.hub.disconnected(attempt, error)

    def _refused(self, error: BaseException) -> None:
        self.hub.fail_all(error)


class WatchStream(_WatchStreamOwner, BackgroundStream):
    """The watch stream of one sync client: a thread drives a WatchHub over one
    full-duplex stream, reconnecting until no watch is left."""

    def __init__(self, client: Any) -> None:
        BackgroundStream.__init__(self, client, self._init_hub(client))

    def close(self) -> None:
        self._cancel_all()
        BackgroundStream.close(self)

    def _pump(self, stream: DuplexStream) -> None:
        connection = self._connection()
        while True:
            data = stream.read(timeout=connection.IDLE_SECONDS)
            with self._lock:
                lines = connection.received(data, stream.closed)
                if lines is None:
                    return
                self._send(lines)


class AioWatchStream(_WatchStreamOwner, AioBackgroundStream):
    """The watch stream of one async client, driven by an asyncio task."""

    def __init__(self, client: Any) -> None:
        AioBackgroundStream.__init__(self, client, self._init_hub(client))

    async def close(self) -> None:
        self._cancel_all()
        await AioBackgroundStream.close(self)

    async def _pump(self, stream: Any) -> None:
        connection = self._connection()
        while True:
            lines = connection.received(await stream.read(timeout=connection.IDLE_SECONDS), stream.closed)
            if lines is None:
                return
            self._send(lines)


class WatchConnection:
    """What one watch stream receives, turned into what to send back; I/O-free.

    ``received(data)`` takes the bytes read (None: nothing for IDLE_SECONDS, b"":
    the end) and returns the request lines to send, None when the stream ended
    because no watch is left, and raises when the stream is broken."""

    IDLE_SECONDS = 5.0  # silence before asking for progress (and, twice unanswered, reconnecting)

    def __init__(self, hub: WatchHub, decode: Callable[[Any], Any], endpoint: str) -> None:
        self.hub, self.decode, self.endpoint = hub, decode, endpoint
        self.decoder = StreamDecoder()
        self.unanswered = 0

    def received(self, data: Optional[bytes], closed: bool = False) -> Optional[List[bytes]]:
        if data is None:
            if not self.hub.progress_requests:
                return []  # no way to ask an old server; wait on
            self.unanswered += 1
            if self.unanswered > 2:
                raise errors.Etcd3Timeout("no answer to progress requests", self.endpoint)
            return [self.hub.progress_request()]
        if not data:
            if closed and not self.hub.active:
                return None
            raise errors.Etcd3ConnectionError("watch stream ended", self.endpoint)
        self.unanswered = 0
        lines: List[bytes] = []
        for item in self.decoder.feed(data):
            lines += self.hub.feed(self.decode(unwrap_stream_item(item)))
        return lines


FilterType = Union[None, str, bytes, Pattern, Callable[[WatchEvent], bool]]


def _matcher(filter: FilterType) -> Callable[[WatchEvent], bool]:
    if filter is None:
        return lambda event: True
    if isinstance(filter, str):
        filter = filter.encode("utf-8")
    if isinstance(filter, bytes):
        return lambda event: event.key == filter
    if isinstance(filter, re.Pattern):
        if isinstance(filter.pattern, bytes):
            return lambda event: filter.match(event.key) is not None
        return lambda event: filter.match(event.key.decode("utf-8", "replace")) is not None
    if callable(filter):
        return filter
    raise TypeError("a filter is a key (str or bytes), a regex or a callable, not %r" % (filter,))


class Watcher:
    """Watch a key, a range or a prefix, and call back on events.

    >>> w = client.Watcher('/config/', prefix=True)
    >>> w.onEvent('/config/colour', lambda e: print(e.value))
    >>> w.runDaemon()      # or w.run() to block; w.stop() ends both
    """

    def __init__(self, client: Any, key: Any = None, range_end: Any = None, max_retries: int = -1,
                 start_revision: Optional[int] = None, progress_notify: Optional[bool] = None,
                 prev_kv: Optional[bool] = None, prefix: Optional[bool] = None, all: Optional[bool] = None,
                 no_put: bool = False, no_delete: bool = False, fragment: Optional[bool] = None) -> None:
        self.client = client
        self.max_retries = max_retries
        self.create = watch_create_fields(key, range_end, start_revision, progress_notify, prev_kv, prefix, all,
                                          no_put, no_delete, fragment)
        self.callbacks: List[Tuple[FilterType, Callable[[WatchEvent], bool], Callable[[WatchEvent], Any]]] = []
        self.error_callbacks: List[Callable[[BaseException], Any]] = []
        self.timeout: Optional[float] = None
        self.revision: Optional[int] = start_revision  # where the next run starts (None: now)
        self._reset()

    def _new_queue(self) -> Any:
        return queue.Queue()

    def _reset(self) -> None:
        """The state of one run (a copy made for watch_once gets its own)."""
        self._state: Optional[WatchState] = None
        self._queue: "queue.Queue[Tuple[str, Any]]" = self._new_queue()
        self._created = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self.error: Optional[BaseException] = None

    def __repr__(self) -> str:
        return "<Watcher %r%s %s>" % (self.create.get("key"), " ..%r" % self.create["range_end"]
                                      if "range_end" in self.create else "",
                                      "watching" if self.watching else "idle")

    @property
    def watching(self) -> bool:
        return self._state is not None and not self._state.done

    # -- callbacks --------------------------------------------------------------------------
    def onEvent(self, filter_or_cb: Any, cb: Optional[Callable[[WatchEvent], Any]] = None) -> None:
        """Call ``cb(event)`` for events matching the filter (an exact key, a regex
        or a callable); ``onEvent(cb)`` calls it for every event."""
        if cb is None:
            filter_or_cb, cb = None, filter_or_cb
        if not callable(cb):
            raise TypeError("the callback must be callable, got %r" % (cb,))
        self.callbacks.append((filter_or_cb, _matcher(filter_or_cb), cb))

    def unEvent(self, filter_or_cb: Any = None, cb: Optional[Callable[[WatchEvent], Any]] = None) -> None:
        """Remove callbacks: by filter, by callback, or by both."""
        if cb is None and callable(filter_or_cb) and not isinstance(filter_or_cb, re.Pattern) and \
                any(c is filter_or_cb for _, _, c in self.callbacks):
            filter_or_cb, cb = None, filter_or_cb
            self.callbacks = [entry for entry in self.callbacks if entry[2] is not cb]
            return
        self.callbacks = [entry for entry in self.callbacks
                          if not (entry[0] == filter_or_cb and (cb is None or entry[2] is cb))]

    def onError(self, cb: Callable[[BaseException], Any]) -> None:
        """Call ``cb(error)`` when the watch ends with an error (compaction, too many
        retries, ...); without one, ``run()`` raises it."""
        self.error_callbacks.append(cb)

    def clear_callbacks(self) -> None:
        self.callbacks = []
        self.error_callbacks = []

    def clear_revision(self) -> None:
        """Forget the revision: the next run watches from now."""
        self.revision = None

    def set_default_timeout(self, timeout: Optional[float]) -> None:
        """The timeout of ``watch_once`` when none is given."""
        self.timeout = timeout

    # -- running ----------------------------------------------------------------------------
    def _stream(self) -> WatchStream:
        return self.client._watch_stream()

    def _sink(self, kind: str, payload: Any) -> None:
        if kind == CREATED:
            self._created.set()
        self._queue.put_nowait((kind, payload))

    def _start(self) -> None:
        with self._lock:
            if self.watching:
                return
            self._queue = self._new_queue()
            self._created.clear()
            self.error = None
            create = dict(self.create)
            if self.revision:
                create["start_revision"] = self.revision
            self._state = self._stream().add(create, self._sink, self.max_retries)

    def _remember_revision(self) -> None:
        if self._state is not None and self._state.next_revision:
            self.revision = self._state.next_revision

    def _take(self, kind: str, payload: Any) -> Optional[List[WatchEvent]]:
        """One item of the queue: the events it brings ([] for none), None at the end;
        an error ending the watch is raised."""
        if kind == EVENTS:
            self._remember_revision()
            return payload
        if kind == ERROR:
            self._remember_revision()
            self.error = payload
            raise payload
        if kind == ENDED:
            self._remember_revision()
            return None
        return []

    def events(self, timeout: Optional[float] = None) -> Iterator[WatchEvent]:
        """Iterate over the events (starting the watch if needed) until ``stop()``;
        an error ending the watch is raised; ``timeout`` bounds each wait."""
        self._start()
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise errors.Etcd3WatchTimeout("no event within %ss" % timeout) from None
            events = self._take(*item)
            if events is None:
                return
            yield from events

    __iter__ = events

    def _dispatch(self, event: WatchEvent) -> None:
        for _, matches, cb in list(self.callbacks):
            if matches(event):
                try:
                    cb(event)
                except Exception:  # a failing callback must not kill the watch
                    log.exception("watch callback %r failed on %r", cb, event)

    def run(self) -> None:
        """Watch and call back until ``stop()`` (blocking)."""
        try:
            for event in self.events():
                self._dispatch(event)
        except Etcd3Exception as error:
            if not self.error_callbacks:
                raise
            for cb in self.error_callbacks:
                cb(error)

    def runDaemon(self, timeout: float = 10) -> threading.Thread:
        """Run in a background thread; returns once the server has created the watch,
        so that every change made after this call is seen."""
        self._start()
        thread = self._thread = threading.Thread(target=self._run_quietly, name="etcd3-watcher", daemon=True)
        thread.start()
        if not self._created.wait(timeout) and self.error is None and self.watching:
            raise errors.Etcd3Timeout("the watch was not created within %ss" % timeout, self.client.baseurl)
        return thread

    def _run_quietly(self) -> None:
        try:
            self.run()
        except Etcd3Exception as error:
            log.error("watcher %r ended: %s", self, error)

    def stop(self) -> None:
        """Stop watching; a running ``run()``/``runDaemon()`` returns promptly."""
        state = self._state
        if state is not None:
            self._stream().cancel(state)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1)
        self._thread = None

    def _once(self) -> "Watcher":
        """A watch of its own for watch_once (a running watcher's queue belongs to its
        run()): from the watcher's revision when idle, from now when running."""
        once = copy.copy(self)
        if self.watching:
            once.revision = None
        once._reset()
        return once

    @staticmethod
    def _match(kind: str, payload: Any, matches: Callable[[WatchEvent], bool]) -> Optional[WatchEvent]:
        if kind == ERROR:
            raise payload
        if kind == ENDED:
            raise errors.Etcd3WatchCanceled("the watch was stopped")
        if kind == EVENTS:
            for event in payload:
                if matches(event):
                    return event
        return None

    def watch_once(self, filter: FilterType = None, timeout: Optional[float] = None) -> WatchEvent:
        """Wait for the first event matching ``filter``; ``Etcd3WatchTimeout`` after
        ``timeout`` seconds (default: ``set_default_timeout``; None waits forever)."""
        timeout = timeout if timeout is not None else self.timeout
        matches = _matcher(filter)
        deadline = None if timeout is None else time.monotonic() + timeout
        once = self._once()
        try:
            once._start()
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = once._queue.get(timeout=left)
                except queue.Empty:
                    raise errors.Etcd3WatchTimeout("no matching event within %ss" % timeout) from None
                event = self._match(*item, matches)
                if event is not None:
                    return event
        finally:
            once.stop()

    def __enter__(self) -> "Watcher":
        self.runDaemon()
        return self

    def __exit__(self, *args: Any) -> None:
        self.stop()


class AioWatcher(Watcher):
    """The Watcher of the async client: ``await``/``async for`` where the sync one
    blocks; callbacks run in the event loop."""

    def _new_queue(self) -> Any:
        return asyncio.Queue()

    def _reset(self) -> None:
        super()._reset()
        self._created = asyncio.Event()  # type: ignore[assignment]
        self._task: Optional["asyncio.Task[None]"] = None

    async def _get(self, timeout: Optional[float]) -> Tuple[str, Any]:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            raise errors.Etcd3WatchTimeout("no event within %ss" % timeout) from None

    async def events(self, timeout: Optional[float] = None) -> AsyncIterator[WatchEvent]:  # type: ignore[override]
        self._start()
        while True:
            events = self._take(*await self._get(timeout))
            if events is None:
                return
            for event in events:
                yield event

    __aiter__ = events

    async def run(self) -> None:  # type: ignore[override]
        try:
            async for event in self.events():
                self._dispatch(event)
        except Etcd3Exception as error:
            if not self.error_callbacks:
                raise
            for cb in self.error_callbacks:
                cb(error)

    async def runDaemon(self, timeout: float = 10) -> "asyncio.Task[None]":  # type: ignore[override]
        self._start()
        self._task = asyncio.get_running_loop().create_task(self._run_quietly())
        try:
            await asyncio.wait_for(self._created.wait(), timeout)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            if self.error is None and self.watching:
                raise errors.Etcd3Timeout("the watch was not created within %ss" % timeout,
                                          self.client.baseurl) from None
        return self._task

    async def _run_quietly(self) -> None:  # type: ignore[override]
        try:
            await self.run()
        except Etcd3Exception as error:
            log.error("watcher %r ended: %s", self, error)

    async def stop(self) -> None:  # type: ignore[override]
        state = self._state
        if state is not None:
            self._stream().cancel(state)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), 1)
            except asyncio.TimeoutError:
                task.cancel()

    async def watch_once(self, filter: FilterType = None,  # type: ignore[override]
                         timeout: Optional[float] = None) -> WatchEvent:
        timeout = timeout if timeout is not None else self.timeout
        matches = _matcher(filter)
        deadline = None if timeout is None else time.monotonic() + timeout
        once = self._once()
        try:
            once._start()
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = await once._get(left)  # type: ignore[attr-defined]
                except errors.Etcd3WatchTimeout:
                    raise errors.Etcd3WatchTimeout("no matching event within %ss" % timeout) from None
                event = self._match(*item, matches)
                if event is not None:
                    return event
        finally:
            await once.stop()  # type: ignore[misc]

    async def __aenter__(self) -> "AioWatcher":
        await self.runDaemon()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.stop()
