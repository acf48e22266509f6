"""HTTP between the lab's own processes (an emulated tool and the lab daemon, both on loopback): one request per
connection, JSON in and out, over a plain socket. urllib.request and http.client import the email package
and more (~35 ms); every emulated talosctl call paid that, and a bootstrap makes hundreds (a real talosctl, a Go
binary, starts in milliseconds)."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit


class HttpError(OSError):
    """The daemon answered with an error status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


def request(method: str, url: str, payload: Any = None, timeout: float = 30.0) -> Any:
    """Send one request (`payload` as JSON when given); the JSON answer (None for an empty body). Raises OSError
    (ConnectionError, TimeoutError, HttpError) when the daemon does not answer or answers an error."""
    parts = urlsplit(url)
    body = b"" if payload is None else json.dumps(payload).encode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (f"{method} {target or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as conn:
        conn.sendall(head + body)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    header, _, content = answer.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ConnectionError(f"no HTTP answer from {parts.netloc}")
    status = int(status_line[1])
    if b"transfer-encoding: chunked" in header.lower():
        content = _unchunked(content)
    if status >= 400:
        raise HttpError(status, content)
    return json.loads(content) if content.strip() else None


def _unchunked(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)
