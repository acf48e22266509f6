"""`hang:helm <install|upgrade|rollback>:N` with the real Helm 3: a helm that wrote its pending release record and
never returns until it is killed, as a helm interrupted mid-operation leaves the release.

The real helm runs with a kubeconfig whose server is a relay on 127.0.0.1 in front of the lab's API (plain HTTP).
The relay forwards every request as is; the first write of a release Secret labelled pending-* (helm's own
record, in whatever encoding helm sends it) goes through to the API, and its answer is held back: helm waits for
it, so no object of the release is touched after the record (deterministic, unlike stopping helm on a watch
event). Once the API has answered the write, helm is stopped (SIGSTOP: no CPU, no timers) and the wrapper blocks.

Killing: SIGTERM/SIGINT/SIGHUP to the wrapper (or its process group, as hops's runner does on a timeout) kills the
stopped helm (a stopped process takes no signal but SIGKILL) and ends the wrapper by that signal; SIGKILL of the
group kills both; SIGKILL of the wrapper alone kills helm too (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import yaml

SECRETS_PATH = re.compile(rb"^/api/v1/namespaces/[^/]+/secrets(/sh\.helm\.release\.v1\.[^/?]+)?(\?.*)?$")
PR_SET_PDEATHSIG = 1


class HangError(Exception):
    """The hang cannot be set up (no lab kubeconfig, an API off loopback): the message says why."""


# --- the relay ------------------------------------------------------------------------------------------------
def is_pending_record(method: bytes, path: bytes, body: bytes) -> bool:
    """A create/replace of a helm release Secret whose status label is pending-* (bytes of the JSON or protobuf
    body: the labels are plain strings in both, the release itself is base64 of gzip)."""
    return method in (b"POST", b"PUT") and SECRETS_PATH.match(path) is not None and \
        b"sh.helm.release.v1." in body and b"pending-" in body


class Relay:
    """A loopback HTTP/1.1 relay to the lab's API that holds back the answer to helm's pending record write."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held = threading.Event()       # the pending record is written and its answer held back
        self._open: list[socket.socket] = []  # kept referenced: a held connection must not be closed

    @property
    def url(self) -> str:
        """The relay's URL for helm's kubeconfig."""
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def start(self, changed: threading.Event) -> None:
        """Accept connections in a daemon thread; `changed` is set when the record is held."""
        self._changed = changed
        threading.Thread(target=self._accept, name="helm-hang-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._open += [client, server]
            hold = threading.Event()        # set before the pending write goes up: its answer stays here
            threading.Thread(target=self._requests, args=(client, server, hold), daemon=True).start()
            threading.Thread(target=self._answers, args=(server, client, hold), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, hold: threading.Event) -> None:
        """helm → API, one request at a time (client-go sends a body with Content-Length)."""
        reader = client.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    break
                head, body, chunked = request
                method, path = (head.split(b" ", 2) + [b"", b""])[:2]
                if not self.held.is_set() and is_pending_record(method, path, body):
                    hold.set()
                server.sendall(head + body)
                if chunked:             # not client-go's way: pass the rest through unread
                    _pipe(reader, server)
                    break
        except OSError:
            pass
        _shutdown(server)

    def _answers(self, server: socket.socket, client: socket.socket, hold: threading.Event) -> None:
        """API → helm as it comes, except the answer to the pending write: held when it is a success."""
        pending = b""
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if hold.is_set():
                pending += data
                if b"\r\n" not in pending:
                    continue
                if pending[9:10] == b"2":   # "HTTP/1.1 2xx": the API wrote the record
                    self.held.set()
                    self._changed.set()
                    return
                hold.clear()            # refused (e.g. a conflict): helm gets its answer and reports it
                data, pending = pending, b""
            try:
                client.sendall(data)
            except OSError:
                break
        _shutdown(client)


def _read_request(reader: BinaryIO) -> tuple[bytes, bytes, bool] | None:
    """(request line + headers, body, chunked?) or None at the end of the connection."""
    lines = []
    while True:
        line = reader.readline(65537)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
        elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return head, reader.read(length) if length and not chunked else b"", chunked


def _pipe(reader: BinaryIO, server: socket.socket) -> None:
    while chunk := reader.read1(65536):  # type: ignore[attr-defined]
        server.sendall(chunk)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# --- helm's kubeconfig ----------------------------------------------------------------------------------------
def _flag(argv: list[str], name: str) -> tuple[str | None, list[str]]:
    """(value of --name, argv without it)."""
    value, rest, skip = None, [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == name and i + 1 < len(argv):
            value, skip = argv[i + 1], True
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return value, rest


def kubeconfig_file(argv: list[str], env: Mapping[str, str]) -> Path:
    """The kubeconfig helm would read: --kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config."""
    given, _ = _flag(argv, "--kubeconfig")
    if given:
        return Path(given).expanduser()
    for part in env.get("KUBECONFIG", "").split(os.pathsep):
        if part and Path(part).expanduser().exists():
            return Path(part).expanduser()
    return Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"


def relayed_kubeconfig(path: Path, context: str | None, relay_url: str | None = None) -> tuple[dict, tuple[str, int]]:
    """(the kubeconfig with its context's cluster pointed at `relay_url`, the API's (host, port) it named)."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
        name = context or config["current-context"]
        cluster_name = next(c["context"]["cluster"] for c in config["contexts"] if c["name"] == name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == cluster_name)
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise HangError(f"cannot read the cluster of kubeconfig {path} ({type(exc).__name__}: {exc})") from None
    server = urlparse(str(cluster.get("server", "")))
    if server.scheme != "http" or not (server.hostname or "").startswith("127.") or server.port is None:
        raise HangError(f"kubeconfig {path} names the API {cluster.get('server')!r}; the hang needs the lab's API "
                        "on http://127.0.0.1")
    if relay_url:
        cluster["server"] = relay_url
    return config, (str(server.hostname), server.port)


# --- the hung helm --------------------------------------------------------------------------------------------
def run_hung(binary: str, argv: list[str], env: dict[str, str], scratch: Path, subcommand: str) -> int:
    """Run the real helm until it wrote its pending record, then keep it stopped until killed. Returns helm's
    exit code when it ended before writing one (e.g. it refused: another operation in progress)."""
    source = kubeconfig_file(argv, env)
    context, _ = _flag(argv, "--kube-context")
    _, upstream = relayed_kubeconfig(source, context)
    relay = Relay(upstream)
    config, _ = relayed_kubeconfig(source, context, relay.url)
    scratch.mkdir(parents=True, exist_ok=True)
    kubeconfig = scratch / f"hang-{os.getpid()}.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    _, rest = _flag(argv, "--kubeconfig")
    prctl = ctypes.CDLL(None, use_errno=True).prctl   # looked up before the fork
    child = subprocess.Popen([binary, *rest, "--kubeconfig", str(kubeconfig)], env=env,
                             preexec_fn=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL))  # no thread yet
    try:
        return _hold(child, relay, subcommand)
    finally:
        kubeconfig.unlink(missing_ok=True)


def _hold(child: subprocess.Popen, relay: Relay, subcommand: str) -> int:
    changed = threading.Event()

    def ended() -> None:
        child.wait()
        changed.set()

    def killed(signum: int, _frame: object) -> None:
        child.kill()                    # stopped: only SIGKILL reaches it
        child.wait()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)    # end by the signal, as the emulated helm's hang does

    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    for signum in stops:
        signal.signal(signum, killed)
    # the helper threads must not take these signals: one delivered to them would not wake the main thread
    # (Python runs handlers there), and the stopped helm would outlive the wrapper
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    relay.start(changed)
    threading.Thread(target=ended, name="helm-hang-wait", daemon=True).start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    changed.wait()
    if relay.held.is_set() and child.poll() is None:
        child.send_signal(signal.SIGSTOP)
        # until it is stopped (every thread of it), or gone; neither reaps it (WNOWAIT)
        os.waitid(os.P_PID, child.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
        sys.stderr.write(f"helm {subcommand}: hanging (hops lab fault) until killed\n")
        sys.stderr.flush()
    code = child.wait()
    return code if code >= 0 else 128 - code
