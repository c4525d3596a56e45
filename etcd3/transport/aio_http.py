"""The async client's own keep-alive HTTP/1.1 connections for unary requests.

A unary gateway call is one small POST and one length-delimited JSON answer.
aiohttp's general-purpose request machinery costs several times what the call
needs (about half of the client's time per request at 64 in flight), so
AioClient sends unary requests here: an ``asyncio.Protocol`` per connection
fed into the sans-IO ``duplex.ResponseParser`` that the watch streams use too.
aiohttp stays the transport of server streams and of ``call_rpc(raw=True)``,
which hand out aiohttp's own response objects.
"""
from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from typing import Any, Deque, List, Optional, Set

from ..core import Request, Response
from .duplex import AnswerLost, ResponseParser, UnaryRequestWriter, connect_failure, may_send_again, wait_within
from ..errors import Etcd3ConnectionError, Etcd3Timeout, Etcd3TransportError

__all__ = ["AioConnectionPool"]


class _Expired(Exception):
    """The request's time ran out while its answer was awaited."""


class _SlotFreed(Exception):
    """A waiting request may open a connection: one of the pool's has ended."""


class _Call:
    """One request on its way: its bytes, the future of its answer, its deadline
    (the loop's time; None: none) and the connection it went out on (None: waiting)."""

    __slots__ = ("data", "max_body", "answer", "deadline", "conn", "reused")

    def __init__(self, data: bytes, max_body: Optional[int], answer: asyncio.Future,
                 deadline: Optional[float]) -> None:
        self.data, self.max_body, self.answer, self.deadline = data, max_body, answer, deadline
        self.conn: Optional[_Connection] = None
        self.reused = False

    def expire(self) -> None:
        if self.answer.done():
            return
        if self.conn is not None:
            self.conn.expire()  # the answer is not complete: the connection cannot be reused
        else:
            self.answer.set_exception(_Expired())


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request at a time.  An answer in hands
    the connection back to its pool at once, which writes the next waiting request on
    it in the same callback (no loop turn between the two)."""

    def __init__(self, pool: "AioConnectionPool") -> None:
        self.pool = pool
        self.transport: Optional[asyncio.Transport] = None
        self.parser: Optional[ResponseParser] = None
        self.body: List[bytes] = []
        self.call: Optional[_Call] = None
        self.lost: Optional[asyncio.Future] = None
        self.reused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def send(self, call: _Call) -> None:
        self.parser = ResponseParser(self.pool.endpoint, call.max_body)
        self.body = []
        self.call, call.conn, call.reused = call, self, self.reused
        assert self.transport is not None
        self.transport.write(call.data)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes nobody asked for: this connection is not usable
            self.close()
            return
        try:
            self.body += parser.feed(data)
        except Etcd3TransportError as e:
            self._fail(e)
            return
        if parser.finished:
            self._finish()

    def eof_received(self) -> bool:
        if self.parser is not None:
            self.parser.eof()
            if self.parser.finished:
                self.parser.keep_alive = False
                self._finish()
        return False  # close the transport

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        parser = self.parser
        lost = AnswerLost(exc, answered=parser is not None and parser.status is not None)
        self._fail(lost)
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        self.pool._lost(self)

    def expire(self) -> None:
        self._fail(_Expired())

    def _finish(self) -> None:
        parser, call = self.parser, self.call
        self.parser = self.call = None
        body, self.body = b"".join(self.body), []
        if call is not None and parser is not None and not call.answer.done():
            call.answer.set_result((parser.status, parser.headers, body))
        if parser is not None and parser.keep_alive and self.usable:
            self.reused = True
            self.pool._release(self)
        else:
            self.close()

    def _fail(self, error: BaseException) -> None:
        call = self.call
        self.parser = self.call = None
        if call is not None and not call.answer.done():
            call.answer.set_exception(error)
        self.close()

    def close(self) -> None:
        transport = self.transport
        if transport is not None:
            if transport.get_write_buffer_size():
                # unsent bytes (a server that stopped reading): close() would wait to flush them
                transport.abort()
            else:
                transport.close()

    def abandon(self) -> None:
        """The connection's event loop is gone: end the TCP connection all the same (a
        closed loop cannot close its transport; the socket object goes at garbage collection)."""
        transport = self.transport
        if transport is None:
            return
        try:
            transport.close()
        except RuntimeError:  # "Event loop is closed"
            sock = transport.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()


# asyncio runs a timer up to one clock tick early (BaseEventLoop._clock_resolution)
_CLOCK_SLACK = time.get_clock_info("monotonic").resolution


class AioConnectionPool:
    """Keep-alive connections to one endpoint, at most ``limit`` open at a time (0.1.6's
    ``TCPConnector(limit=pool_size)``), bound to the event loop that uses them (a pool
    used from another loop starts afresh).

    Requests beyond the limit wait in a FIFO queue, and a connection whose answer is in
    writes the next one at once.  One timer for the whole pool, at the earliest deadline
    of the requests in it, times them all: no Task nor timer per request."""

    def __init__(self, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext],
                 limit: int, connect_timeout: float) -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._writer = UnaryRequestWriter(endpoint.split("://", 1)[1])
        self.context = context
        self.connect_timeout = connect_timeout
        self.limit = max(1, limit)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._idle: List[_Connection] = []
        self._all: Set[_Connection] = set()
        self._opening = 0  # connections being made
        self._waiting: Deque[_Call] = collections.deque()
        self._timed: Set[_Call] = set()  # the requests with a deadline
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at = 0.0
        # the largest answer accepted (None: any); the client sets it from max_response_size
        self.max_response_size: Optional[int] = None

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # connections of another (likely ended) loop cannot be used from this one
            for conn in self._all:
                conn.abandon()
            self._loop = loop
            self._idle, self._all, self._opening = [], set(), 0
            self._waiting, self._timed, self._timer = collections.deque(), set(), None
        return loop

    async def send(self, request: Request, path: str, timeout: Optional[float]) -> Response:
        """Send ``request`` (its ``path`` on this endpoint); ``timeout`` bounds the whole
        exchange, waiting for a connection included (None: no bound).  Raises the
        clients' transport errors."""
        loop = self._bind_loop()
        data = self._writer.write(request.method, path, request.headers, request.body)
        deadline = None if timeout is None else loop.time() + timeout
        waited = False  # put back at the head of the queue when it loses a freed slot
        while True:
            if waited and deadline is not None and loop.time() >= deadline:
                raise Etcd3Timeout("timed out after %ss waiting for a free connection" % timeout, self.endpoint)
            call = _Call(data, self.max_response_size, loop.create_future(), deadline)
            conn = self._take_idle()
            if conn is not None:
                conn.send(call)
            elif len(self._all) + self._opening < self.limit:
                (await self._connect(deadline)).send(call)
            elif waited:
                self._waiting.appendleft(call)
            else:
                self._waiting.append(call)
            if deadline is not None:
                self._time(call)
            try:
                status, headers, body = await call.answer
            except _SlotFreed:
                waited = True
                continue
            except _Expired as e:
                if call.conn is None:
                    raise Etcd3Timeout("timed out after %ss waiting for a free connection" % timeout,
                                       self.endpoint, e) from None
                raise Etcd3Timeout("timed out after %ss" % timeout, self.endpoint, e) from None
            except AnswerLost as e:
                if may_send_again(call.reused, e, request.idempotent):
                    continue
                raise Etcd3ConnectionError("connection lost: %s" % e, self.endpoint, e.cause) from e
            except BaseException:
                if call.conn is not None and call.conn.call is call:
                    call.conn.close()  # cancelled mid-exchange: the connection's state is unknown
                raise
            finally:
                if deadline is not None:
                    self._timed.discard(call)
            return Response(status, headers, body, endpoint=self.endpoint)

    # -- the connections' callbacks
    def _release(self, conn: _Connection) -> None:
        """``conn`` has its answer and may carry another request: the next waiting one."""
        waiting = self._waiting
        while waiting:
            call = waiting.popleft()
            if not call.answer.done():  # else expired or cancelled while it waited
                conn.send(call)
                return
        self._idle.append(conn)

    def _lost(self, conn: _Connection) -> None:
        self._all.discard(conn)
        self._hand_slot()

    def _hand_slot(self) -> None:
        """A connection ended or could not be made: the first waiting request may open one."""
        waiting = self._waiting
        while waiting and len(self._all) + self._opening < self.limit:
            call = waiting.popleft()
            if not call.answer.done():
                call.answer.set_exception(_SlotFreed())
                return

    # -- deadlines
    def _time(self, call: _Call) -> None:
        self._timed.add(call)
        deadline = call.deadline
        assert deadline is not None and self._loop is not None
        if self._timer is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at, self._timer = deadline, self._loop.call_at(deadline, self._expire_due)

    def _expire_due(self) -> None:
        self._timer = None
        assert self._loop is not None
        now = self._loop.time() + _CLOCK_SLACK
        waiting_expired = False
        for call in [call for call in self._timed if call.deadline <= now]:  # type: ignore[operator]
            self._timed.discard(call)
            waiting_expired = waiting_expired or call.conn is None
            call.expire()
        if waiting_expired:  # a stalled pool: let go of the queue's ended requests now
            self._waiting = collections.deque(call for call in self._waiting if not call.answer.done())
        if self._timed:
            first = min(call.deadline for call in self._timed)  # type: ignore[type-var]
            self._timer_at, self._timer = first, self._loop.call_at(first, self._expire_due)

    def _take_idle(self) -> Optional[_Connection]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
        return None

    async def _connect(self, deadline: Optional[float]) -> _Connection:
        loop = asyncio.get_running_loop()
        seconds = self.connect_timeout if deadline is None else min(self.connect_timeout, deadline - loop.time())
        self._opening += 1
        try:
            connecting = loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self.context,
                server_hostname=self.host if self.context is not None else None)
            _, conn = await wait_within(connecting, max(seconds, 0.0))
        except BaseException as e:
            self._opening -= 1
            self._hand_slot()  # the slot this connection would have taken
            if isinstance(e, (OSError, asyncio.TimeoutError)):
                raise connect_failure(e, self.endpoint, seconds) from e
            raise
        self._opening -= 1
        self._all.add(conn)
        return conn

    async def close(self) -> None:
        """Close every connection (requests on them fail) and wait until they are shut."""
        conns, self._idle, self._all = list(self._all), [], set()
        if self._loop is not asyncio.get_running_loop():
            for conn in conns:
                conn.abandon()
            return
        for conn in conns:
            conn.close()
        await asyncio.gather(*(conn.lost for conn in conns if conn.lost is not None))

    def __del__(self) -> None:
        # a client dropped without close(): its connections go with it, quietly
        loop = getattr(self, "_loop", None)
        if loop is None or loop.is_closed():
            return
        for conn in list(getattr(self, "_all", ())):
            try:
                conn.close()
            except RuntimeError:
                pass
