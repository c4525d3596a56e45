"""Background full-duplex streams of the sync client (watch, lease keepalive).

``BackgroundStream`` keeps one DuplexStream open in a thread of its own while
its subclass has work: it connects, re-authenticates once on an invalid token,
reconnects with capped exponential backoff, and hands the open stream to the
subclass's ``_pump``.  The subclasses keep their state in I/O-free cores
(``WatchHub``, ``KeepaliveSchedule``).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, List, Optional

from . import errors
from .duplex import DuplexStream, ssl_context
from .errors import Etcd3TransportError

__all__ = ["BackgroundStream"]

log = logging.getLogger("etcd3.streams")


class BackgroundStream:
    NAME = "stream"
    BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0

    def __init__(self, client: Any, op: Any) -> None:
        self.client = client
        self.op = op
        self._lock = threading.RLock()
        self._stream: Optional[DuplexStream] = None
        self._thread: Optional[threading.Thread] = None
        self._wakeup = threading.Event()
        self.connections = 0  # streams opened so far (for tests and stats)

    # -- what a subclass provides ------------------------------------------------------
    def _active(self) -> bool:
        """Whether there is work (called with the lock held)."""
        raise NotImplementedError

    def _first_lines(self) -> List[bytes]:
        """The request lines that start a new stream (called with the lock held)."""
        raise NotImplementedError

    def _pump(self, stream: DuplexStream) -> None:
        """Use the open stream; return when there is no work left, raise when it broke."""
        raise NotImplementedError

    def _broken(self, attempt: int, error: BaseException) -> None:
        """The stream broke for the ``attempt``-th time in a row (lock held)."""

    def _refused(self, error: BaseException) -> None:
        """The server refused the stream itself (lock held): no retry will help."""

    # -- shared ------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        """Start the thread if it is not running (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="etcd3-" + self.NAME, daemon=True)
            self._thread.start()

    def _send(self, lines: List[bytes]) -> None:
        if lines and self._stream is not None:
            try:
                self._stream.send(b"".join(lines))
            except Etcd3TransportError:
                pass  # the thread notices and reconnects; _first_lines() sends everything again

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

    def _open(self) -> DuplexStream:
        client = self.client
        if client.username and client.password and not client.token:
            client.auth()
        context = ssl_context(client.verify, client.cert) if client.protocol == "https" else None
        stream = DuplexStream(client.baseurl, client.host, client.port, context)
        try:
            headers = client._rpc_request(self.op.path, b"", stream=True).headers
            with self._lock:
                stream.start("POST", self.op.path, headers, b"".join(self._first_lines()))
                self._stream = stream
            status, _ = stream.head(timeout=30)
            if status != 200:
                body = b""
                while True:
                    data = stream.read(timeout=10)
                    if not data:
                        break
                    body += data
                raise errors.error_from_response(status, body)
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
                    self._thread = None
                    self._stream = None
                    return
            try:
                stream = self._open()
                attempt = 0
                self._pump(stream)
                continue
            except errors.ErrInvalidAuthToken as e:
                error: BaseException = e
                if self.client.username and self.client.password:
                    try:
                        self.client.token = None
                        self.client.auth()
                        continue
                    except Exception as auth_error:  # noqa: BLE001 - handled as a broken stream below
                        error = auth_error
            except (Etcd3TransportError, errors.Etcd3StreamError, errors.Unavailable) as e:
                error = e
            except errors.Etcd3APIError as e:
                with self._lock:
                    self._stream = None
                    self._refused(e)
                continue
            except Exception as e:  # noqa: BLE001 - a bug must not leave the stream dead and its users hanging
                log.exception("%s stream to %s failed unexpectedly; reconnecting", self.NAME, self.client.baseurl)
                error = e
            with self._lock:
                self._stream = None
                if not self._active():
                    continue
                attempt += 1
                self._broken(attempt, error)
            log.debug("%s stream to %s broke (%s); reconnecting, attempt %d",
                      self.NAME, self.client.baseurl, error, attempt)
            self._wakeup.clear()
            self._wakeup.wait(min(self.BACKOFF_MAX, self.BACKOFF_FIRST * 2 ** (attempt - 1)))
