"""The sync client's own keep-alive HTTP/1.1 connections for unary requests.

A unary gateway call is one small POST and one length-delimited JSON answer;
on plain sockets and the sans-IO ``duplex.ResponseParser`` (which the streams
and the async pool use too) it costs less than urllib3's general machinery.
requests (its urllib3 pool) stays the transport of server streams and of
``call_rpc(raw=True)``, which hand out its own response objects.
"""
from __future__ import annotations

import math
import select
import socket
import ssl
import struct
import sys
import threading
import time
import weakref
from typing import List, Optional, Tuple

from ..core import Request, Response
from .duplex import AnswerLost, ResponseParser, UnaryRequestWriter, may_send_again, open_socket
from . import forksafe
from ..errors import Etcd3ConnectionError, Etcd3Timeout, Etcd3TLSError

__all__ = ["ConnectionPool"]

# The first read of an answer: below the allocator's mmap threshold (glibc: 128 KiB), so the
# buffer cut down to a small answer costs no mmap, mremap and munmap per call; the reads of
# a larger answer that follow take up to _READ_SIZE at a time.
_FIRST_READ = 64 * 1024
_READ_SIZE = 256 * 1024

# On Linux a plain connection is a blocking socket (``_PlainConnection``) whose sends and
# reads the kernel bounds (SO_SNDTIMEO/SO_RCVTIMEO), and its checks before reuse ask the
# kernel too; none of these releases the GIL.  A small exchange is then one send and one
# recv, the only waits outside the GIL, as on a bare http.client connection: with 64
# threads each extra wait (a poll before the recv, a peek before reuse) is one more trip
# through the GIL and its context switches.  Elsewhere the socket is non-blocking and each
# wait is a poll bounded by the call's deadline.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVTIMEO") \
    and hasattr(socket, "TCP_INFO")
_TIMEVAL = struct.Struct("@ll")  # Linux's struct timeval: seconds, microseconds
_NO_BOUND = _TIMEVAL.pack(0, 0)  # (0 is no bound at all for SO_RCVTIMEO/SO_SNDTIMEO)
# a bound set for one call is kept for the next while it ends a wait no earlier than the
# call's deadline and at most _BOUND_SLACK after it (calls with the same timeout then set
# none); a bound is set _BOUND_MARGIN past the deadline for that
_BOUND_SLACK = 0.005
_BOUND_MARGIN = 0.001
_TCP_ESTABLISHED = 1  # tcp_info's first byte, the connection's TCP state
# Linux's struct tcp_info up to tcpi_bytes_received (u64 at 128, Linux 4.1+): the bytes the
# kernel has taken in order on the connection, read or not
_TCP_INFO_SIZE = 136
_BYTES_RECEIVED = struct.Struct("=Q")
_BYTES_RECEIVED_AT = 128


class ConnectionPool:
    """Keep-alive connections to one endpoint, shared by threads: each request has
    a connection to itself; at most ``maxsize`` idle ones are shared (like urllib3's
    non-blocking pool, more may be open while many threads call at once).

    A connection that finds the shared ones full is not closed: it stays its thread's
    spare for that thread's next call, until the thread ends or the pool closes.  So
    more threads than ``maxsize`` calling over and over keep a connection each instead
    of reconnecting on almost every call, and once they end the pool is back to at most
    ``maxsize``."""

    def __init__(self, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext],
                 maxsize: int, connect_timeout: float, connect_retries: int = 0) -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._writer = UnaryRequestWriter(endpoint.split("://", 1)[1])
        self.context = context
        self.maxsize = max(1, maxsize)
        self.connect_timeout = connect_timeout
        self.connect_retries = connect_retries
        self._lock = threading.Lock()
        self._idle: List[socket.socket] = []
        self._spares = threading.local()  # a thread's own spare connection (``_Spare``)
        self._all_spares: "weakref.WeakSet[_Spare]" = weakref.WeakSet()  # for close()
        self._closed_generation = 0  # sockets of an earlier generation are not kept
        # the largest answer accepted (None: any); the client sets it from max_response_size
        self.max_response_size: Optional[int] = None
        forksafe.register(self)

    def _after_fork_in_child(self) -> None:
        # a thread of the parent may have held the lock at the fork: a fresh one; the idle
        # sockets are the parent's connections too: closing the child's copies of them leaves
        # the parent's as they are (those in use by the parent's threads go with them)
        self._lock = threading.Lock()
        idle, self._idle = self._idle, []
        # the forking thread's spare goes with the old local (the other threads' went with them)
        self._spares, self._all_spares = threading.local(), weakref.WeakSet()
        self._closed_generation += 1
        for sock in idle:
            try:
                sock.close()
            except OSError:
                pass

    def send(self, request: Request, path: str, read_timeout: Optional[float],
             connect_timeout: Optional[float] = None) -> Response:
        """Send ``request`` (its ``path`` on this endpoint) and read its answer within
        ``read_timeout`` seconds in all (None: no bound): connecting (each attempt at
        most ``connect_timeout``), sending and receiving, however slowly the server
        reads or drips its bytes.  Raises the clients' transport errors."""
        data = self._writer.write(request.method, path, request.headers, request.body)
        deadline = None if read_timeout is None else time.monotonic() + read_timeout
        while True:
            sock, reused, generation = self._take(connect_timeout, deadline)
            parser = ResponseParser(self.endpoint, self.max_response_size)
            try:
                if sock.__class__ is _PlainConnection:
                    body = _exchange_blocking(sock, data, parser, deadline)
                elif isinstance(sock, ssl.SSLSocket):
                    body = _exchange_timed(sock, data, parser, deadline)
                else:
                    body = _exchange_nonblocking(sock, data, parser, deadline)
            except AnswerLost as e:
                sock.close()
                if may_send_again(reused, e, request.idempotent):
                    continue
                raise Etcd3ConnectionError("connection lost: %s" % e, self.endpoint, e) from e
            except socket.timeout as e:
                sock.close()
                raise Etcd3Timeout("no complete answer within %ss" % read_timeout, self.endpoint, e) from e
            except ssl.SSLError as e:
                sock.close()
                raise Etcd3TLSError("TLS failure: %s" % e, self.endpoint, e) from e
            except OSError as e:
                sock.close()
                if may_send_again(reused, AnswerLost(e, answered=parser.status is not None), request.idempotent):
                    continue
                raise Etcd3ConnectionError("connection failed: %s" % e, self.endpoint, e) from e
            except BaseException:
                sock.close()
                raise
            self._put(sock, parser.keep_alive, generation)
            return Response(parser.status or 0, parser.headers, b"".join(body), endpoint=self.endpoint)

    def _take(self, connect_timeout: Optional[float],
              deadline: Optional[float] = None) -> Tuple[socket.socket, bool, int]:
        while True:
            # (a forked child lets go of its parent's sockets in _after_fork_in_child)
            with self._lock:
                generation = self._closed_generation
                sock = None
                spare = getattr(self._spares, "spare", None)
                if spare is not None and spare.sock is not None:
                    sock, spare.sock = spare.sock, None
                    if spare.generation != generation:
                        spare.generation = generation
                        stale, sock = sock, None
                        stale.close()
                if sock is None and self._idle:
                    sock = self._idle.pop()
            if sock is None:
                break
            # checked outside the lock: the check is a system call, other threads go on meanwhile
            if _still_open(sock):
                return sock, True, generation
            sock.close()
        sock = self._connect(connect_timeout, deadline)
        if not isinstance(sock, ssl.SSLSocket):
            # once for good: each call bounds its waits by its deadline (see _KERNEL_TIMEOUTS)
            if _KERNEL_TIMEOUTS:
                sock = _PlainConnection.adopt(sock)
            else:
                sock.settimeout(0.0)
        return sock, False, generation

    def _put(self, sock: socket.socket, keep_alive: bool, generation: int) -> None:
        with self._lock:
            if keep_alive and generation == self._closed_generation:
                if len(self._idle) < self.maxsize:
                    self._idle.append(sock)
                    return
                spare = getattr(self._spares, "spare", None)
                if spare is None:
                    spare = self._spares.spare = _Spare()
                    self._all_spares.add(spare)
                if spare.sock is None:
                    spare.sock, spare.generation = sock, generation
                    return
        sock.close()

    def _connect(self, connect_timeout: Optional[float], deadline: Optional[float] = None) -> socket.socket:
        """A new connection: each attempt within ``connect_timeout`` (None: the pool's),
        all of them before ``deadline`` (time.monotonic(); None: no bound)."""
        seconds = self.connect_timeout if connect_timeout is None else connect_timeout
        return open_socket(self.endpoint, self.host, self.port, self.context, seconds, self.connect_retries,
                           deadline)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their request ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed_generation += 1
            for spare in list(self._all_spares):  # other threads' spares too
                if spare.sock is not None:
                    idle.append(spare.sock)
                    spare.sock = None
        for sock in idle:
            sock.close()

    def __del__(self) -> None:
        # a client dropped without close(): its idle sockets go with it, quietly
        for sock in getattr(self, "_idle", ()):
            try:
                sock.close()
            except OSError:
                pass


class _Spare:
    """The place of a thread's spare connection (see ``ConnectionPool``), made once per
    thread; its connection is closed when the thread ends: its thread-local goes, and
    this with it."""

    __slots__ = ("sock", "generation", "__weakref__")

    def __init__(self) -> None:
        self.sock: Optional[socket.socket] = None
        self.generation = 0

    def __del__(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except Exception:  # interpreter shutdown
                pass


class _PlainConnection(socket.socket):
    """A plain connection of the pool on Linux: a blocking socket whose waits the kernel
    bounds (SO_SNDTIMEO/SO_RCVTIMEO); ``bound`` is the bound last set on it (seconds;
    inf: none, negative: not set yet), so that calls with the same timeout set it once."""

    __slots__ = ("bound", "received")  # received: the bytes read from it so far

    @classmethod
    def adopt(cls, sock: socket.socket) -> "_PlainConnection":
        """``sock``'s connection as a blocking ``_PlainConnection`` (``sock`` is detached)."""
        conn = cls(sock.family, sock.type, sock.proto, sock.detach())
        conn.settimeout(None)
        conn.bound = -1.0
        conn.received = 0
        return conn

    def bound_waits(self, deadline: Optional[float]) -> None:
        """Bound the next send and recv to end no earlier than ``deadline`` (None: no
        bound) and at most _BOUND_SLACK after it; socket.timeout once it has passed."""
        if deadline is None:
            if self.bound != math.inf:
                self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _NO_BOUND)
                self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _NO_BOUND)
                self.bound = math.inf
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        if left <= self.bound <= left + _BOUND_SLACK:
            return  # the bound of an earlier call fits this one
        bound = left + _BOUND_MARGIN
        whole = int(bound)
        value = _TIMEVAL.pack(whole, min(int((bound - whole) * 1e6) + 1, 999999))
        self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self.bound = bound

    def still_open(self) -> bool:
        """Whether an idle connection can carry a request: the server has not closed it
        (the TCP state is still ESTABLISHED) nor sent anything (nothing to read); asked
        without releasing the GIL (see _KERNEL_TIMEOUTS)."""
        try:
            info = self.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
            if info[0] != _TCP_ESTABLISHED:
                return False
            if len(info) >= _TCP_INFO_SIZE:
                # nothing to read when the kernel has taken in no more bytes than were read
                # (one system call, and no fcntl to import: ~0.35 ms of a first call)
                taken_in = _BYTES_RECEIVED.unpack_from(info, _BYTES_RECEIVED_AT)[0]
                if taken_in >= self.received:
                    return taken_in == self.received
                # (fewer than were read: a kernel that does not count them; FIONREAD tells)
            # FIONREAD's count into a buffer longer than 1024 bytes: fcntl.ioctl then
            # passes the buffer itself and keeps the GIL (a short one is copied and the GIL
            # released around the call: still right, only slower)
            count = bytearray(1025)
            _ioctl()(self.fileno(), _FIONREAD, count, True)
        except OSError:
            return False
        return not any(count[:4])


_FIONREAD = 0x541B  # Linux's generic value (else replaced by termios' value on first use)
# the machines whose Linux has the generic ioctl numbers (not alpha, mips, powerpc, sparc)
_GENERIC_IOCTL_MACHINES = ("x86_64", "i386", "i486", "i586", "i686", "aarch64", "arm", "riscv", "s390",
                           "loongarch")


def _ioctl():  # fcntl is imported on the first reuse of a connection, not at import
    global _ioctl_function, _FIONREAD
    if _ioctl_function is None:
        import fcntl
        import os

        if not os.uname().machine.startswith(_GENERIC_IOCTL_MACHINES):
            import termios  # (~0.3 ms to import, a good part of a client's first call)

            _FIONREAD = termios.FIONREAD
        _ioctl_function = fcntl.ioctl
    return _ioctl_function


_ioctl_function = None


def _took_last(parser: ResponseParser, chunk: bytes, body: List[bytes]) -> bool:
    """Feed one recv's ``chunk`` (empty: the server closed) to ``parser``, its body
    pieces appended to ``body``; whether the answer is complete."""
    if not chunk:
        parser.eof()
        if not parser.finished:
            raise AnswerLost(answered=parser.status is not None)
        parser.keep_alive = False
        return True
    body += parser.feed(chunk)
    return parser.finished


def _exchange_blocking(sock: _PlainConnection, data: bytes, parser: ResponseParser,
                       deadline: Optional[float]) -> List[bytes]:
    """Send ``data`` on a ``_PlainConnection`` and read the answer into ``parser`` (its
    body pieces returned); each send and recv is bounded by ``deadline``, through the
    kernel's bounds (see _KERNEL_TIMEOUTS)."""
    sock.bound_waits(deadline)
    try:
        sent = sock.send(data)
        if sent < len(data):
            view = memoryview(data)
            while sent < len(data):
                sock.bound_waits(deadline)
                sent += sock.send(view[sent:])
        body: List[bytes] = []
        size = _FIRST_READ
        while True:
            chunk = sock.recv(size)
            sock.received += len(chunk)
            if _took_last(parser, chunk, body):
                return body
            size = _READ_SIZE
            # also cuts off a server that sends without end, or drips its bytes
            sock.bound_waits(deadline)
    except BlockingIOError:  # EAGAIN: the kernel's bound passed before the socket was ready
        raise socket.timeout() from None


def _exchange_nonblocking(sock: socket.socket, data: bytes, parser: ResponseParser,
                          deadline: Optional[float]) -> List[bytes]:
    """Send ``data`` on a non-blocking plain socket and read the answer into ``parser``
    (its body pieces returned); each wait is one poll, bounded by ``deadline``: a send
    and a recv per small exchange, without the settimeout and poll that a socket
    timeout adds to every call."""
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        view = memoryview(data)
        while sent < len(data):
            _wait(sock, True, deadline)
            try:
                sent += sock.send(view[sent:])
            except BlockingIOError:
                pass
    body: List[bytes] = []
    size = _FIRST_READ
    while True:
        _wait(sock, False, deadline)
        while True:
            try:
                chunk = sock.recv(size)
            except BlockingIOError:
                break
            if _took_last(parser, chunk, body):
                return body
            if len(chunk) < size:
                size = _READ_SIZE
                break  # most likely all there is for now: wait before the next recv
            size = _READ_SIZE
            if deadline is not None and time.monotonic() >= deadline:
                raise socket.timeout()  # a server sending without end is cut off all the same


def _exchange_timed(sock: socket.socket, data: bytes, parser: ResponseParser,
                    deadline: Optional[float]) -> List[bytes]:
    """The exchange on a socket with a timeout (TLS): the timeout set from ``deadline``
    before each blocking step."""
    if deadline is None:
        sock.settimeout(None)
    else:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        sock.settimeout(left)  # sendall's whole duration is bounded by it
    sock.sendall(data)
    body: List[bytes] = []
    size = _FIRST_READ
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
        if _took_last(parser, sock.recv(size), body):
            return body
        size = _READ_SIZE


def _wait(sock: socket.socket, writing: bool, deadline: Optional[float]) -> None:
    """Until ``sock`` is writable (or readable); socket.timeout at ``deadline``."""
    while True:
        if deadline is None:
            left = None
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLOUT if writing else select.POLLIN)
            # poll takes whole milliseconds: rounded up, so a wait never ends early
            if poller.poll(None if left is None else math.ceil(left * 1000)):
                return
        else:
            ready = select.select([], [sock], [], left) if writing else select.select([sock], [], [], left)
            if ready[0] or ready[1]:
                return


def _still_open(sock: socket.socket) -> bool:
    """An idle connection is readable only when the server closed it (or sent junk)."""
    if sock.__class__ is _PlainConnection:
        return sock.still_open()
    if sock.gettimeout() == 0.0:  # a plain non-blocking socket: one peek tells
        try:
            sock.recv(1, socket.MSG_PEEK)  # b"": closed by the server; bytes: junk
        except BlockingIOError:
            return True  # nothing to read: open
        except OSError:
            pass
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        return not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):
        return False
