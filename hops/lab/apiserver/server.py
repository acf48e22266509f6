"""ApiServer: the Store served over HTTP(S) on a ThreadingHTTPServer, with the lab's gate and fault hooks."""

from __future__ import annotations

import logging
import os
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from hops.lab.apiserver.discovery import Discovery
from hops.lab.apiserver.handler import HOLD_SECONDS, ApiHandler
from hops.lab.apiserver.store import Store

log = logging.getLogger(__name__)

Gate = Callable[[], "tuple[int, str] | None"]
Fault = Callable[[str, str], "int | str | None"]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True          # each open watch holds a thread; never block interpreter exit on them
    block_on_close = False         # stop() closes connections itself instead of joining idle keep-alive threads
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        self.api = api
        super().__init__(address, ApiHandler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        log.debug("connection from %s failed", client_address, exc_info=True)

    def serve_until(self, wake: int) -> None:
        """serve_forever without its poll: accepts until `wake` (a pipe's read end) becomes readable, so stop()
        returns at once (serve_forever notices a shutdown only at its next poll, 0.1 s on average per stop)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == wake:
                        return
                    self._handle_request_noblock()  # type: ignore[attr-defined]  # serve_forever's own step


class ApiServer:
    """Serves `store` as a Kubernetes API on host:port (port 0 picks a free one).

    gate: called per /api*, /apis* and /openapi* request; a (code, message) answer is sent instead of the
        response (e.g. 503 before etcd is bootstrapped). /version, /healthz and /livez always answer;
        /readyz fails while gated.
    fault: called with (method, path) for every request: an int answers that HTTP status with a Status body;
        "timeout" holds the request unanswered until the client disconnects or 30 s pass; None serves normally.
    tls: (certfile, keyfile) to serve HTTPS.
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0,
                 tls: tuple[str, str] | None = None, gate: Gate | None = None, fault: Fault | None = None,
                 *, version: str = "v1.31.4", watch_timeout: float = 1800.0) -> None:
        self.store = store
        self.host = host
        self._requested_port = port
        self.tls = tls
        self.gate = gate
        self.fault = fault
        self.version = version
        self.watch_timeout = watch_timeout
        self.hold_seconds = HOLD_SECONDS   # how long a "timeout" fault holds a request unanswered
        self.discovery = Discovery(store.registry, version, store.served_crd)
        self.stopping = False
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake = (-1, -1)   # the pipe that ends the accept loop
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    # -------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> ApiServer:
        if self._httpd is not None:
            return self
        self.stopping = False
        httpd = _HTTPServer((self.host, self._requested_port), self)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self._wake = os.pipe()
        self._thread = threading.Thread(target=httpd.serve_until, args=(self._wake[0],),
                                        name=f"apiserver:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end open watches and held requests, close every connection."""
        httpd = self._httpd
        if httpd is None:
            return
        self.stopping = True
        os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)  # accepts no more
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        for fd in self._wake:
            os.close(fd)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------------- addresses

    @property
    def port(self) -> int | None:
        return self._httpd.server_address[1] if self._httpd is not None else None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._conn_lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
        if opened and isinstance(conn, ssl.SSLSocket):
            try:
                conn.do_handshake()
            except (OSError, ssl.SSLError):
                self._track(conn, False)
                raise
