"""Full-duplex HTTP/1.1 streams: a request body sent piece by piece (chunked)
while the response is read, as etcd's gateway allows for its bidirectional
streams (watch, lease keepalive).

``ResponseParser`` is the I/O-free part (status line, headers, chunked or
length-delimited body) shared by the sync and async transports;
``DuplexStream`` is the sync transport on a plain (or TLS) socket.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .._lazy import asyncio
from ..errors import Etcd3ConnectionError, Etcd3ProtocolError, Etcd3TLSError, Etcd3Timeout, Etcd3TransportError

__all__ = ["ResponseParser", "DuplexStream", "AioDuplexStream", "request_head", "request_bytes", "header_lines",
           "UnaryRequestWriter", "AnswerLost", "may_send_again", "may_send_elsewhere", "connect_failure", "open_socket", "encode_chunk",
           "LAST_CHUNK", "DEFAULT_MAX_RESPONSE_SIZE", "check_max_response_size", "too_large"]

LAST_CHUNK = b"0\r\n\r\n"

# The default limit of one unary answer's body (the clients' ``max_response_size``): 3 GiB.
# etcd sends a range answer as one gRPC message of at most 2 GiB - 1 bytes (its server's
# send limit, math.MaxInt32; the 3.3 gateway takes only 4 MiB of it, whose JSON measured
# at most ~19 MiB), and the gateway's JSON of it is ~1.37 times that (base64 values,
# measured on 3.4/3.5): at most ~2.7 GiB.  So the default refuses no answer etcd can
# send; it bounds what a broken server or proxy can make the client hold.
DEFAULT_MAX_RESPONSE_SIZE = 3 * 1024 ** 3
_MAX_HEAD = 64 * 1024
_MAX_LINE = 4096
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def request_head(method: str, path: str, host: str, headers: Dict[str, str]) -> bytes:
    """The head of a request whose body follows in chunks.

    ``Expect: 100-continue`` is what makes the exchange full duplex on etcd's
    (Go) gateway: without it, Go's HTTP/1 server, on writing the first response
    bytes, first reads and discards up to 256 KiB of the unread request body
    (golang/go#15527), which blocks a body that is still being written.  With it,
    the server marks the connection close-after-reply instead and leaves the
    body to the handler.  The body is sent without waiting for ``100 Continue``.
    """
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n" % (
        method, path, host)
    return head.encode("latin-1") + header_lines(headers) + b"\r\n"


def request_bytes(method: str, path: str, host: str, header_block: bytes, body: Optional[bytes]) -> bytes:
    """A whole request with a length-delimited body; ``header_block`` is
    ``header_lines(headers)`` (made once for headers that many requests share)."""
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (
        method.encode("ascii"), path.encode("latin-1"), host.encode("latin-1"), header_block,
        len(body or b""), body or b"")


class UnaryRequestWriter:
    """The bytes of unary requests to one endpoint (``netloc``: host:port); the header
    block of the last header dict written is kept, as the RPC headers are one shared dict."""

    def __init__(self, netloc: str) -> None:
        self.netloc = netloc
        self._headers: Tuple[object, bytes] = (None, b"")

    def write(self, method: str, path: str, headers: Dict[str, str], body: Optional[bytes]) -> bytes:
        cached = self._headers
        if cached[0] is not headers:
            cached = self._headers = (headers, header_lines(headers))
        return request_bytes(method, path, self.netloc, cached[1], body)


class AnswerLost(Exception):
    """The connection ended before the whole answer was in."""

    def __init__(self, cause: Optional[BaseException] = None, answered: bool = False) -> None:
        super().__init__(str(cause) if cause else "connection closed by the server")
        self.cause = cause
        self.answered = answered  # some of the answer had arrived


def check_max_response_size(value: Optional[int]) -> Optional[int]:
    """``max_response_size`` as the clients take it: a positive number of bytes, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("max_response_size must be an int (bytes) or None, got %r" % (value,))
    if value <= 0:
        raise ValueError("max_response_size must be > 0 (bytes) or None for no limit, got %d" % value)
    return value


def too_large(endpoint: str, limit: int, seen: bytes = b"") -> Etcd3ProtocolError:
    """The error of an answer past the client's ``max_response_size``."""
    return Etcd3ProtocolError(
        "the answer is larger than the client's limit of %d bytes; pass max_response_size= (bytes, or None "
        "for no limit) to the client to accept it" % limit, endpoint, seen=seen)


def may_send_again(reused: bool, lost: AnswerLost, idempotent: bool) -> bool:
    """Whether a request whose connection ended before its answer goes once more on a
    new connection: only from a reused connection (most likely one the server had
    closed while it was idle), with nothing of the answer in, and if sending it twice
    is harmless."""
    return reused and not lost.answered and idempotent


def may_send_elsewhere(error: BaseException, repeatable: bool) -> bool:
    """Whether a request that failed with ``error`` on one member may go to another: a
    repeatable one always (etcd's Go client's rule: reads and the like), any other only
    when it provably never left the client: its connection could not be made
    (refused, timed out, TLS handshake failed; see ``connect_failure``), so nothing of
    it was written.  A write is never applied twice."""
    return repeatable or getattr(error, "unsent", False)


def header_lines(headers: Dict[str, str]) -> bytes:
    """``headers`` as request header lines, without those the request line's writer sets."""
    return "".join("%s: %s\r\n" % (k, v) for k, v in headers.items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding")).encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


class ResponseParser:
    """Incremental HTTP/1.1 response parser: ``feed(bytes)`` returns the body bytes
    the data completes; ``status``/``headers`` are set once the head is in;
    ``finished`` once the body has ended (chunked: the last chunk; else the length).

    It is strict where a lenient reading could loop, grow without bound or return
    bytes the server did not mean: a status, a length or a chunk size that is not a
    plain number, a chunk not followed by CRLF, a head, chunk line or trailer beyond
    its bound, a body beyond ``max_body``: each is an ``Etcd3ProtocolError`` naming
    ``endpoint`` and the first bytes received."""

    def __init__(self, endpoint: str = "", max_body: Optional[int] = None) -> None:
        self.endpoint = endpoint
        self.max_body = max_body
        self.status: Optional[int] = None
        self.reason = ""
        self.headers: Dict[str, str] = {}
        self.finished = False
        # whether the connection may carry another request once this answer is in
        self.keep_alive = False
        self._buffer = b""
        self._seen = b""  # the first bytes received, for error messages
        self._chunked = False
        self._remaining: Optional[int] = None  # bytes left in the current chunk / the body
        self._body_size = 0
        self._trailer_size = 0
        self._state = "head"

    def _error(self, message: str) -> Etcd3ProtocolError:
        return Etcd3ProtocolError(message, self.endpoint, seen=self._seen)

    def _count_body(self, size: int) -> None:
        self._body_size += size
        if self.max_body is not None and self._body_size > self.max_body:
            raise too_large(self.endpoint, self.max_body, self._seen)

    def feed(self, data: bytes) -> List[bytes]:
        if len(self._seen) < 200:
            self._seen += data[:200 - len(self._seen)]
        self._buffer += data
        out: List[bytes] = []
        while not self.finished:
            if self._state == "head":
                if not self._buffer[:5] == b"HTTP/"[:len(self._buffer)]:
                    raise self._error("not an HTTP/1.x response")
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > _MAX_HEAD:
                        raise self._error("response head larger than %d bytes" % _MAX_HEAD)
                    break
                head = self._buffer[:end].decode("latin-1")
                self._buffer = self._buffer[end + 4:]
                self._parse_head(head)
            elif self._state == "size":
                if self._chunked and self._whole_chunks(out) and not self._buffer:
                    break  # (the usual read: whole chunks only)
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    if len(self._buffer) > _MAX_LINE:
                        raise self._error("chunk size line longer than %d bytes" % _MAX_LINE)
                    break
                size_text = self._buffer[:end].split(b";", 1)[0].strip()
                self._buffer = self._buffer[end + 2:]
                if not size_text or len(size_text) > 16 or size_text.strip(_HEX_DIGITS):
                    raise self._error("bad chunk size %r" % size_text[:40])
                self._remaining = int(size_text, 16)
                self._count_body(self._remaining)
                self._state = "data" if self._remaining else "trailer"
            elif self._state == "data":
                if not self._buffer:
                    break
                piece = self._buffer[:self._remaining]
                self._buffer = self._buffer[len(piece):]
                self._remaining -= len(piece)  # type: ignore[operator]
                out.append(piece)
                if self._remaining == 0:
                    self._state = "data-end" if self._chunked else "done"
                    if not self._chunked:
                        self.finished = True
            elif self._state == "data-end":
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise self._error("chunk data not followed by CRLF (got %r)" % self._buffer[:2])
                self._buffer = self._buffer[2:]
                self._state = "size"
            elif self._state == "trailer":
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    if len(self._buffer) > _MAX_HEAD:
                        raise self._error("trailer larger than %d bytes" % _MAX_HEAD)
                    break
                line, self._buffer = self._buffer[:end], self._buffer[end + 2:]
                self._trailer_size += end + 2
                if self._trailer_size > _MAX_HEAD:
                    raise self._error("trailer larger than %d bytes" % _MAX_HEAD)
                if not line:
                    self.finished = True
            elif self._state == "until-close":
                if self._buffer:
                    self._count_body(len(self._buffer))
                    out.append(self._buffer)
                    self._buffer = b""
                break
        return out

    def _whole_chunks(self, out: List[bytes]) -> bool:
        """Take the complete non-empty chunks at the start of the buffer in one pass (a
        stream's read holds one or many small chunks; the buffer is cut once, not three
        times per chunk); whatever else (a partial chunk, the last one, anything malformed)
        is left to the state machine, which says what is wrong.  True if any were taken."""
        buffer = self._buffer
        pos, size_of = 0, len(buffer)
        while True:
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                break
            size_text = buffer[pos:end].split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(_HEX_DIGITS):
                break
            size = int(size_text, 16)
            data_end = end + 2 + size
            if not size or data_end + 2 > size_of or buffer[data_end:data_end + 2] != b"\r\n":
                break
            self._count_body(size)
            out.append(buffer[end + 2:data_end])
            pos = data_end + 2
        if not pos:
            return False
        self._buffer = buffer[pos:]
        return True

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
            raise self._error("not an HTTP/1.x response")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not "100" <= code <= "599":
            raise self._error("bad HTTP status %r" % code[:20])
        if code[0] == "1":
            return  # an interim answer (100 Continue): the real head follows
        self.status = int(code)
        self.reason = parts[2] if len(parts) > 2 else ""
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                key, value = key.strip().lower(), value.strip()
                if key == "content-length" and self.headers.get(key, value) != value:
                    raise self._error("conflicting Content-Length headers")
                self.headers[key] = value
        connection = self.headers.get("connection", "").lower()
        self.keep_alive = connection == "keep-alive" if parts[0] == "HTTP/1.0" else connection != "close"
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
            self._state = "size"
        elif "content-length" in self.headers:
            length = self.headers["content-length"]
            if not length.isdigit() or not length.isascii() or len(length) > 18:
                raise self._error("bad Content-Length %r" % length[:40])
            self._remaining = int(length)
            self._count_body(self._remaining)
            self._state = "data" if self._remaining else "done"
            self.finished = self._remaining == 0
        else:
            self._state = "until-close"
            self.keep_alive = False

    def eof(self) -> None:
        """The peer closed the connection."""
        if self._state == "until-close":
            self.finished = True


def connect_failure(error: BaseException, endpoint: str, seconds: float) -> Etcd3TransportError:
    """The clients' error for a connection that could not be made: TLS, time or refusal.
    Its ``unsent`` is True: no byte of a request went out (see ``may_send_elsewhere``)."""
    failure: Etcd3TransportError
    if isinstance(error, ssl.SSLError):
        failure = Etcd3TLSError("TLS failure: %s" % error, endpoint, error)
    elif isinstance(error, (socket.timeout, asyncio.TimeoutError)):
        late_resolver = str(error).startswith("resolving ")  # see _resolve_within
        failure = Etcd3Timeout(str(error) if late_resolver else "connecting timed out after %.3gs" % seconds,
                               endpoint, error)
    else:
        failure = Etcd3ConnectionError("connection failed: %s" % error, endpoint, error)
    failure.unsent = True  # type: ignore[attr-defined]
    return failure


def _idna_ascii(host: str) -> "str | bytes":
    """``host`` as getaddrinfo encodes a str (the "idna" codec), done here for ASCII names,
    for which that codec only checks the labels' lengths: importing it (with stringprep and
    unicodedata) would cost a first call to an address (``127.0.0.1``) about a millisecond.
    Other names stay str."""
    if host.isascii():
        labels = host.split(".")
        if all(0 < len(label) < 64 for label in labels[:-1]) and len(labels[-1]) < 64:
            return host.encode("ascii")
    return host


def _resolve_within(host: str, port: int, seconds: float) -> list:
    """``getaddrinfo`` bounded by ``seconds``: the resolver itself has no timeout (a dead
    DNS server holds it for its own retries), so a name is resolved in a helper thread
    that is left behind if it is late.  Addresses need no thread."""
    try:
        return socket.getaddrinfo(_idna_ascii(host), port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # a name, not an address
    outcome: list = []
    done = threading.Event()

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as e:
            outcome.append(e)
        done.set()

    threading.Thread(target=resolve, name="etcd3-resolve", daemon=True).start()
    if not done.wait(seconds):
        raise socket.timeout("resolving %r took longer than %.3gs" % (host, seconds))
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


def _connect_within(host: str, port: int, seconds: float) -> socket.socket:
    """A TCP connection to the first address of ``host`` that answers, name resolution
    and every address tried all within ``seconds``."""
    deadline = time.monotonic() + seconds
    failure: Optional[OSError] = None
    for family, kind, proto, _, address in _resolve_within(host, port, seconds):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
            return sock
        except OSError as e:
            sock.close()
            failure = e
    raise failure or socket.timeout("connecting to %s:%d took longer than %.3gs" % (host, port, seconds))


def open_socket(endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext],
                timeout: float, connect_retries: int = 0, deadline: Optional[float] = None) -> socket.socket:
    """A connected socket (TLS when ``context`` is given), without Nagle's delay;
    connecting is tried ``connect_retries`` more times (the TLS handshake once),
    each attempt within ``timeout`` seconds and all before ``deadline`` (time.monotonic())."""
    failure: Optional[OSError] = None
    for attempt in range(connect_retries + 1):
        seconds = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        if seconds <= 0:  # the call's time ran out: its last failure says why, if any
            raise connect_failure(failure or socket.timeout("no time left"), endpoint, timeout) from failure
        try:
            sock = _connect_within(host, port, seconds)
            break
        except OSError as e:
            if attempt == connect_retries:
                raise connect_failure(e, endpoint, seconds) from e
            failure = e
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            if deadline is not None:
                sock.settimeout(max(0.001, min(timeout, deadline - time.monotonic())))
            sock = context.wrap_socket(sock, server_hostname=host)
    except OSError as e:
        sock.close()
        raise connect_failure(e, endpoint, timeout) from e
    return sock


def ssl_context(verify, cert) -> ssl.SSLContext:
    """An SSLContext for ``verify`` (True, False or a CA path) and ``cert``
    (a (cert, key) pair or one file), as the clients take them."""
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        if isinstance(cert, (tuple, list)):
            context.load_cert_chain(cert[0], cert[1] if len(cert) > 1 else None)
        else:
            context.load_cert_chain(cert)
    return context


class _ChunkedRequest:
    """Writing a request whose body goes in chunks; ``_write`` is the transport's.

    ``answer_timeout`` (None: none) is how long the stream may stay silent while
    something sent is unanswered: every piece of a watch or keepalive request gets
    an answer, so a server that stops answering (without closing) is noticed by
    ``read``, which raises ``Etcd3Timeout``."""

    host: str
    port: int
    endpoint: str
    answer_timeout: Optional[float] = None
    _awaiting_since: Optional[float] = None  # when the oldest unanswered piece went out

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _sent(self) -> None:
        if self._awaiting_since is None:
            self._awaiting_since = time.monotonic()

    def _answer_wait(self, timeout: Optional[float]) -> Optional[float]:
        """How long the next wait for bytes may be: ``timeout``, or less if an answer is due
        sooner; raises Etcd3Timeout when one is overdue."""
        since, limit = self._awaiting_since, self.answer_timeout
        if since is None or limit is None:
            return timeout
        left = since + limit - time.monotonic()
        if left <= 0:
            raise Etcd3Timeout("the server sent nothing for %ss while a request on the stream was "
                               "unanswered" % limit, self.endpoint)
        return left if timeout is None or left < timeout else timeout

    def start(self, method: str, path: str, headers: Dict[str, str], first: bytes = b"") -> None:
        """Send the request head (and a first piece of body)."""
        self._write(request_head(method, path, "%s:%d" % (self.host, self.port), headers) + encode_chunk(first))
        if first:
            self._sent()

    def send(self, data: bytes) -> None:
        """Send one piece of the request body."""
        if data:
            self._write(encode_chunk(data))
            self._sent()

    def end(self) -> None:
        """End the request body (the response may go on)."""
        self._write(LAST_CHUNK)


class DuplexStream(_ChunkedRequest):
    """One HTTP/1.1 request whose body is written in chunks while its response is
    read, on a socket of its own.  ``send`` may be called from any thread;
    ``read`` from one thread at a time."""

    def __init__(self, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext] = None,
                 connect_timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._send_lock = threading.Lock()
        self._parser = ResponseParser(endpoint)
        self._pending: List[bytes] = []
        self.closed = False
        self.sock = open_socket(endpoint, host, port, context, connect_timeout)

    def _write(self, data: bytes) -> None:
        with self._send_lock:
            if self.closed:
                raise Etcd3ConnectionError("stream is closed", self.endpoint)
            try:
                # bounded by the socket's timeout (the reader's wait): a server that stops
                # reading cannot hold the sender for good
                self.sock.sendall(data)
            except OSError as e:
                self.close()  # a piece may be half sent: the stream is of no more use
                raise Etcd3ConnectionError("sending failed: %s" % e, self.endpoint, e) from e

    def head(self, timeout: Optional[float] = None) -> Tuple[int, Dict[str, str]]:
        """Wait for the response head; returns (status, headers)."""
        while self._parser.status is None:
            data = self._recv(timeout)
            if data is None:
                raise Etcd3Timeout("no response within %ss" % timeout, self.endpoint)
            if not data:
                raise Etcd3ConnectionError("connection closed before a response", self.endpoint)
            self._pending += self._parser.feed(data)
        return self._parser.status, self._parser.headers

    def read(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """Body bytes as they arrive; ``b""`` at the end of the body; ``None`` when
        nothing arrived within ``timeout`` seconds (the stream stays usable);
        Etcd3Timeout when an answer is overdue (``answer_timeout``)."""
        while not self._pending:
            if self._parser.finished:
                return b""
            data = self._recv(self._answer_wait(timeout))
            if data is None:
                self._answer_wait(None)  # raises if that wait was the answer's last chance
                return None
            if not data:
                self._parser.eof()
                if not self._parser.finished:
                    raise Etcd3ConnectionError("connection closed in the middle of the response", self.endpoint)
                return b""
            self._pending += self._parser.feed(data)
        data, self._pending = b"".join(self._pending), []
        self._awaiting_since = None  # the server answers
        return data

    def read_all(self, timeout: Optional[float] = None) -> bytes:
        """The rest of the body (an error answer's), until its end or a silence of ``timeout``."""
        body = b""
        while True:
            data = self.read(timeout)
            if not data:
                return body
            body += data

    _timeout_set: Optional[float] = -1.0  # the socket's timeout as last set here (-1: not yet)

    def _recv(self, timeout: Optional[float]) -> Optional[bytes]:
        try:
            # a timeout of 0 would make the socket non-blocking: poll instead
            if timeout is not None and timeout <= 0:
                timeout = 0.001
            now_set = self._timeout_set
            # setting it is a system call per read: a busy stream asks for nearly the same
            # wait each time (its idle period), which may be off by 1% (at most 5 ms)
            if timeout != now_set and (timeout is None or now_set is None
                                       or abs(timeout - now_set) > min(0.005, timeout * 0.01)):
                self.sock.settimeout(timeout)
                self._timeout_set = timeout
            return self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return None
        except OSError as e:
            if self.closed:
                return b""
            raise Etcd3ConnectionError("reading failed: %s" % e, self.endpoint, e) from e

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in another thread
        except OSError:
            pass
        self.sock.close()


async def wait_within(awaitable: Any, seconds: float) -> Any:
    """``await awaitable``, asyncio.TimeoutError after ``seconds``; on 3.11+ under a timer
    (asyncio.timeout), where wait_for makes a Task per wait."""
    # (looked up here: reading asyncio at import would import it, ~20 ms, for a sync client too)
    timeout_scope = getattr(asyncio, "timeout", None)
    if timeout_scope is not None:
        async with timeout_scope(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


class AioDuplexStream(_ChunkedRequest):
    """``DuplexStream`` on asyncio streams, for the async client."""

    def __init__(self, endpoint: str, host: str, port: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.endpoint, self.host, self.port = endpoint, host, port
        self._reader, self._writer = reader, writer
        self._parser = ResponseParser(endpoint)
        self._pending: List[bytes] = []
        self.closed = False

    @classmethod
    async def connect(cls, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext] = None,
                      connect_timeout: float = 10.0) -> "AioDuplexStream":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=host if context else None),
                connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise connect_failure(e, endpoint, connect_timeout) from e
        return cls(endpoint, host, port, reader, writer)

    def _write(self, data: bytes) -> None:
        # buffered by asyncio; the small request lines never need flow control
        if self.closed or self._writer.is_closing():
            raise Etcd3ConnectionError("stream is closed", self.endpoint)
        self._writer.write(data)

    async def head(self, timeout: Optional[float] = None) -> Tuple[int, Dict[str, str]]:
        while self._parser.status is None:
            data = await self._recv(timeout)
            if data is None:
                raise Etcd3Timeout("no response within %ss" % timeout, self.endpoint)
            if not data:
                raise Etcd3ConnectionError("connection closed before a response", self.endpoint)
            self._pending += self._parser.feed(data)
        return self._parser.status, self._parser.headers

    async def read(self, timeout: Optional[float] = None) -> Optional[bytes]:
        while not self._pending:
            if self._parser.finished:
                return b""
            data = await self._recv(self._answer_wait(timeout))
            if data is None:
                self._answer_wait(None)  # raises if that wait was the answer's last chance
                return None
            if not data:
                self._parser.eof()
                if not self._parser.finished and not self.closed:
                    raise Etcd3ConnectionError("connection closed in the middle of the response", self.endpoint)
                return b""
            self._pending += self._parser.feed(data)
        data, self._pending = b"".join(self._pending), []
        self._awaiting_since = None  # the server answers
        return data

    async def read_all(self, timeout: Optional[float] = None) -> bytes:
        body = b""
        while True:
            data = await self.read(timeout)
            if not data:
                return body
            body += data

    async def _recv(self, timeout: Optional[float]) -> Optional[bytes]:
        if self.closed:
            return b""
        try:
            if timeout is None:
                return await self._reader.read(65536)
            return await wait_within(self._reader.read(65536), timeout)
        except asyncio.TimeoutError:
            return None
        except (OSError, ssl.SSLError) as e:
            if self.closed:
                return b""
            raise Etcd3ConnectionError("reading failed: %s" % e, self.endpoint, e) from e

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()
            self._reader.feed_eof()  # wakes a pending read
