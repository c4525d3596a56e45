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
import socket
import ssl
from typing import Any, List, Optional, Set

from ..core import Request, Response
from .duplex import AnswerLost, ResponseParser, UnaryRequestWriter, connect_failure, may_send_again
from ..errors import Etcd3ConnectionError, Etcd3Timeout, Etcd3TransportError

__all__ = ["AioConnectionPool"]


class _Expired(Exception):
    """The request's time ran out while its answer was awaited."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request at a time."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.parser: Optional[ResponseParser] = None
        self.body: List[bytes] = []
        self.answer: Optional[asyncio.Future] = None
        self.lost: Optional[asyncio.Future] = None
        self.reused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def send(self, data: bytes, endpoint: str = "", max_body: Optional[int] = None) -> asyncio.Future:
        self.parser = ResponseParser(endpoint, max_body)
        self.body = []
        self.answer = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return self.answer

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
        self._fail(AnswerLost(exc, answered=parser is not None and parser.status is not None))
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def expire(self) -> None:
        self._fail(_Expired())

    def _finish(self) -> None:
        parser, answer = self.parser, self.answer
        self.parser = self.answer = None
        body, self.body = b"".join(self.body), []
        if answer is not None and not answer.done() and parser is not None:
            answer.set_result((parser.status, parser.headers, body, parser.keep_alive))

    def _fail(self, error: BaseException) -> None:
        answer = self.answer
        self.parser = self.answer = None
        if answer is not None and not answer.done():
            answer.set_exception(error)
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


class AioConnectionPool:
    """Keep-alive connections to one endpoint, at most ``limit`` at a time, bound to
    the event loop that uses them (a pool used from another loop starts afresh)."""

    def __init__(self, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext],
                 limit: int, connect_timeout: float) -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._writer = UnaryRequestWriter(endpoint.split("://", 1)[1])
        self.context = context
        self.connect_timeout = connect_timeout
        self.limit = max(1, limit)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self._idle: List[_Connection] = []
        self._all: Set[_Connection] = set()
        # the largest answer accepted (None: any); the client sets it from max_response_size
        self.max_response_size: Optional[int] = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # connections of another (likely ended) loop cannot be used from this one
            for conn in self._all:
                conn.abandon()
            self._loop, self._slots = loop, asyncio.Semaphore(self.limit)
            self._idle, self._all = [], set()

    async def send(self, request: Request, path: str, timeout: Optional[float]) -> Response:
        """Send ``request`` (its ``path`` on this endpoint); ``timeout`` bounds the whole
        exchange (None: no bound).  Raises the clients' transport errors."""
        self._bind_loop()
        data = self._writer.write(request.method, path, request.headers, request.body)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        slots = self._slots
        assert slots is not None
        if deadline is not None and slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), deadline - loop.time())
            except asyncio.TimeoutError as e:
                raise Etcd3Timeout("timed out after %ss waiting for a free connection" % timeout,
                                   self.endpoint, e) from e
        else:
            await slots.acquire()
        try:
            return await self._exchange(data, request.idempotent, deadline, timeout)
        finally:
            slots.release()

    async def _exchange(self, data: bytes, idempotent: bool, deadline: Optional[float],
                        timeout: Optional[float]) -> Response:
        loop = asyncio.get_running_loop()
        while True:
            conn = self._take_idle() or await self._connect(deadline)
            timer = loop.call_at(deadline, conn.expire) if deadline is not None else None
            try:
                status, headers, body, keep_alive = await conn.send(data, self.endpoint, self.max_response_size)
            except _Expired as e:
                raise Etcd3Timeout("timed out after %ss" % timeout, self.endpoint, e) from None
            except AnswerLost as e:
                if may_send_again(conn.reused, e, idempotent):
                    continue
                raise Etcd3ConnectionError("connection lost: %s" % e, self.endpoint, e.cause) from e
            except BaseException:
                conn.close()  # cancelled mid-exchange: the connection's state is unknown
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if keep_alive and conn.usable:
                conn.reused = True
                self._idle.append(conn)
            else:
                conn.close()
            return Response(status, headers, body, endpoint=self.endpoint)

    def _take_idle(self) -> Optional[_Connection]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
        return None

    async def _connect(self, deadline: Optional[float]) -> _Connection:
        loop = asyncio.get_running_loop()
        seconds = self.connect_timeout if deadline is None else min(self.connect_timeout, deadline - loop.time())
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                _Connection, self.host, self.port, ssl=self.context,
                server_hostname=self.host if self.context is not None else None), max(seconds, 0.0))
        except (OSError, asyncio.TimeoutError) as e:
            raise connect_failure(e, self.endpoint, seconds) from e
        self._all.add(conn)
        assert conn.lost is not None
        conn.lost.add_done_callback(lambda _: self._all.discard(conn))
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
