"""hops.lab.loopback_http: the lab's own requests between its processes — a JSON round trip, an error status, a
chunked answer and a port nobody listens on — against a real http.server on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hops.lab import loopback_http


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
        if self.path == "/missing":
            self._send(404, {"error": "unknown path"})
        else:
            self._send(200, {"path": self.path, "got": body})

    def do_GET(self) -> None:  # noqa: N802
        data = json.dumps({"etcd": "healthy"}).encode()
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (data[:5], data[5:]):
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_json_round_trip(url: str) -> None:
    assert loopback_http.request("POST", f"{url}/rpc/version?x=1", {"insecure": True}) == {
        "path": "/rpc/version?x=1", "got": {"insecure": True}}


def test_an_error_status_raises_with_it(url: str) -> None:
    with pytest.raises(loopback_http.HttpError) as failure:
        loopback_http.request("POST", f"{url}/missing", {})
    assert failure.value.status == 404 and isinstance(failure.value, OSError)


def test_a_chunked_answer_is_joined(url: str) -> None:
    assert loopback_http.request("GET", f"{url}/status") == {"etcd": "healthy"}


def test_nobody_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError):
        loopback_http.request("POST", f"http://127.0.0.1:{port}/rpc/version", {}, timeout=5)
