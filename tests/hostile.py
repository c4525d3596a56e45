"""A small hostile HTTP server for tests: a real socket server on loopback that
answers ``GET /version`` like etcd and every other request with what the test
tells it to send (malformed heads, bodies that are not JSON, bytes dripped one
by one, bodies that never end)."""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

VERSION_BODY = b'{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}'


def version_body(version: str) -> bytes:
    return b'{"etcdserver":"%s","etcdcluster":"%s.0"}' % (version.encode(), version.rsplit(".", 1)[0].encode())


def answer(status_line: str, body: bytes, *extra_headers: str) -> bytes:
    head = [status_line, "Content-Length: %d" % len(body), *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# what the server does with a request: given the connection and the request path
Behaviour = Callable[[socket.socket, str], None]


def send_bytes(data: bytes) -> Behaviour:
    def behave(conn: socket.socket, path: str) -> None:
        conn.sendall(data)
    return behave


class HostileServer:
    """``with HostileServer(behaviour) as server: Client(server.host, server.port)``.

    With ``read_bodies=False`` a request's body is left unread (only its head is read
    before ``behaviour`` runs), for a server that stops reading; ``version`` is the etcd
    version its /version names (3.5.16)."""

    def __init__(self, behaviour: Behaviour, read_bodies: bool = True, version: str = "3.5.16") -> None:
        self.behaviour = behaviour
        self.read_bodies = read_bodies
        self.version_body = version_body(version)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.host, self.port = self._listener.getsockname()
        self._stopped = threading.Event()
        self._threads: List[threading.Thread] = []
        self._conns: List[socket.socket] = []
        self.requests: List[str] = []

    def __enter__(self) -> "HostileServer":
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not)
        except OSError:
            pass
        self._listener.close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stopped.is_set():
                path, buffer = _read_request(conn, buffer, self.read_bodies)
                if path is None:
                    return
                self.requests.append(path)
                if path == "/version":
                    conn.sendall(answer("HTTP/1.1 200 OK", self.version_body, "Content-Type: application/json"))
                    continue
                self.behaviour(conn, path)
        except OSError:
            pass
        finally:
            conn.close()

    def stopped(self) -> bool:
        return self._stopped.is_set()


def _read_request(conn: socket.socket, buffer: bytes, read_body: bool = True):
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while read_body and len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None, b""
        rest += data
    return lines[0].split(" ")[1], rest[length:]


def drip(data: bytes, interval: float, stop: Callable[[], bool]) -> Behaviour:
    """Send ``data`` one byte every ``interval`` seconds."""
    def behave(conn: socket.socket, path: str) -> None:
        for i in range(len(data)):
            if stop():
                return
            conn.sendall(data[i:i + 1])
            time.sleep(interval)
    return behave


def endless_chunks(stop: Callable[[], bool], piece: bytes = b"x" * 65536, count: Optional[int] = None) -> Behaviour:
    """A 200 answer whose chunked body never ends (or ends after ``count`` pieces)."""
    def behave(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        sent = 0
        while not stop() and (count is None or sent < count):
            conn.sendall(chunk)
            sent += 1
    return behave


def hold(stop: Callable[[], bool]) -> Behaviour:
    """Neither read nor answer: the connection stays open until the server stops."""
    def behave(conn: socket.socket, path: str) -> None:
        while not stop():
            time.sleep(0.05)
    return behave


STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def stream_then_silence(first: bytes, stop: Callable[[], bool]) -> Behaviour:
    """A 200 stream answer with one chunk, ``first``, then silence while the request's
    body goes on being read (and dropped) until the client closes."""
    def behave(conn: socket.socket, path: str) -> None:
        conn.sendall(STREAM_HEAD + b"%x\r\n%s\r\n" % (len(first), first))
        conn.settimeout(0.1)
        while not stop():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue
    return behave


@contextlib.contextmanager
def unaccepting_listener() -> Iterator[Tuple[str, int]]:
    """An address where connecting never completes: a listener that accepts nothing,
    its accept queue (backlog 0) full, so the kernel drops every further SYN."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    filler = socket.create_connection(address, timeout=1)  # fills the queue
    try:
        yield address
    finally:
        filler.close()
        listener.close()
