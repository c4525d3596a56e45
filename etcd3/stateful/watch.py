"""Watches: many on one stream, resumed after failures with no event lost.

``WatchHub`` is the I/O-free core: it turns watch creations and cancellations
into the WatchRequests to send, routes each WatchResponse to its watch by
``watch_id``, reassembles fragments, and remembers for every watch the revision
to resume from (the last delivered event's revision + 1, or a revision a
progress notification vouched for).  After a reconnect it re-creates every
watch from there, so nothing is lost and nothing is delivered twice.

``WatchStream`` drives a hub over one full-duplex HTTP stream per client (a
chunked request body of newline-delimited WatchRequests) in a reader thread,
reconnecting with capped exponential backoff.  Creations are pipelined: etcd
answers those of one stream in order, so they go out in batches (while one is
unanswered the next ones wait for the reader to send them with its next write),
and the client's next request waits for those sent before it.  ``Watcher`` is etcd3-py 0.1.6's
callback API on top of it; ``Event`` and ``KeyValue`` are its event objects.
"""
from __future__ import annotations

import collections
import copy
import json
import logging
import queue
import re
import threading
import time
import weakref
from typing import Any, AsyncIterator, Awaitable, Callable, Deque, Dict, Iterator, List, Optional, Pattern, Tuple, Union

from .._lazy import asyncio
from .. import errors, models
from ..core import StreamDecoder, unwrap_stream_item
from ..transport import forksafe
from ..transport.duplex import DuplexStream
from ..errors import Etcd3Exception, Etcd3WatchCanceled, Etcd3WatchCompacted
from ..transport.streams import AioBackgroundStream, BackgroundStream
from ..utils import key_range

__all__ = ["Event", "KeyValue", "EventType", "OnceTimeout", "WatchEvent", "WatchHub", "WatchState", "WatchStream",
           "AioWatchStream", "WatchConnection", "Watcher", "AioWatcher", "watch_create_fields", "DaemonHandle",
           "CallbackDispatcher", "AioCallbackDispatcher"]

log = logging.getLogger("etcd3.watch")

# what a watch's sink receives
CREATED, EVENTS, PROGRESS, ERROR, ENDED = "created", "events", "progress", "error", "ended"
# what a watcher's queue keeps of a created answer (applied when the answer came): its header revision
_REVISION = "revision"

UNLIMITED_RETRIES = 9223372036854775807  # what 0.1.6 made of max_retries=-1


class OnceTimeout(IOError):
    """No event within the timeout of ``watch_once`` (which returns None then; kept
    importable for code written for etcd3-py 0.1.6)."""


_event_type: Any = None


def _EventType() -> Any:
    """``EventEventType``, built from the specs on first use (not at import)."""
    global _event_type
    if _event_type is None:
        _event_type = models.EventEventType
    return _event_type


def __getattr__(name: str) -> Any:
    if name == "EventType":
        return _EventType()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _fields_of(data: Any, what: str) -> Dict[str, Any]:
    """The fields present in a decoded message (a model, or a dict as decode gives)."""
    if isinstance(data, models.EtcdMessage):
        return dict(data._data)
    if isinstance(data, dict):
        return dict(data)
    raise TypeError("%s(data): a dict or a decoded message expected, got %r" % (what, data))


class KeyValue:
    """A key-value pair of a watch event, as etcd3-py 0.1.6 gave it: attributes
    ``key``, ``value``, ``create_revision``, ``mod_revision``, ``version``, ``lease``
    (None when the server left the field out), and dict-style access to the
    fields present: ``kv['value']``, ``kv.get('lease')`` (None for a missing key,
    never KeyError), ``'value' in kv``, ``list(kv)``."""

    def __init__(self, data: Any) -> None:
        self._take_fields(_fields_of(data, type(self).__name__))

    def _take_fields(self, fields: Dict[str, Any]) -> None:
        self._data = fields
        get = fields.get  # (a fast watch stream makes one Event per event it receives)
        self.key: Optional[bytes] = get("key")
        self.value: Optional[bytes] = get("value")
        self.create_revision: Optional[int] = get("create_revision")
        self.mod_revision: Optional[int] = get("mod_revision")
        self.version: Optional[int] = get("version")
        self.lease: Optional[int] = get("lease")

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def keys(self) -> Any:
        return self._data.keys()

    def values(self) -> Any:
        return self._data.values()

    def items(self) -> Any:
        return self._data.items()

    def __repr__(self) -> str:
        return "<KeyValue of '%s'>" % (self.key,)


class Event(KeyValue):
    """One event of a watch: the fields of its key-value pair (see ``KeyValue``),
    ``type`` (always an ``EventType`` member: PUT when the server left it out),
    ``prev_kv`` (a ``KeyValue`` when the watch asked for it and there was one, else
    None), ``header`` (of the response that carried it) and ``revision`` (=
    ``mod_revision``).  ``event['type']`` and ``event['prev_kv']`` work too.  A
    DELETE event has ``value`` None.

    ``Event(data, header=None)`` takes a decoded event: a model or a dict with
    ``kv``, ``type`` and ``prev_kv``."""

    def __init__(self, data: Any, header: Any = None) -> None:
        if isinstance(data, models.EtcdMessage):
            kv, kind, prev = data.kv, data.type, data.prev_kv
        elif isinstance(data, dict):
            kv, kind, prev = data.get("kv"), data.get("type"), data.get("prev_kv")
        else:
            raise TypeError("Event(data): a dict or a decoded event expected, got %r" % (data,))
        self._take_event(_fields_of({} if kv is None else kv, type(self).__name__), kind, prev, header)

    @classmethod
    def _decoded(cls, data: Any, header: Any) -> "Event":
        """``Event(data, header)`` of an event model the stream's decoder made, which
        nobody else holds: its key-value's fields are taken over, not copied."""
        try:
            kv = data.kv
            fields = {} if kv is None else kv.__dict__
        except AttributeError:  # (not a model: made some other way)
            return cls(data, header)
        event = cls.__new__(cls)
        event._take_event(fields, data.type, data.prev_kv, header)
        return event

    def _take_event(self, fields: Dict[str, Any], kind: Any, prev: Any, header: Any) -> None:
        self._take_fields(fields)
        event_type = _event_type or _EventType()
        if not kind:
            kind = event_type.PUT
        elif kind.__class__ is not event_type and not isinstance(kind, event_type):
            kind = event_type(getattr(kind, "value", kind))
        self.type: Any = kind
        if prev is not None and not isinstance(prev, KeyValue):
            prev = KeyValue(prev)
        self.prev_kv: Optional[KeyValue] = prev
        self.header = header
        fields["type"] = kind
        fields["prev_kv"] = prev

    @property
    def revision(self) -> Optional[int]:
        return self.mod_revision

    def __repr__(self) -> str:
        return "<WatchEvent %s '%s'>" % (self.type.name, self.key)


WatchEvent = Event  # the name this library used before it followed 0.1.6


# the fields of a WatchResponse that carries only events (most of a busy stream): such an
# answer is turned straight into its Events, without its WatchResponse and Event models
_EVENTS_ONLY = frozenset(("header", "watch_id", "events"))
_NOT_MADE: Any = object()


def events_decoder(response: Any) -> Optional[Callable[[Dict[str, Any]], Optional[Tuple[int, Any, List[Event], int]]]]:
    """For the schema node of WatchResponse: a function of one stream item's ``result``
    (JSON that nobody else holds) that gives (watch_id, header, Events, the revision to
    resume after) for an answer of events only, None for any other (decode it whole).
    The Events, and the errors of a malformed answer, are those of the whole decode
    (``Event._decoded`` of ``decode_owned``'s models): the same compiled decoders
    convert the header and each key-value in the same order.  None if the schema has
    no such fields."""
    from ..swagger_helper import _decoder, decode_error

    try:
        node = response.resolved
        fields = node.properties
        header_decode = _decoder(fields["header"])
        event = fields["events"].resolved.items.resolved.properties
        kind_decode, kv_decode, prev_decode = _decoder(event["type"]), _decoder(event["kv"]), _decoder(event["prev_kv"])
    except (AttributeError, KeyError):  # (a spec without them: every answer decoded whole)
        return None
    only = _EVENTS_ONLY
    event_type = _EventType()
    new = object.__new__

    def decode(result: Dict[str, Any]) -> Optional[Tuple[int, Any, List[Event], int]]:
        items = result.get("events")
        if not items or items.__class__ is not list or not result.keys() <= only:
            return None
        watch_id = result.get("watch_id", 0)
        if watch_id.__class__ is not int:
            try:
                watch_id = int(watch_id)
            except (TypeError, ValueError):
                return None  # (the whole decode says what is wrong)
        if watch_id == -1:
            return None  # (an answer to a progress request: WatchHub.feed's)
        try:
            header = result.get("header")
            if header is not None:
                header = result["header"] = header_decode(header)
            if "watch_id" in result:
                result["watch_id"] = watch_id
            events: List[Event] = []
            append = events.append
            kv: Any = None
            for item in items:  # (in place, as the whole decode converts them)
                kind = item.get("type")
                if kind is not None:
                    kind = item["type"] = kind_decode(kind)
                kv = item.get("kv")
                if kv is not None:
                    kv = item["kv"] = kv_decode(kv)
                prev = item.get("prev_kv")
                if prev is not None:
                    prev = item["prev_kv"] = prev_decode(prev)
                if events is not None:
                    if kind is None or kind.__class__ is event_type:
                        event = new(Event)  # (nothing in it can raise: made here, in the one loop)
                        event._take_event({} if kv is None else kv.__dict__, kind, prev, header)
                        append(event)
                    else:
                        events = None  # a type Event makes into a member, or refuses: made below
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - as decode_owned explains it
            raise decode_error(response, result, e) from None
        if events is None:  # (outside the try, as WatchHub.feed makes them: its errors are Event's)
            events = []
            for item in items:
                kv = item.get("kv")
                event = new(Event)
                event._take_event({} if kv is None else kv.__dict__, item.get("type"), item.get("prev_kv"), header)
                events.append(event)
            kv = items[-1].get("kv")
        if kv is not None:
            last = kv.mod_revision
        else:
            last = header.revision if header is not None else 0
        return watch_id, header, events, last

    return decode


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

    __slots__ = ("key", "create_rest", "sink", "max_retries", "errors", "server_id", "next_revision", "fragments",
                 "cancel_requested", "done")

    def __init__(self, create: Dict[str, Any], sink: Callable[[str, Any], None],
                 max_retries: int = -1, errors: Optional[Deque[BaseException]] = None) -> None:
        # the creation's fields: its key, and the other items (a dict of one key weighs 184
        # bytes, a tuple of its items 104; a watch of a key alone keeps only the key)
        self.key = create.get("key")
        self.create_rest: Tuple[Tuple[str, Any], ...] = tuple(item for item in create.items() if item[0] != "key")
        self.sink = sink
        self.max_retries = max_retries
        self.errors = errors  # where the stream's failures are recorded (the Watcher's ``errors``)
        self.server_id: Optional[int] = None
        # where to (re)start: None means "now" (only until the first response tells us)
        self.next_revision: Optional[int] = create.get("start_revision") or None
        self.fragments: List[Any] = _NO_FRAGMENTS  # replaced (never appended to) when fragments come
        self.cancel_requested = False
        self.done = False

    def __repr__(self) -> str:
        return "<WatchState %r server_id=%s next_revision=%s>" % (self.key, self.server_id, self.next_revision)

    @property
    def create_fields(self) -> Dict[str, Any]:
        """The fields of the WatchCreateRequest this watch was added with."""
        create = {} if self.key is None else {"key": self.key}
        create.update(self.create_rest)
        return create


_NO_FRAGMENTS: List[Any] = []  # shared by every watch without fragments (one list less per watch)

# the stand-in of a probe's watch among those awaiting their created answer (WatchHub.probe)
_PROBE: Any = object()
_PROBE_KEY = b"\0etcd3-py stream probe"


class WatchHub:
    """Routes one stream's WatchResponses to its watches; I/O-free.

    Methods return the encoded request lines (bytes) the caller must send."""

    def __init__(self, encode_request: Callable[[Dict[str, Any]], Any], progress_requests: bool = True) -> None:
        self._encode = encode_request
        self.progress_requests = progress_requests
        self.watches: Dict[WatchState, WatchState] = {}  # (an ordered set: each watch is its own key)
        self._awaiting_create: Deque[WatchState] = collections.deque()
        self._by_server_id: Dict[int, WatchState] = {}
        self._created_after: Optional[int] = None  # the resume revision of the last created answer (shared)

    @property
    def active(self) -> bool:
        return bool(self.watches)

    def _line(self, request: Dict[str, Any]) -> bytes:
        return json.dumps(self._encode(request), separators=(",", ":")).encode("utf-8") + b"\n"

    def _create_line(self, state: WatchState) -> bytes:
        create = state.create_fields
        if state.next_revision:
            create["start_revision"] = state.next_revision
        self._awaiting_create.append(state)
        return self._line({"create_request": create})

    def add(self, create: Dict[str, Any], sink: Callable[[str, Any], None], max_retries: int = -1,
            connected: bool = True, errors: Optional[Deque[BaseException]] = None) -> Tuple[WatchState, List[bytes]]:
        state = WatchState(create, sink, max_retries, errors)
        self.watches[state] = state
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
            state.fragments = _NO_FRAGMENTS
            lines.append(self._create_line(state))
        return lines

    def disconnected(self, attempt: int, error: BaseException) -> None:
        """The stream broke for the ``attempt``-th time in a row: watches whose
        ``max_retries`` is used up get the error and end."""
        for state in list(self.watches.values()):
            if state.errors is not None:
                state.errors.append(error)
            if 0 <= state.max_retries < attempt:
                self._finish(state, ERROR, error)

    def fail_all(self, error: BaseException) -> None:
        for state in list(self.watches.values()):
            self._finish(state, ERROR, error)

    def creating(self) -> Optional[WatchState]:
        """The newest live watch if its creation is still unanswered (then older ones may be
        too; once it is created, so is every watch added before it)."""
        if not self.watches:
            return None
        state = next(reversed(self.watches.values()))  # (finished watches leave the dict)
        return state if state.server_id is None and not state.done else None

    def progress_request(self) -> bytes:
        return self._line({"progress_request": {}})

    def probe(self) -> bytes:
        """A request whose answer shows that the stream is alive, for a server without
        progress requests (etcd 3.2's spec has none; 3.3.25 answers them): a watch of a key
        of its own, cancelled once created."""
        self._awaiting_create.append(_PROBE)
        return self._line({"create_request": {"key": _PROBE_KEY}})

    def _finish(self, state: WatchState, kind: str, payload: Any) -> None:
        if state.done:
            return
        state.done = True
        self.watches.pop(state, None)
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
            if state is _PROBE:  # the stream is alive: the probe's watch goes again
                return [] if response.canceled else [self._line({"cancel_request": {"watch_id": response.watch_id}})]
            state.server_id = response.watch_id
            self._by_server_id[response.watch_id] = state
            if state.next_revision is None and revision:
                # the watch sees everything after its creation (watches created together
                # share the one int: 32 bytes a watch)
                after = self._created_after
                if after is None or after != revision + 1:
                    after = self._created_after = revision + 1
                state.next_revision = after
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
            state.fragments = state.fragments + list(response.events or ())
            return []
        events = response.events or []
        if state.fragments:
            events = state.fragments + list(events)
            state.fragments = _NO_FRAGMENTS
        if events:
            last = events[-1].kv.mod_revision if events[-1].kv is not None else revision
            state.next_revision = max(state.next_revision or 0, last + 1)
            if not state.done:
                decoded = Event._decoded
                state.sink(EVENTS, [decoded(e, header) for e in events])
        elif revision:  # a progress notification: nothing up to revision is missing
            state.next_revision = max(state.next_revision or 0, revision + 1)
            state.sink(PROGRESS, response)
        return []

    def feed_events(self, watch_id: int, header: Any, events: List[Event], last: int) -> None:
        """Route an answer of events only (see ``events_decoder``): what ``feed`` does with
        it, its Events made already; ``last``: the revision of its last event."""
        state = self._by_server_id.get(watch_id)
        if state is None:
            return  # a watch we cancelled, or one of an older stream
        if state.fragments:
            decoded = Event._decoded
            events = [decoded(e, header) for e in state.fragments] + events
            state.fragments = _NO_FRAGMENTS
        after = state.next_revision
        if after is None or after <= last:
            state.next_revision = last + 1
        if not state.done:
            state.sink(EVENTS, events)

    def _canceled(self, state: WatchState, response: Any) -> List[bytes]:
        if state.cancel_requested:
            self._finish(state, ENDED, None)
            return []
        reason = getattr(response, "cancel_reason", "") or ""
        for refusal in (errors.ErrInvalidAuthToken, errors.ErrUserEmpty):
            if refusal.etcd_message in reason:
                # a member that does not know our token (a cluster client moved), or a stream
                # opened while the client was getting a new one (etcd 3.4+ refuses the
                # creation, not the stream): the stream authenticates again and re-creates it
                raise refusal(reason)
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

    # Creations held back while an earlier one is unanswered: the reader sends them when it
    # has routed the next answer (so they go out in batches as large as one round trip
    # gathers, not one write each, which on the sync client also hands the GIL to the
    # reader every time); at most OUTBOX_MAX of them.
    OUTBOX_MAX = 512
    _outbox: List[bytes] = []  # (a list of its own once a creation is held back)

    def add(self, create: Dict[str, Any], sink: Callable[[str, Any], None], max_retries: int = -1,
            errors: Optional[Deque[BaseException]] = None) -> WatchState:
        with self._lock:
            state, lines = self.hub.add(create, sink, max_retries, connected=self._stream is not None, errors=errors)
            outbox = self._outbox
            # (the hub's awaiting list: the creations held back, then this one, after those sent)
            if lines and len(self.hub._awaiting_create) > len(outbox) + 1 and len(outbox) < self.OUTBOX_MAX:
                if not outbox:
                    outbox = self._outbox = []
                outbox.extend(lines)  # an answer is due: its reader sends these
            else:
                self._send(self._flush_outbox(lines))
            self._ensure_running()
        return state

    def _flush_outbox(self, lines: List[bytes]) -> List[bytes]:
        """The held-back creations, then ``lines`` (call with the lock held)."""
        outbox = self._outbox
        if not outbox:
            return lines
        self._outbox = []
        return outbox + lines

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
        decode_events = self._decode_events
        if decode_events is _NOT_MADE:
            decode_events = self._decode_events = events_decoder(self.op.response)
        return WatchConnection(self.hub, self.op.response.decode_owned, self.client.baseurl, decode_events)

    _decode_events: Any = _NOT_MADE  # (the stream's events_decoder, made with its first connection)

    def _active(self) -> bool:
        return self.hub.active

    FENCE_SCAN = 64  # newest watches looked at for one "from now" (past them: wait for the newest)

    def _creation_due(self) -> Optional[WatchState]:
        """The watch whose created answer the client's next request waits for: the newest
        unanswered one that watches from now (its answer fixes where it starts, so a change
        made before the answer could be missed).  A watch from a given revision (a lock's
        wait, a watch resumed after a reconnection) sees the change whenever it is created:
        no reason to wait for it."""
        state = self.hub.creating()
        if state is None or state.next_revision is None:
            return state
        for scanned, pending in enumerate(reversed(self.hub.watches.values())):
            if pending.server_id is not None:
                return None  # created: so is every watch added before it (answers come in order)
            if pending.next_revision is None:
                return pending
            if scanned >= self.FENCE_SCAN:
                return state
        return None

    def _first_lines(self) -> List[bytes]:
        self._outbox = []  # (a new stream: the hub creates every watch again)
        return self.hub.reconnected()

    def _broken(self, attempt: int, error: BaseException) -> None:
        self.hub.disconnected(attempt, error)

    def _refused(self, error: BaseException) -> None:
        self.hub.fail_all(error)

    def _forget_parents_work(self) -> None:
        # a forked child gets none of the parent's watches: their events are the parent's.
        # Their watchers are reset here (not each registered with forksafe: 130 bytes a watcher);
        # an idle watcher holds no lock or thread of the parent's
        for state in list(self.hub.watches.values()):
            watcher = getattr(state.sink, "watcher", None)
            if watcher is not None:
                try:
                    watcher._after_fork_in_child()
                except Exception:  # one watcher's failure must not leave the others as the parent's
                    log.exception("resetting %r after fork failed", watcher)
        self.hub = WatchHub(self.hub._encode, self.hub.progress_requests)
        self._dispatcher = None  # nor its dispatcher threads

    _dispatcher: Any = None

    def callback_dispatcher(self) -> Any:
        """What runs the callbacks of this client's ``runDaemon()`` watchers (made on first use)."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            with self._lock:
                dispatcher = self._dispatcher
                if dispatcher is None:
                    dispatcher = self._dispatcher = self._new_dispatcher()
        return dispatcher


class WatchStream(_WatchStreamOwner, BackgroundStream):
    """The watch stream of one sync client: a thread drives a WatchHub over one
    full-duplex stream, reconnecting until no watch is left."""

    def __init__(self, client: Any) -> None:
        BackgroundStream.__init__(self, client, self._init_hub(client))

    def _new_dispatcher(self) -> CallbackDispatcher:
        return CallbackDispatcher()

    def settle(self) -> None:
        """Wait until the watches added so far are created (at most a Watcher's
        CREATION_TIMEOUT; then go on): the client calls it before each request, so that
        a change it makes after ``runDaemon()`` returned is seen by that watcher."""
        state = self._creation_due()
        if state is None or state is self._given_up or threading.current_thread() is self._thread:
            return  # (the stream's own thread: authenticating before it can read any answer)
        if self._outbox:
            with self._lock:
                self._send(self._flush_outbox([]))
        if isinstance(state.sink, _EventQueue) and not state.sink.wait(Watcher.CREATION_TIMEOUT):
            self._given_up = state  # a stream that does not answer holds up one request, not each

    _given_up: Optional[WatchState] = None

    def close(self) -> None:
        self._cancel_all()
        BackgroundStream.close(self)

    def _pump(self, stream: DuplexStream) -> None:
        connection = self._connection()
        idle = connection.IDLE_SECONDS
        quiet_since = time.monotonic()
        while True:
            # while watchers wait for their callbacks to run, look in on the dispatcher
            # often enough for it to start a thread past a slow callback
            dispatcher = self._dispatcher
            wait = idle - (time.monotonic() - quiet_since)
            if dispatcher is not None and dispatcher.backlogged():
                wait = min(wait, dispatcher.SLOW_CALLBACK_SECONDS)
            data = stream.read(timeout=max(0.0, wait))
            if data is None:
                if dispatcher is not None:
                    dispatcher.check()
                if time.monotonic() - quiet_since < idle:
                    continue  # not silent for a whole idle period yet
            quiet_since = time.monotonic()
            responses = connection.decode(data) if data else None  # (without the lock: add() goes on meanwhile)
            with self._lock:
                dispatcher = self._dispatcher
                if dispatcher is not None:
                    dispatcher.deferring = True
                try:
                    lines = connection.received(data, stream.closed, responses)
                finally:
                    if dispatcher is not None:
                        dispatcher.end_deferring()
                if lines is None:
                    return
                self._send(self._flush_outbox(lines))


class AioWatchStream(_WatchStreamOwner, AioBackgroundStream):
    """The watch stream of one async client, driven by an asyncio task."""

    def __init__(self, client: Any) -> None:
        AioBackgroundStream.__init__(self, client, self._init_hub(client))

    def _new_dispatcher(self) -> "AioCallbackDispatcher":
        return AioCallbackDispatcher()

    def settle(self) -> Optional[Awaitable[None]]:
        """What the client awaits before each request while the watches added so far are
        not created yet (at most a Watcher's CREATION_TIMEOUT; then it goes on), so that a
        change it makes after ``await runDaemon()`` returned is seen by that watcher; None
        when no creation is due (the usual case: nothing to await)."""
        state = self._creation_due()
        if state is None or state is self._given_up or not isinstance(state.sink, _AioEventQueue):
            return None
        task = self._task
        if task is not None and asyncio.current_task() is task:
            return None  # (the stream's own task: authenticating before it can read any answer)
        if self._outbox:
            with self._lock:
                self._send(self._flush_outbox([]))
        return self._settled(state)

    _given_up: Optional[WatchState] = None

    async def _settled(self, state: WatchState) -> None:
        try:
            # (shielded: a timed-out wait must not cancel the future other waiters share)
            await asyncio.wait_for(asyncio.shield(state.sink.future()), Watcher.CREATION_TIMEOUT)
        except asyncio.TimeoutError:
            self._given_up = state  # a stream that does not answer holds up one request, not each

    async def close(self) -> None:
        self._cancel_all()
        await AioBackgroundStream.close(self)

    async def _pump(self, stream: Any) -> None:
        connection = self._connection()
        while True:
            lines = connection.received(await stream.read(timeout=connection.IDLE_SECONDS), stream.closed)
            if lines is None:
                return
            self._send(self._flush_outbox(lines))


class WatchConnection:
    """What one watch stream receives, turned into what to send back; I/O-free.

    ``received(data)`` takes the bytes read (None: nothing for IDLE_SECONDS, b"":
    the end) and returns the request lines to send, None when the stream ended
    because no watch is left, and raises when the stream is broken."""

    # silence before asking for progress, or (a server without progress requests: 3.2)
    # probing with a throwaway watch; twice unanswered (or no answer within the stream's
    # ANSWER_TIMEOUT), the stream is opened again
    IDLE_SECONDS = 5.0

    def __init__(self, hub: WatchHub, decode: Callable[[Any], Any], endpoint: str,
                 decode_events: Optional[Callable[[Dict[str, Any]], Any]] = None) -> None:
        self.hub, self.decode_response, self.endpoint = hub, decode, endpoint
        self.decode_events = decode_events  # (events_decoder's: answers of events only)
        self.decoder = StreamDecoder()
        self.unanswered = 0

    def decode(self, data: bytes) -> List[Any]:
        """The WatchResponses completed by ``data`` (the reader's side: needs no lock); an
        answer of events only is a tuple (see ``events_decoder``)."""
        decode, decode_events = self.decode_response, self.decode_events
        if decode_events is None:
            return [decode(unwrap_stream_item(item)) for item in self.decoder.feed(data)]
        out = []
        append = out.append
        for item in self.decoder.feed(data):
            result = unwrap_stream_item(item)
            routed = decode_events(result) if result.__class__ is dict else None
            append(decode(result) if routed is None else routed)
        return out

    def received(self, data: Optional[bytes], closed: bool = False,
                 responses: Optional[List[Any]] = None) -> Optional[List[bytes]]:
        """(``responses``: ``decode(data)`` done beforehand.)"""
        if data is None:
            self.unanswered += 1
            if self.unanswered > 2:
                raise errors.Etcd3Timeout("no answer to progress requests", self.endpoint)
            return [self.hub.progress_request() if self.hub.progress_requests else self.hub.probe()]
        if not data:
            if closed and not self.hub.active:
                return None
            raise errors.Etcd3ConnectionError("watch stream ended", self.endpoint)
        self.unanswered = 0
        lines: List[bytes] = []
        feed, feed_events = self.hub.feed, self.hub.feed_events
        for response in self.decode(data) if responses is None else responses:
            if response.__class__ is tuple:
                feed_events(*response)
            else:
                lines += feed(response)
        return lines


FilterType = Union[None, str, bytes, Pattern, Callable[[Event], Any]]  # or an EventType member
Callback = Callable[[Event], Any]

_EMPTY = (queue.Empty,)  # what both event queues raise (the sync client imports no asyncio)


def _always(event: Event) -> bool:
    return True


_last_revision: List[int] = [0]


def _shared_revision(revision: int) -> int:
    """``revision``, or the equal int handed out last: the watchers created together keep
    one int of their created answers' revision, not one each (32 bytes a watcher)."""
    last = _last_revision[0]
    if revision == last:
        return last
    _last_revision[0] = revision
    return revision


def _regex_filter(pattern: Pattern) -> Callable[[Event], bool]:
    """A filter matching keys against a regex from their start (``re.match``, not a
    full match): a str regex sees the key decoded as UTF-8 (a key that is not UTF-8
    never matches), a bytes regex the key's bytes."""
    if isinstance(pattern.pattern, bytes):
        def match_bytes(event: Event) -> bool:
            key = event.key
            if isinstance(key, str):
                key = key.encode("utf-8")
            return isinstance(key, (bytes, bytearray)) and pattern.match(key) is not None
        return match_bytes

    def match_text(event: Event) -> bool:
        key = event.key
        if isinstance(key, (bytes, bytearray)):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                return False
        return isinstance(key, str) and pattern.match(key) is not None
    return match_text


# -- light per-watcher plumbing: a client may have tens of thousands of watchers, so each
# one's queue, flag and error log cost a few dozen bytes (queue.Queue and threading.Event
# weigh about 1.5 KB each with their Conditions), and their callbacks share a few threads

class _Flag:
    """A one-way flag (set once, waited for) that costs one lock: held until set."""

    __slots__ = ("_flag",)  # the lock held until set; None once set

    def __init__(self) -> None:
        held = threading.Lock()
        held.acquire()
        self._flag: Any = held

    def set(self) -> None:
        held = self._flag
        if held is not None:
            self._flag = None  # (the waiters hold it while they need it)
            try:
                held.release()
            except RuntimeError:  # set twice at the same time: released already
                pass

    def is_set(self) -> bool:
        return self._flag is None

    def wait(self, timeout: Optional[float] = None) -> bool:
        held = self._flag
        if held is None:
            return True
        if held.acquire(timeout=-1 if timeout is None else timeout):
            try:
                held.release()  # for the next waiter
            except RuntimeError:  # (released by a second set() meanwhile)
                pass
        return self._flag is None


_SET: Any = object()  # an _AioFlag's _flag once set


class _AioFlag:
    """The flag of an AioWatcher (its event loop only): a future made only when awaited."""

    __slots__ = ("_flag",)  # None, the future its waiters wait on, or _SET once set

    def __init__(self) -> None:
        self._flag: Any = None

    def set(self) -> None:
        waiter, self._flag = self._flag, _SET  # (the waiters hold the future: not kept for the watcher's life)
        if waiter is not None and waiter is not _SET and not waiter.done():
            waiter.set_result(None)

    def is_set(self) -> bool:
        return self._flag is _SET

    def future(self) -> "asyncio.Future[None]":
        """A future done once set (a cancelled one, left by a timed-out wait, is replaced)."""
        waiter = self._flag
        if waiter is None or waiter is _SET or waiter.cancelled():
            waiter = asyncio.get_running_loop().create_future()
            if self._flag is _SET:
                waiter.set_result(None)
            else:
                self._flag = waiter
        return waiter

    async def wait(self) -> bool:
        if self._flag is not _SET:
            await asyncio.shield(self.future())
        return True


class _LockStripes:
    """A few locks shared by many objects (a lock weighs 88 bytes), for critical sections
    that take no other lock inside: contention is rare and brief."""

    SIZE = 64

    def __init__(self) -> None:
        self._after_fork_in_child()
        forksafe.register(self)

    def _after_fork_in_child(self) -> None:
        self.locks = [threading.Lock() for _ in range(self.SIZE)]  # (one may be held by a parent thread)

    def lock_for(self, obj: object) -> Any:
        return self.locks[(id(obj) >> 4) % self.SIZE]


_queue_locks = _LockStripes()
_watcher_locks = _LockStripes()  # (Watcher._lock)
_NO_ITEMS: List[Any] = []  # never appended to: a queue's own list is made by its first put


class _EventQueue(_Flag):
    """One watcher's queue of sink items (thread-safe, one consumer at a time).  The
    thread a blocking ``get`` needs to wait on is made only when one waits; ``on_put``
    (the daemon handle's wake-up) is called after every put.  It is also the flag of
    the watch's creation (set once created or refused: one object less per watcher)."""

    __slots__ = ("_items", "_lock", "_waiter", "on_put", "watcher")  # on_put: the DaemonHandle to wake

    def __init__(self, watcher: Any = None) -> None:
        self._init_flag()
        self._items: List[Any] = _NO_ITEMS
        self._lock = _queue_locks.lock_for(self)
        self._waiter: Optional[threading.Event] = None
        self.on_put: Any = None
        self.watcher = watcher

    _init_flag = _Flag.__init__

    # the queue is also its watch's sink in the hub (one object less per watcher)
    def __call__(self, kind: str, payload: Any) -> None:
        """What the hub hands this run of the watcher (the reader's side: never blocks)."""
        if kind == EVENTS:  # (the usual item first)
            self.put_nowait((kind, payload))
            return
        if kind == CREATED:
            self.watcher._take(kind, payload, None)  # set by the time the creation is awaited
            self.set()
            # nothing is queued for it unless earlier items wait (a reconnection's: then the
            # revision goes back in line after them), and the daemon's dispatch is not woken
            # for it: thousands of watchers created at once cost no dispatcher turn, nor memory
            header = payload.header
            self.put_if_waiting((_REVISION, header.revision if header is not None else 0))
            return
        if kind != PROGRESS:
            self.set()  # refused, or ended: the creation is settled
        self.put_nowait((kind, payload), kind != PROGRESS)

    def append(self, error: BaseException) -> None:
        """Where the hub records the stream's failures: the watcher's ``errors``, made on first use."""
        self.watcher.errors.append(error)

    def put_nowait(self, item: Any, wake: bool = True) -> None:
        with self._lock:
            if self._items is _NO_ITEMS:
                self._items = [item]
            else:
                self._items.append(item)
            waiter = self._waiter
        if waiter is not None:
            waiter.set()
        on_put = self.on_put
        if on_put is not None and wake:
            on_put.wake()

    def put_if_waiting(self, item: Any) -> None:
        """Queue ``item`` behind items waiting to be taken, if any (wakes no one)."""
        with self._lock:
            if self._items:
                self._items.append(item)

    def take(self) -> Any:
        """The first item, or None."""
        with self._lock:
            items = self._items
            return items.pop(0) if items else None

    def get_nowait(self) -> Any:
        with self._lock:
            if not self._items:
                raise queue.Empty
            return self._items.pop(0)

    def get(self, timeout: Optional[float] = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._items:
                    return self._items.pop(0)
                waiter = self._waiter
                if waiter is None:
                    waiter = self._waiter = threading.Event()
                waiter.clear()
            if not waiter.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
                with self._lock:
                    if self._items:
                        return self._items.pop(0)
                raise queue.Empty

    def snapshot(self) -> List[Any]:
        """The items, read without the lock (in a forked child, where it may be held for good)."""
        return list(self._items)


class _AioEventQueue(_EventQueue):
    """The queue of an AioWatcher: used in its event loop only; ``get`` is awaited."""

    __slots__ = ()

    _init_flag = _AioFlag.__init__  # type: ignore[assignment]  # (the flag's one slot is _Flag's)

    set = _AioFlag.set
    is_set = _AioFlag.is_set
    future = _AioFlag.future
    wait = _AioFlag.wait  # type: ignore[assignment]

    def put_nowait(self, item: Any, wake: bool = True) -> None:
        if self._items is _NO_ITEMS:
            self._items = [item]
        else:
            self._items.append(item)
        waiter: Any = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        on_put = self.on_put
        if on_put is not None and wake:
            on_put.wake()

    def take(self) -> Any:
        items = self._items
        return items.pop(0) if items else None

    def get_nowait(self) -> Any:
        if not self._items:
            raise queue.Empty
        return self._items.pop(0)

    async def get(self) -> Any:  # type: ignore[override]
        while not self._items:
            waiter: Any = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class DaemonHandle:
    """What ``Watcher.runDaemon()`` returns (and keeps as ``_thread``): the watcher's
    callbacks run on its client's dispatcher threads (see ``CallbackDispatcher``), not
    on a thread of their own; this handle answers like that thread would:
    ``is_alive()`` while the watcher runs, ``join(timeout)`` waits for it to end."""

    __slots__ = ("watcher", "generation", "dispatcher", "batch", "scheduled", "running", "again",
                 "runner", "ended", "_joined")

    name = "etcd3-watcher"
    daemon = True

    def __init__(self, watcher: "Watcher", dispatcher: "CallbackDispatcher") -> None:
        # (the handle is also the watcher's consumer token)
        self.watcher, self.dispatcher = watcher, dispatcher
        self.generation = watcher._generation
        self.batch: Optional[Deque[Event]] = None  # events taken from the watcher, not dispatched yet
        self.scheduled = self.running = self.again = False
        self.runner: Optional[threading.Thread] = None  # the dispatcher thread running it now
        self.ended = False
        self._joined: Optional[threading.Event] = None  # made by the first join()

    def is_alive(self) -> bool:
        return not self.ended

    isAlive = is_alive

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the watcher's dispatch has ended (called from its own callback:
        returns at once, as it cannot end while that callback runs)."""
        if self.runner is threading.current_thread() or self.ended:
            return
        joined = self._joined
        if joined is None:
            with self.dispatcher._cond:
                joined = self._joined
                if joined is None:
                    joined = self._joined = threading.Event()
        if not self.ended:  # (_end sets ended before it looks for _joined)
            joined.wait(timeout)

    def wake(self) -> None:
        """Something came for the watcher (its queue's ``on_put``)."""
        self.dispatcher.schedule(self)

    def _end(self) -> None:
        """The dispatch ended (in the thread running it, or by ``Watcher.stop()`` while idle)."""
        if self.ended:
            return
        watcher = self.watcher
        batch, self.batch = self.batch, None
        if batch:
            watcher._push_back(batch)
        watcher._release(self)
        self.ended = True
        joined = self._joined
        if joined is not None:
            joined.set()

    def run_turn(self, budget: int, worker: Any) -> bool:
        """Dispatch at most ``budget`` events (``worker.busy_since`` says since when
        the current callback runs); True when more are waiting."""
        watcher = self.watcher
        if self.ended:
            return False
        if watcher._generation != self.generation:
            self._end()
            return False
        generation = self.generation
        # events left from an earlier turn (a deque only then: 760 bytes, none kept while idle)
        batch = self.batch
        if batch is None and watcher._pending:
            batch = self.batch = watcher._take_pending()
        run_queue, state = watcher._queue, watcher._state
        dispatch = watcher.dispatch_event
        try:
            while budget > 0:
                if batch:
                    if watcher._generation != generation:
                        self._end()
                        return False
                    worker.busy_since = time.monotonic()
                    dispatch(batch.popleft())
                    budget -= 1
                    continue
                item = run_queue.take()
                if item is None:
                    self.batch = None
                    return False
                events = watcher._take(*item, state)
                if events is None:
                    self.batch = None
                    self._end()
                    return False
                # straight from the response's list; what this turn leaves goes to a deque
                for index, event in enumerate(events):
                    if budget <= 0 or watcher._generation != generation:
                        batch = self.batch = collections.deque(events[index:])
                        break
                    worker.busy_since = time.monotonic()
                    dispatch(event)
                    budget -= 1
            return True
        except Etcd3Exception as error:  # the watch ended with an error
            self._end()
            if not watcher._error_callbacks:
                log.error("watcher %r ended: %s", watcher, error)
            for cb in tuple(watcher._error_callbacks or ()):
                try:
                    cb(error)
                except Exception:
                    log.exception("watch error callback %r failed on %r", cb, error)
            return False
        finally:
            worker.busy_since = None


class CallbackDispatcher:
    """Runs the callbacks of every ``runDaemon()`` watcher of one sync client on a few
    threads.

    Policy: one thread normally (started on demand, ended after WORKER_IDLE_SECONDS
    with nothing to do).  A watcher's events are dispatched in order, by one thread at a
    time, in turns of at most TURN events, so a busy watcher does not starve the
    others.  A slow callback holds up only the thread running it: when every
    dispatcher thread has been inside one callback for more than SLOW_CALLBACK_SECONDS
    while other watchers have events waiting, another thread is started (at most
    MAX_THREADS; the check runs whenever an event arrives, and every
    SLOW_CALLBACK_SECONDS while watchers wait).  Callbacks that block for good on all
    MAX_THREADS threads stall the rest: a callback should hand long work off.  The
    stream's reader wakes the threads once per read, not once per watcher (``deferring``).

    The sync watch path per event stays: decode, a hand-over from the reader to a
    dispatcher thread (as before to the watcher's own thread), the callback."""

    TURN = 256
    SLOW_CALLBACK_SECONDS = 0.5
    MAX_THREADS = 8
    WORKER_IDLE_SECONDS = 5.0

    def __init__(self) -> None:
        # the critical sections take the lock itself: a Condition's ``with`` is two Python
        # calls more, for each event the reader schedules and each turn a thread runs
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ready: Deque[DaemonHandle] = collections.deque()
        self._workers: List["_DispatchWorker"] = []
        self._idle = 0
        # set by the stream's reader while it routes one read's responses: the threads are
        # woken once at the end (a read may carry thousands of events for as many watchers)
        self.deferring = False

    @property
    def threads(self) -> int:
        return len(self._workers)

    def schedule(self, handle: DaemonHandle) -> None:
        with self._lock:
            if handle.running:
                handle.again = True
                return
            if handle.scheduled:
                return
            handle.scheduled = True
            self._ready.append(handle)
            if self.deferring:
                return
            if self._idle:
                self._cond.notify()
            else:
                self._grow()

    def end_deferring(self) -> None:
        """Wake the threads for what was scheduled since ``deferring`` was set."""
        with self._lock:
            self.deferring = False
            if self._ready:
                if self._idle:
                    self._cond.notify(min(self._idle, len(self._ready)))
                else:
                    self._grow()

    def backlogged(self) -> bool:
        """Watchers wait while no thread is free."""
        return bool(self._ready) and not self._idle

    def check(self) -> None:
        """Start another thread if waiting watchers are held up by slow callbacks."""
        with self._lock:
            if self._ready and not self._idle:
                self._grow()

    def end_if_idle(self, handle: DaemonHandle) -> bool:
        """End ``handle`` now unless a thread runs it (then it ends there, soon)."""
        with self._lock:
            if handle.running:
                return False
            handle._end()
            return True

    def _grow(self) -> None:  # with the lock held, no thread idle
        workers = self._workers
        if workers:
            if len(workers) >= self.MAX_THREADS:
                return
            now = time.monotonic()
            for worker in workers:
                since = worker.busy_since
                if since is None or now - since < self.SLOW_CALLBACK_SECONDS:
                    return  # that one will come round to the waiting watchers soon
        worker = _DispatchWorker(self)
        workers.append(worker)
        threading.Thread(target=worker.run, name="etcd3-watch-callbacks", daemon=True).start()


class _DispatchWorker:
    __slots__ = ("dispatcher", "busy_since")

    def __init__(self, dispatcher: CallbackDispatcher) -> None:
        self.dispatcher = dispatcher
        self.busy_since: Optional[float] = None

    def run(self) -> None:
        dispatcher = self.dispatcher
        lock, cond, ready = dispatcher._lock, dispatcher._cond, dispatcher._ready
        me = threading.current_thread()
        handle: Optional[DaemonHandle] = None
        more = False
        while True:
            with lock:  # (cond's lock)
                if handle is not None:  # the last turn's handle: done, or in line again
                    handle.running, handle.runner = False, None
                    if (more or handle.again) and handle.is_alive():
                        handle.again = False
                        handle.scheduled = True
                        ready.append(handle)
                    handle = None
                while not ready:
                    dispatcher._idle += 1
                    woken = cond.wait(dispatcher.WORKER_IDLE_SECONDS)
                    dispatcher._idle -= 1
                    if not woken and not ready:
                        dispatcher._workers.remove(self)
                        return
                handle = ready.popleft()
                handle.scheduled, handle.running, handle.again = False, True, False
                handle.runner = me
            more = False
            try:
                more = handle.run_turn(dispatcher.TURN, self)
            except BaseException:  # noqa: BLE001 - never lose the thread to one watcher
                log.exception("dispatching the events of %r failed", handle.watcher)
                handle._end()


def _AioDaemonHandle(watcher: "Watcher", dispatcher: Any) -> Any:
    """The handle of ``AioWatcher.runDaemon()``: a DaemonHandle that is also the asyncio
    future it returns, done when the watcher ends (one object: a future and a handle
    weigh 144 and 120 bytes, the two in one 224); ``future`` is itself."""
    handle_class = _aio_handle_class[0] or _make_aio_handle_class()
    return handle_class(watcher, dispatcher)


_aio_handle_class: List[Any] = [None]


def _make_aio_handle_class() -> Any:
    """asyncio.Future and DaemonHandle's slots cannot be the two bases of one class: the
    class takes the future as its base and the handle's slots and methods (made on first
    use: the sync client imports no asyncio)."""
    def __init__(self: Any, watcher: "Watcher", dispatcher: Any) -> None:
        asyncio.Future.__init__(self, loop=asyncio.get_running_loop())
        DaemonHandle.__init__(self, watcher, dispatcher)

    def _end(self: Any) -> None:
        if self.ended:
            return
        DaemonHandle._end(self)
        if not self.done():
            self.set_result(None)

    slot = type(DaemonHandle.watcher)  # (DaemonHandle's own slots: the new class has its own)
    namespace = {name: value for name, value in vars(DaemonHandle).items()
                 if not name.startswith("__") and not isinstance(value, slot)}
    namespace.update(__slots__=DaemonHandle.__slots__, __init__=__init__, _end=_end, __module__=__name__,
                     __doc__=_AioDaemonHandle.__doc__, future=property(lambda self: self))
    handle_class = _aio_handle_class[0] = type("_AioDaemonHandle", (asyncio.Future,), namespace)
    return handle_class


class AioCallbackDispatcher:
    """Runs the callbacks of every ``runDaemon()`` watcher of one async client in the
    event loop, in turns of at most TURN events per watcher (in order for each watcher),
    so a busy watcher does not starve the others.  A callback that blocks blocks the
    loop, as any blocking code in asyncio does: it should hand long work to a task."""

    TURN = 256
    busy_since: Optional[float] = None  # (the worker interface of DaemonHandle.run_turn)
    threads = 0
    _cond = threading.Lock()  # (DaemonHandle.join's; an AioWatcher's end is awaited instead)

    def __init__(self) -> None:
        # the watchers scheduled, run together in one loop callback (one read of the stream
        # may carry events for thousands of watchers: one callback, not one each)
        self._ready: Deque[DaemonHandle] = collections.deque()
        self._due_in: Any = None  # the loop where that callback is due

    def schedule(self, handle: DaemonHandle) -> None:
        if handle.running:
            handle.again = True
            return
        if handle.scheduled:
            return
        handle.scheduled = True
        loop = asyncio.get_running_loop()
        if self._due_in is not loop:
            if self._due_in is not None:
                self._ready.clear()  # due in a loop that is gone (they would never have run)
            self._due_in = loop
            loop.call_soon(self._run_ready)
        self._ready.append(handle)

    def _run_ready(self) -> None:
        self._due_in = None
        ready = self._ready
        for _ in range(len(ready)):  # those scheduled meanwhile go in the next loop turn
            self._run(ready.popleft())

    def check(self) -> None:
        return None

    def end_if_idle(self, handle: DaemonHandle) -> bool:
        if handle.running:
            return False
        handle._end()
        return True

    def _run(self, handle: DaemonHandle) -> None:
        handle.scheduled, handle.running, handle.again = False, True, False
        more = False
        try:
            more = handle.run_turn(self.TURN, self)
        except BaseException:  # noqa: BLE001 - one watcher must not break the others' dispatch
            log.exception("dispatching the events of %r failed", handle.watcher)
            handle._end()
        finally:
            handle.running = False
        if (more or handle.again) and handle.is_alive():
            handle.again = False
            self.schedule(handle)


class _KeptAttribute:
    """A public attribute of a Watcher kept in a private one (``_<name>``, or ``kept_in``),
    set as any attribute; read, it first waits for the watch's created answer if it is due
    (``settle``), or is made by ``make()`` if None (``make``)."""

    def __init__(self, doc: str, settle: bool = False, make: Optional[Callable[[], Any]] = None,
                 kept_in: str = "") -> None:
        self.__doc__, self.settle, self.make, self.kept_in = doc, settle, make, kept_in

    def __set_name__(self, owner: type, name: str) -> None:
        self.kept_in = self.kept_in or "_" + name

    def __get__(self, watcher: Any, owner: Optional[type] = None) -> Any:
        if watcher is None:
            return self
        if self.settle:
            watcher._settle()
        value = getattr(watcher, self.kept_in)
        if value is None and self.make is not None:
            value = self.make()
            setattr(watcher, self.kept_in, value)
        return value

    def __set__(self, watcher: Any, value: Any) -> None:
        setattr(watcher, self.kept_in, value)


class Watcher:
    """Watch a key, a range or a prefix, and call back on events (etcd3-py 0.1.6's API).

    >>> w = client.Watcher('/config/', prefix=True)
    >>> w.onEvent('/config/col', lambda e: print(e.value))   # a regex on the key
    >>> w.onEvent(EventType.DELETE, lambda e: print('gone', e.key))
    >>> w.runDaemon()      # or w.run() to block; w.stop() ends both

    Every watcher of a client shares the client's one watch stream; after a
    disconnect the watch is created again right after the last event it received,
    so nothing is lost or delivered twice (a compacted gap raises
    ``Etcd3WatchCompacted``).  A watcher stopped and run again also goes on after
    the last event it delivered.
    """

    # (class-level defaults, set on an instance only when it differs: a client may have tens
    # of thousands of watchers, and each attribute an instance holds costs it about 9 bytes)
    retries = 0  # as in 0.1.6, never counted up; the stream's failures go to ``errors``
    timeout: Optional[float] = None  # of watch_once (set_default_timeout)
    max_retries = UNLIMITED_RETRIES
    _start_revision: Optional[int] = None
    range_end: Any = None
    prefix: Optional[bool] = None
    all: Optional[bool] = None
    progress_notify: Optional[bool] = None
    prev_kv: Optional[bool] = None
    no_put = False
    no_delete = False
    fragment: Optional[bool] = None
    error: Optional[BaseException] = None
    _revision: Optional[int] = None  # header.revision of the last response taken
    _watch_id: Optional[int] = None
    _errors: Optional[Deque[BaseException]] = None  # made on first use (see ``errors``)
    _callbacks: Optional[List[Tuple[Callable[[Event], Any], FilterType, Callback]]] = None  # (see ``callbacks``)
    _error_callbacks: Optional[List[Callable[[BaseException], Any]]] = None  # made on first use
    # the run state (see _init_run_state)
    _resume_revision: Optional[int] = None
    _pending: Any = ()
    _state: Optional[WatchState] = None
    _queue: Any = None
    _consumer: Optional[object] = None
    _generation = 0
    _daemon: Optional[DaemonHandle] = None

    def __init__(self, client: Any, max_retries: int = -1, key: Any = None, range_end: Any = None,
                 start_revision: Optional[int] = None, progress_notify: Optional[bool] = None,
                 prev_kv: Optional[bool] = None, prefix: Optional[bool] = None, all: Optional[bool] = None,
                 no_put: bool = False, no_delete: bool = False, fragment: Optional[bool] = None) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError("max_retries must be an int (-1: no limit), got %r; Watcher's parameters are "
                            "(client, max_retries, key, range_end, ...), client.Watcher's (key, range_end, "
                            "max_retries, ...)" % (max_retries,))
        # 0.1.6's range check: an explicit None does not count, an explicit False does
        if key is None and all is None:
            raise TypeError("__init__() requires at least one argument of key,all")
        if (range_end is not None) + (prefix is not None) + (all is not None) > 1:
            raise TypeError("__init__() requires at most one of param range_end or prefix or all")
        watch_create_fields(key, range_end, start_revision, progress_notify, prev_kv, prefix, all, no_put,
                            no_delete, fragment)  # refuses nonsense now, not at the first run
        self.client = client
        if max_retries >= 0:
            self.max_retries = max_retries
        self.key = key
        if start_revision is not None:  # (behind a property: read while the creation is unanswered, it waits)
            self._start_revision = start_revision
        for name, value, default in (("range_end", range_end, None), ("prefix", prefix, None),
                                     ("all", all, None), ("progress_notify", progress_notify, None),
                                     ("prev_kv", prev_kv, None), ("no_put", no_put, False),
                                     ("no_delete", no_delete, False), ("fragment", fragment, None)):
            if value is not default:
                setattr(self, name, value)
        # the run state starts as the class-level defaults (_init_run_state)
        # (after a fork the client's watch stream resets the watchers that were watching)

    @property
    def _created(self) -> Any:
        """The flag of the watch's creation: its queue."""
        return self._queue

    @property
    def _lock(self) -> Any:
        """The lock of this watcher's state: one of a few that all watchers share (a lock
        weighs 88 bytes).  Its critical sections take no other lock (``_start`` takes the
        stream's first), so sharing it cannot deadlock; one held by a thread of the parent
        of a forked child is made again there."""
        return _watcher_locks.lock_for(self)

    def _settle(self) -> None:
        """Wait for the server's answer to this watcher's creation, if it is due."""
        created = self._created
        if created is not None and not created.is_set() and self.watching:
            created.wait(self.CREATION_TIMEOUT)

    CREATION_TIMEOUT = 10.0  # the longest the attributes below (and the client's next request) wait for it

    # 0.1.6's attributes, kept in private ones (the ``_revision`` of ``revision``...): the
    # created answer's are read once it came (waited for if it is due); lists made on first use
    start_revision = _KeptAttribute("The revision to start from; once created, the created answer's header "
                                    "revision (waits for that answer if it is due).", settle=True)
    revision = _KeptAttribute("The header revision of the last response taken (waits for the created answer "
                              "if it is due).", settle=True)
    watch_id = _KeptAttribute("The server's id of the watch (waits for the created answer if it is due).",
                              settle=True)
    error_callbacks = _KeptAttribute("The callbacks of ``onError``.", make=list)
    callbacks = _KeptAttribute("The callbacks of ``onEvent``: (the filter's predicate, the filter, the callback) "
                               "each (a list made on first use, or by the first onEvent: a list of one "
                               "weighs 16 bytes less than one appended to).", make=list)
    errors = _KeptAttribute("The last 20 failures of the stream this watcher was on (and its ending error).",
                            make=lambda: collections.deque(maxlen=20))
    _thread = _KeptAttribute("The handle of runDaemon() (``is_alive()``, ``join()``), where 0.1.6 kept its "
                             "thread.", kept_in="_daemon")

    def _after_fork_in_child(self) -> None:
        # the watch is the parent's and goes on there.  Here the watcher is idle (its daemon
        # dispatch is gone with the parent's threads): run again, it makes a watch of the
        # child's own that starts after the events it took, the ones received but not handed out coming first
        state, run_queue = self._state, self._queue
        pending = list(self._pending)
        # read the queue's items directly: its lock may have been held by a parent thread
        for kind, payload in run_queue.snapshot() if run_queue is not None else ():
            if kind == EVENTS:
                pending.extend(payload)
        self._remember(state)
        resume, generation = self._resume_revision, self._generation
        forksafe.keep_untouched(getattr(self, "_task", None))  # an AioWatcher's, of the parent's loop
        self._init_run_state()
        self._resume_revision, self._pending = resume, pending
        self._generation = generation + 1  # a loop over the events in the forking thread ends

    def _init_run_state(self) -> None:
        """The run state of a watcher that never ran (the class-level defaults, set again
        here on a copy or in a forked child)."""
        # where a new watch of this watcher starts: right after what it took from its last one
        self._resume_revision = None
        # events received but not handed out yet (the rest of a batch when watch_once found
        # its event, or what was queued when the watcher stopped): handed out first next time
        self._pending = ()  # a list when events are kept (one list less per idle watcher)
        self._state = None
        self._queue = None  # made by _start; also the flag of the watch's creation (_created)
        self._consumer = None  # the one loop taking this watcher's events
        self._generation = 0  # bumped by stop(): a loop of an older generation ends
        self._daemon = None  # the dispatch of runDaemon()

    def _new_queue(self) -> Any:
        return _EventQueue(self)

    def __repr__(self) -> str:
        return "<%s %r%s %s>" % (type(self).__name__, self.key, " prefix" if self.prefix else
                                 " all" if self.all else " ..%r" % (self.range_end,) if self.range_end is not None
                                 else "", "watching" if self.watching else "idle")

    @property
    def watching(self) -> bool:
        """True while this watcher's watch is open on the stream."""
        state = self._state
        return state is not None and not state.done

    @watching.setter
    def watching(self, value: bool) -> None:
        if value:
            raise AttributeError("start watching with run(), runDaemon(), iteration or 'with'")
        self.stop()

    # -- callbacks --------------------------------------------------------------------------
    @staticmethod
    def get_filter(filter: FilterType) -> Callable[[Event], Any]:
        """The predicate of a filter: a callable is its own; a str or bytes is a regex
        ``re.match``-ed against the key (from its start: ``'foo'`` matches
        ``b'foo/bar'``; str sees the key as UTF-8 text, bytes its bytes); an
        ``EventType`` member matches events of that type; None matches every event."""
        if filter is None:
            return _always
        if isinstance(filter, _EventType()):
            return lambda event: event.type == filter
        if isinstance(filter, (str, bytes)):
            return _regex_filter(re.compile(filter))
        if isinstance(filter, re.Pattern):
            return _regex_filter(filter)
        if callable(filter):
            return filter
        raise TypeError("expect filter to be one of string, EventType, callable got %s" % type(filter))

    def onEvent(self, filter_or_cb: Any, cb: Optional[Callback] = None) -> None:
        """``onEvent(filter, cb)`` calls ``cb(event)`` for the events passing ``filter``
        (see ``get_filter``); ``onEvent(cb)`` for every event."""
        if cb:
            filter = filter_or_cb
        else:
            filter, cb = None, filter_or_cb
        if not callable(cb):
            raise TypeError("callback should be a callable")
        if filter is not None:
            self._add_callback((self.get_filter(filter), filter, cb))
            return
        # many watchers often share one callback: the entries of an unfiltered one are one
        # tuple (immutable; 64 bytes a watcher), found in the last watcher given one, which
        # the client refers to weakly (it keeps no callback alive)
        last = getattr(self.client, "_last_unfiltered_watcher", None)
        watcher = last() if last is not None else None
        entry = next((kept for kept in watcher._callbacks or () if kept[0] is _always and kept[2] is cb),
                     None) if watcher is not None else None
        if entry is None:
            entry = (_always, None, cb)
        try:
            self.client._last_unfiltered_watcher = weakref.ref(self)
        except AttributeError:  # (a client that takes no attributes)
            pass
        self._add_callback(entry)

    def _add_callback(self, entry: Tuple[Callable[[Event], Any], FilterType, Callback]) -> None:
        callbacks = self._callbacks
        if callbacks is None:
            self._callbacks = [entry]
        else:
            callbacks.append(entry)

    def unEvent(self, filter: Any = None, cb: Optional[Callback] = None) -> None:
        """Remove the callbacks registered with this filter and/or this callback
        (``unEvent(cb)`` also works for a callback registered without a filter)."""
        if filter is None and cb is None:
            raise TypeError("unEvent() requires at least one argument of filter,cb")
        entries = self.callbacks
        if cb is None and callable(filter) and not any(raw == filter or func == filter for func, raw, _ in entries) \
                and any(c == filter for _, _, c in entries):
            filter, cb = None, filter
        self.callbacks = [(func, raw, c) for func, raw, c in entries
                          if not ((cb is None or c == cb) and (filter is None or raw == filter or func == filter))]

    def onError(self, cb: Callable[[BaseException], Any]) -> None:
        """Call ``cb(error)`` when the watch ends with an error (compaction, too many
        retries, ...); without one, ``run()`` raises it."""
        self.error_callbacks.append(cb)

    def dispatch_event(self, event: Event) -> None:
        """Call, in the order they were registered, every callback whose filter the
        event passes.  A callback that raises is logged; the others still run and the
        watch goes on."""
        for matches, _, cb in tuple(self._callbacks or ()):
            try:
                if matches is _always or matches(event):  # (no call for an unfiltered callback)
                    cb(event)
            except Exception:  # a failing callback must not kill the watch
                log.exception("watch callback %r failed on %r", cb, event)

    def clear_callbacks(self) -> None:
        self.callbacks = []
        self.error_callbacks = []

    def clear_revision(self) -> None:
        """Forget the revisions: the next run watches from now."""
        with self._lock:
            self._start_revision = self._revision = self._resume_revision = None
            self._pending = ()

    def set_default_timeout(self, timeout: Optional[float]) -> None:
        """The timeout of ``watch_once`` when none is given."""
        self.timeout = timeout

    def request_create(self) -> Any:
        """A raw watch stream of its own (``client.watch``) for this watcher's key,
        from where the watcher would go on; an iterable of WatchResponses, the first
        one ``created``; close it to stop.  Callbacks and resume are not involved.
        The watcher's ``timeout`` bounds each wait for the server (None: none), as 0.1.6 had it."""
        from ..baseclient import NO_TIMEOUT

        return self.client.watch(create_request=self._create_request(),
                                 timeout=NO_TIMEOUT if self.timeout is None else self.timeout)

    # -- running ----------------------------------------------------------------------------
    def _create_request(self) -> Dict[str, Any]:
        create = watch_create_fields(self.key, self.range_end, None, self.progress_notify, self.prev_kv,
                                     self.prefix, self.all, self.no_put, self.no_delete, self.fragment)
        revision = self._resume_revision or self._start_revision
        if revision:
            create["start_revision"] = revision
        return create

    def _stream(self) -> WatchStream:
        return self.client._shared_watch_stream or self.client._watch_stream()

    def _start(self) -> None:
        """Open the watch on the client's stream, unless it is open."""
        if self.watching:
            return
        stream = self._stream()
        run_queue = self._new_queue()
        # the stream's lock first, then the watcher's, never the other way round (the
        # stream's reader takes the dispatcher's lock, which takes the watcher's)
        with stream._lock:
            with self._lock:
                if self.watching:
                    return
                if self.error is not None:
                    self.error = None
                create = self._create_request()
            state = stream.add(create, run_queue, self.max_retries, run_queue)
            with self._lock:
                self._queue, self._state = run_queue, state  # (the queue is the creation's flag too: _created)

    def _claim(self, need_callbacks: bool) -> object:
        """Become the one loop taking this watcher's events (a token for ``_release``)."""
        with self._lock:
            if need_callbacks and not self._callbacks:
                raise TypeError("haven't watch on any event yet, use onEvent to watch a event")
            if self._consumer is not None:
                raise RuntimeError("already watching")
            token = self._consumer = object()
            return token

    def _release(self, token: object) -> None:
        with self._lock:
            if self._consumer is token:
                self._consumer = None

    def _take_pending(self) -> Deque[Event]:
        with self._lock:
            pending, self._pending = self._pending, ()
        return collections.deque(pending)

    def _push_back(self, batch: Deque[Event]) -> None:
        """Events taken but not handed out go back to the front of the pending ones."""
        with self._lock:
            self._pending = [*batch, *self._pending]

    def _remember(self, state: Optional[WatchState]) -> None:
        if state is not None and state.next_revision:
            self._resume_revision = state.next_revision

    def _take(self, kind: str, payload: Any, state: Optional[WatchState]) -> Optional[List[Event]]:
        """One item of the run's queue: its events ([] for none), None at the end; an
        error ending the watch is raised.  Keeps 0.1.6's attributes: ``revision`` is
        the last response's header revision, ``start_revision`` and ``watch_id`` those
        of the response that created the watch."""
        if kind == EVENTS:
            header = payload[-1].header
            if header is not None:
                self._revision = header.revision
            return payload
        if kind == _REVISION:
            if payload:
                self._revision = payload
            return []
        if kind == CREATED or kind == PROGRESS:
            header = payload.header
            if header is not None:
                self._revision = _shared_revision(header.revision)
            if kind == CREATED:
                self._start_revision = self._revision
                self._watch_id = payload.watch_id
            return []
        self._remember(state)
        if kind == ERROR:
            self.error = payload
            if not self.errors or self.errors[-1] is not payload:
                self.errors.append(payload)
            raise payload
        return None

    def _stop_watch(self) -> None:
        """Cancel the watch (the loop taking its events ends); what it had received
        and not handed out is kept for the next run."""
        with self._lock:
            self._generation += 1
            self._consumer = None
            state, run_queue = self._state, self._queue
        if state is None:
            return
        if not state.done:
            self._stream().cancel(state)  # its sink gets ENDED at once: nothing comes after
        left: List[Event] = []
        while True:
            try:
                kind, payload = run_queue.get_nowait()
            except _EMPTY:
                break
            if kind == EVENTS:
                left.extend(payload)
        run_queue.put_nowait((ENDED, None))  # for a loop blocked on the queue
        with self._lock:
            if left:
                self._pending = [*self._pending, *left]
            self._remember(state)

    @staticmethod
    def _piece_end(timeout: Optional[float], deadline: Optional[float]) -> Optional[float]:
        """When the wait for the next events ends: the whole's ``deadline``, or ``timeout``
        from now.  Kept until events come: the created answers of reconnections (a stream
        that keeps breaking) and progress notifications do not start it again."""
        if deadline is not None:
            return deadline
        return None if timeout is None else time.monotonic() + timeout

    @staticmethod
    def _wait_time(piece_end: Optional[float]) -> Optional[float]:
        return None if piece_end is None else max(0.0, piece_end - time.monotonic())

    def _timed_out(self, timeout: Optional[float], deadline: Optional[float]) -> BaseException:
        if deadline is not None:
            return OnceTimeout("no event in time")
        return errors.Etcd3WatchTimeout("no event within %ss" % timeout)

    def _consume(self, token: Optional[object] = None, timeout: Optional[float] = None,
                 deadline: Optional[float] = None) -> Iterator[Event]:
        """This watcher's events (starting the watch if needed) until ``stop()``: the
        pending ones first.  ``timeout`` bounds each wait for events (Etcd3WatchTimeout), a
        ``deadline`` the whole (OnceTimeout)."""
        if token is None:
            token = self._claim(False)
        generation = self._generation
        batch: Deque[Event] = collections.deque()
        try:
            if self._generation != generation:
                return
            self._start()
            run_queue, state = self._queue, self._state
            batch = self._take_pending()
            piece_end: Optional[float] = None
            while True:
                while batch:
                    if self._generation != generation:
                        return
                    yield batch.popleft()
                    piece_end = None
                if self._generation != generation:
                    return
                if piece_end is None:
                    piece_end = self._piece_end(timeout, deadline)
                try:
                    item = run_queue.get(timeout=self._wait_time(piece_end))
                except queue.Empty:
                    raise self._timed_out(timeout, deadline) from None
                events = self._take(*item, state)
                if events is None:
                    return
                batch = collections.deque(events)
        finally:
            if batch:
                self._push_back(batch)
            self._release(token)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterate over the events (starting the watch if needed) until ``stop()``; an
        error ending the watch is raised; ``timeout`` bounds each wait for the next events
        (``Etcd3WatchTimeout``), however often the stream is opened again meanwhile."""
        return self._consume(timeout=timeout)

    __iter__ = events

    def _dispatch_loop(self, token: object) -> None:
        try:
            for event in self._consume(token):
                self.dispatch_event(event)
        except Etcd3Exception as error:
            if not self._error_callbacks:
                raise
            for cb in self._error_callbacks:
                cb(error)

    def run(self) -> None:
        """Watch and call back until ``stop()`` (blocking)."""
        self._dispatch_loop(self._claim(True))

    def _wait_created(self, timeout: float) -> None:
        if not self._created.wait(timeout) and self.error is None and self.watching:
            raise errors.Etcd3Timeout("the watch was not created within %ss" % timeout, self.client.baseurl)

    def wait_created(self, timeout: float = 10) -> None:
        """Wait until the server has created the watch (or refused it: then ``error`` says
        why): every change made from then on is seen.  ``Etcd3Timeout`` when no answer
        came within ``timeout`` seconds; nothing to wait for on a watcher not watching."""
        if self._created is not None:
            self._wait_created(timeout)

    def _start_daemon(self, handle_class: Any) -> Tuple[DaemonHandle, bool]:
        """The daemon's handle, and whether the watch went on a stream still to open."""
        token = self._claim(True)
        try:
            opening = self._stream()._stream is None
            self._start()
            handle = handle_class(self, self._stream().callback_dispatcher())
        except BaseException:
            self._release(token)
            raise
        with self._lock:
            if self._consumer is token:
                self._consumer = handle  # (the handle is the token from now: one object less)
        self._daemon = handle
        run_queue = self._queue
        run_queue.on_put = handle
        if self._pending or run_queue.snapshot():
            handle.wake()
        return handle, opening

    def runDaemon(self, timeout: float = 10) -> DaemonHandle:
        """Call back in the background until ``stop()``; returns at once, as 0.1.6's did,
        with the watch's creation sent on the client's open stream (thousands of watchers
        are created without a round trip each; on a stream still to open, it waits for the
        answer, and ``Etcd3Timeout`` comes after ``timeout`` seconds without one).  Every change made after this call is still
        seen: the client's next request, and reading ``start_revision``, ``revision`` or
        ``watch_id``, wait for the server's answer to the creations sent before them
        (etcd answers them in order); another process told to write after this call
        should be told after ``wait_created()`` (``timeout`` is its default wait).

        The callbacks run on the client's few dispatcher threads (shared by all its
        watchers; see ``CallbackDispatcher`` for what a slow callback holds up), in
        order for each watcher.  The handle returned (also kept as ``_thread``, as
        0.1.6 kept its thread) has ``is_alive()`` and ``join(timeout)``."""
        handle, opening = self._start_daemon(DaemonHandle)
        if opening:  # the stream's first watch: returns on an open stream (one round trip)
            self._wait_created(timeout)
        return handle

    def stop(self) -> None:
        """Stop watching; a running ``run()``/``runDaemon()`` returns promptly (a callback
        running on another thread is let finish, waiting at most a second)."""
        self._stop_watch()
        handle = self._daemon
        if handle is not None and not handle.dispatcher.end_if_idle(handle):
            handle.join(1)

    cancel = stop

    def _once(self) -> "Watcher":
        """A watch of its own for watch_once while a loop takes this watcher's events
        (its events are that loop's): from now, touching nothing of this watcher."""
        once = copy.copy(self)
        once.errors = collections.deque(maxlen=20)
        once._start_revision = once._revision = once._watch_id = None
        once._init_run_state()
        return once

    def _once_target(self) -> "Watcher":
        with self._lock:
            busy = self._consumer is not None
        return self._once() if busy else self

    def watch_once(self, filter: FilterType = None, timeout: Optional[float] = None) -> Optional[Event]:
        """The first event passing ``filter`` (see ``get_filter``), or None when none
        came within ``timeout`` seconds (default: ``set_default_timeout``; None waits
        on).  The watch is stopped afterwards; the next watch_once or run goes on
        after the event returned, so a loop of watch_once calls misses nothing.  On a
        watcher that is running, it watches from now on a watch of its own."""
        timeout = timeout if timeout is not None else self.timeout
        matches = self.get_filter(filter)
        deadline = None if timeout is None else time.monotonic() + timeout
        watcher = self._once_target()
        events = watcher._consume(deadline=deadline)
        try:
            for event in events:
                if matches(event):
                    return event
            return None  # stopped meanwhile
        except OnceTimeout:
            return None
        finally:
            events.close()  # the rest of the batch goes back to the pending events
            watcher.stop()

    def __enter__(self) -> "Watcher":
        """Open the watch (changes made from now on are seen); iterate, run() or
        runDaemon() inside; stopped at the end."""
        if self.watching:
            raise RuntimeError("already watching")
        self._start()
        self._wait_created(10)
        return self

    def __exit__(self, *args: Any) -> None:
        self.stop()


class AioWatcher(Watcher):
    """The Watcher of the async client: ``await``/``async for`` where the sync one
    blocks; callbacks run in the event loop."""

    def _new_queue(self) -> Any:  # type: ignore[override]
        return _AioEventQueue(self)

    def _settle(self) -> None:
        # nothing may block the loop: after ``await runDaemon()`` on an open stream these
        # attributes are those of the created answer once ``await wait_created()`` returned
        # (or the client's next request, which waits for the creations sent before it)
        return None

    # (the daemon's handle is the future of runDaemon(): one attribute, not two)
    _task = _KeptAttribute("The future of runDaemon(), done when the watcher ends.", kept_in="_daemon")

    @property  # type: ignore[override]
    def watching(self) -> bool:
        state = self._state
        return state is not None and not state.done

    def __iter__(self) -> Any:  # type: ignore[override]
        raise TypeError("an AioWatcher is iterated with 'async for'")

    async def _consume(self, token: Optional[object] = None, timeout: Optional[float] = None,  # type: ignore[override]
                       deadline: Optional[float] = None) -> AsyncIterator[Event]:
        if token is None:
            token = self._claim(False)
        generation = self._generation
        batch: Deque[Event] = collections.deque()
        try:
            if self._generation != generation:
                return
            self._start()
            run_queue, state = self._queue, self._state
            batch = self._take_pending()
            piece_end: Optional[float] = None
            while True:
                while batch:
                    if self._generation != generation:
                        return
                    yield batch.popleft()
                    piece_end = None
                if self._generation != generation:
                    return
                if piece_end is None:
                    piece_end = self._piece_end(timeout, deadline)
                try:
                    item = await asyncio.wait_for(run_queue.get(), self._wait_time(piece_end))
                except asyncio.TimeoutError:
                    raise self._timed_out(timeout, deadline) from None
                events = self._take(*item, state)
                if events is None:
                    return
                batch = collections.deque(events)
        finally:
            if batch:
                self._push_back(batch)
            self._release(token)

    def events(self, timeout: Optional[float] = None) -> AsyncIterator[Event]:  # type: ignore[override]
        return self._consume(timeout=timeout)

    __aiter__ = events

    async def _dispatch_loop(self, token: object) -> None:  # type: ignore[override]
        try:
            async for event in self._consume(token):
                self.dispatch_event(event)
        except Etcd3Exception as error:
            if not self._error_callbacks:
                raise
            for cb in self._error_callbacks:
                cb(error)

    async def run(self) -> None:  # type: ignore[override]
        await self._dispatch_loop(self._claim(True))

    async def wait_created(self, timeout: float = 10) -> None:  # type: ignore[override]
        """Wait until the server has created the watch (or refused it: then ``error`` says
        why, once its callbacks ran): every change made from then on is seen, and
        ``start_revision``, ``revision`` and ``watch_id`` are the created answer's.
        ``Etcd3Timeout`` when no answer came within ``timeout`` seconds; nothing to wait for
        on a watcher not watching."""
        if self._created is not None:
            await self._wait_created(timeout)

    async def _wait_created(self, timeout: float) -> None:  # type: ignore[override]
        created = self._created
        if created.is_set():
            return
        try:
            # on a future, wait_for makes no task; shielded, a timed-out wait does not
            # cancel the future that the client's next request may be waiting on too
            await asyncio.wait_for(asyncio.shield(created.future()), timeout)
        except asyncio.TimeoutError:
            if self.error is None and self.watching:
                raise errors.Etcd3Timeout("the watch was not created within %ss" % timeout,
                                          self.client.baseurl) from None

    async def runDaemon(self, timeout: float = 10) -> "asyncio.Future[None]":  # type: ignore[override]
        """Call back in the event loop until ``stop()`` (the client's dispatcher runs
        the callbacks of all its watchers, in order for each; see
        ``AioCallbackDispatcher``); returns a future that is done when the watcher ends.

        As ``Watcher.runDaemon()``: on the client's open stream it returns once the watch's
        creation is sent (or held back to go out with the next batch), without waiting for
        the answer, so thousands of ``await w.runDaemon()`` in a row are created without a
        round trip each; on a stream still to open it waits for the answer
        (``Etcd3Timeout`` after ``timeout`` seconds without one).  Every change made
        after it returned is still seen: the client's next request waits for the server's
        answers to the creations sent before it (etcd answers them in order).  Before
        another process or client is told to write, or to read ``start_revision``,
        ``revision`` or ``watch_id`` (which never block the loop), ``await
        wait_created()``.  A creation the server refuses ends the watcher as on the sync
        client: ``error`` is set, the ``onError`` callbacks run and the future is done."""
        stream = self._stream()
        held_back = len(stream._outbox)
        handle, opening = self._start_daemon(_AioDaemonHandle)
        task = self._task = handle.future  # type: ignore[attr-defined]
        if opening or stream._stream is None:  # the stream's first watches: one round trip
            await self._wait_created(timeout)
        elif held_back and not stream._outbox:
            await asyncio.sleep(0)  # a full batch just went out: let the stream's reader and other tasks run
        return task  # type: ignore[return-value]

    async def stop(self) -> None:  # type: ignore[override]
        self._stop_watch()
        handle = self._daemon
        if handle is not None:
            handle.dispatcher.end_if_idle(handle)
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 1)
            except asyncio.TimeoutError:
                task.cancel()

    cancel = stop

    async def watch_once(self, filter: FilterType = None,  # type: ignore[override]
                         timeout: Optional[float] = None) -> Optional[Event]:
        timeout = timeout if timeout is not None else self.timeout
        matches = self.get_filter(filter)
        deadline = None if timeout is None else time.monotonic() + timeout
        watcher = self._once_target()
        events = watcher._consume(deadline=deadline)
        try:
            async for event in events:  # type: ignore[attr-defined]
                if matches(event):
                    return event
            return None  # stopped meanwhile
        except OnceTimeout:
            return None
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await watcher.stop()  # type: ignore[misc]

    def __enter__(self) -> Any:
        raise TypeError("an AioWatcher is used with 'async with'")

    async def __aenter__(self) -> "AioWatcher":
        if self.watching:
            raise RuntimeError("already watching")
        self._start()
        await self._wait_created(10)
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.stop()
