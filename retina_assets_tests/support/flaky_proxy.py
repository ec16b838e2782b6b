"""An HTTP reverse proxy on 127.0.0.1 in front of a test server (moto S3, Azurite) that fails requests on
purpose: a transient object-store outage.

A failed request never reaches the server, so the server's state is as if it had not been sent. Failure
modes: an HTTP status (``"503"``, ``"500"``, ...) with a small XML error body, ``"reset"`` (the connection is
closed without an answer) and ``"stall"`` (no answer for :attr:`FlakyProxy.stall_seconds`, then the connection
is closed: a server that hangs, which only a client read timeout ends early).

Requests are forwarded as they came (the ``Host`` header included, so request signatures still match) with
their body read by ``Content-Length``; answers are relayed whole with their length (a ``HEAD`` answer with
the upstream's ``Content-Length``, the size of the object). The object-store clients
used here send neither chunked bodies nor ``Expect: 100-continue`` on the operations the tests make.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class FlakyProxy:
    """``endpoint``: the URL to use instead of the upstream's.

    ``fail_next(n, mode)`` fails the next ``n`` requests; ``fail_every(k, modes)`` fails every ``k``-th request
    from now on, cycling through ``modes`` (``fail_every(0)`` stops). ``requests`` counts every request
    seen, ``failed`` those failed on purpose and ``failed_by_mode`` them per mode."""

    def __init__(self, upstream: str, stall_seconds: float = 30.0):
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.stall_seconds = stall_seconds
        self.requests = 0
        self.failed = 0
        self.failed_by_mode: dict[str, int] = {}
        self._to_fail = 0
        self._mode = "503"
        self._every = 0
        self._every_modes: Iterator[str] = itertools.cycle(["503"])
        self._lock = threading.Lock()
        self._closing = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy._failure_for_next_request()
                if mode in ("reset", "stall"):
                    if mode == "stall":
                        proxy._closing.wait(proxy.stall_seconds)
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode is not None:
                    status = int(mode)
                    payload = (
                        f"<Error><Code>Injected{status}</Code><Message>injected by the test proxy</Message>"
                        "</Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                # a HEAD answer has no body but the length of the object it describes
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _failure_for_next_request(self) -> str | None:
        """Count one request; the mode it fails with, or ``None`` to forward it."""
        with self._lock:
            self.requests += 1
            mode: str | None = None
            if self._to_fail > 0:
                self._to_fail -= 1
                mode = self._mode
            elif self._every and self.requests % self._every == 0:
                mode = next(self._every_modes)
            if mode is not None:
                self.failed += 1
                self.failed_by_mode[mode] = self.failed_by_mode.get(mode, 0) + 1
            return mode

    def fail_next(self, count: int, mode: str = "503") -> None:
        with self._lock:
            self._to_fail, self._mode = count, mode

    def fail_every(self, every: int, modes: Sequence[str] = ("503",)) -> None:
        with self._lock:
            self._every, self._every_modes = every, itertools.cycle(modes)

    def close(self) -> None:
        self._closing.set()  # stalled requests end now
        self.server.shutdown()
        self.server.server_close()
