"""The pods/exec subresource over WebSocket, as kubectl >= 1.30 speaks it (channel protocols v5/v4.channel.k8s.io).

kubectl first tries a WebSocket upgrade (GET with `Upgrade: websocket`) and falls back to SPDY only when the
upgrade is refused; the lab speaks only the WebSocket form. Each binary message is one channel byte + data:
0 stdin, 1 stdout, 2 stderr, 3 error (a Status JSON ending the command), 255 close (v5). The command runs in the
lab's simulation (hops.lab.controllers.commands plus a few read-only files), not in any real process.
Not emulated: a TTY (`-t`, channel 4 resize), stdin (`-i`) contents, SPDY, and the legacy base64 protocols.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import struct
from dataclasses import dataclass
from typing import Any

from hops.lab.apiserver import errors
from hops.lab.controllers import commands

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int


def run_in_pod(pod: dict, container: str, argv: list[str], dns_up: bool = False) -> Result:
    """What `argv` prints and returns inside the lab's pod: echo, cat of a few files, hostname, sh -c, and
    nslookup (answered only while CoreDNS is available: `dns_up`)."""
    name = pod["metadata"]["name"]
    files = {"/etc/hostname": f"{name}\n",
             "/etc/resolv.conf": "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                                 "nameserver 10.96.0.10\noptions ndots:5\n"}
    head = argv[0].rsplit("/", 1)[-1]
    if head in ("sh", "bash", "ash") and "-c" in argv[1:3]:
        run = commands.simulate(" ".join(argv[argv.index("-c") + 1:]))
        return Result(run.output, "", run.exit_code)
    if head == "cat":
        missing = [f for f in argv[1:] if f not in files]
        out = "".join(files[f] for f in argv[1:] if f in files)
        return Result(out, "".join(f"cat: can't open '{f}': No such file or directory\n" for f in missing),
                      1 if missing else 0)
    if head == "nslookup":
        from hops.lab.controllers.jobs import DNS_FAIL_LOG, DNS_OK_LOG

        target = argv[-1] if len(argv) > 1 else "kubernetes.default"
        return Result(DNS_OK_LOG.format(name=target), "", 0) if dns_up else \
            Result("", DNS_FAIL_LOG.format(name=target), 1)
    if head == "hostname":
        return Result(f"{name}\n", "", 0)
    if head == "env":
        return Result(f"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME={name}\n", "", 0)
    if head in ("echo", "true", "false", "exit", "sleep", ":"):
        run = commands.simulate(shlex.join(argv))
        return Result(run.output, "", run.exit_code)
    message = (f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{argv[0]}": '
               "executable file not found in $PATH: unknown\r\n")
    return Result("", message, 126)


def check_target(pod: dict, params: dict[str, list[str]]) -> str:
    """The container to exec in; ApiError where kube-apiserver/kubelet would refuse."""
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    container = (params.get("container") or [""])[0] or (names[0] if len(names) == 1 else "")
    if not container:
        raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                 f"[{' '.join(names)}]")
    if container not in names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    running = any(s.get("name") == container and "running" in (s.get("state") or {})
                  for s in (pod.get("status") or {}).get("containerStatuses") or [])
    if not running:
        raise errors.bad_request(f'unable to upgrade connection: container not found ("{container}")')
    if not params.get("command"):
        raise errors.bad_request("you must specify at least 1 command")
    return container


def accept(headers: Any) -> tuple[str, str] | None:
    """(Sec-WebSocket-Accept, protocol) for a WebSocket upgrade offering a channel protocol; None otherwise."""
    if (headers.get("Upgrade") or "").lower() != "websocket" or not headers.get("Sec-WebSocket-Key"):
        return None
    offered = [p.strip() for p in (headers.get("Sec-WebSocket-Protocol") or "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    if protocol is None:
        return None
    digest = hashlib.sha1((headers["Sec-WebSocket-Key"].strip() + GUID).encode()).digest()
    return base64.b64encode(digest).decode(), protocol


def frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One unmasked, final server frame."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def status_message(result: Result) -> bytes:
    """Channel 3's Status: Success, or NonZeroExitCode with the code kubectl exits with."""
    if result.exit_code == 0:
        status: dict = {"metadata": {}, "status": "Success"}
    else:
        status = {"metadata": {}, "status": "Failure",
                  "message": f"command terminated with non-zero exit code: exit status {result.exit_code}",
                  "reason": "NonZeroExitCode",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(result.exit_code)}]}}
    return json.dumps(status).encode()


def serve(handler: Any, pod: dict, params: dict[str, list[str]]) -> None:
    """Answer one exec request on `handler` (the API server's request handler): upgrade, run, report, close."""
    container = check_target(pod, params)
    upgrade = accept(handler.headers)
    if upgrade is None:
        raise errors.bad_request("Upgrade request required")
    key, protocol = upgrade
    result = run_in_pod(pod, container, params["command"], _dns_up(handler.api.store))
    out = handler.wfile
    out.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Accept: {key}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode("latin-1"))
    out.write(frame(bytes([STDOUT])))          # the empty first message: the streams are open
    if result.stdout and _wanted(params, "stdout"):
        out.write(frame(bytes([STDOUT]) + result.stdout.encode()))
    if result.stderr and _wanted(params, "stderr"):
        out.write(frame(bytes([STDERR]) + result.stderr.encode()))
    out.write(frame(bytes([ERROR]) + status_message(result)))
    out.write(frame(struct.pack("!H", 1000), opcode=0x8))
    handler.close_connection = True


def _dns_up(store: Any) -> bool:
    """CoreDNS answers once its Deployment is available (as the lab's DNS test pods see it)."""
    from hops.lab.readiness import check

    coredns = store.get("apps/v1", "Deployment", "coredns", "kube-system")
    return coredns is not None and check(coredns)[0]


def _wanted(params: dict[str, list[str]], stream: str) -> bool:
    return (params.get(stream) or ["false"])[0] in ("true", "1")
