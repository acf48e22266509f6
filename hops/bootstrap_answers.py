"""What one answer of `talosctl bootstrap` means: etcd bootstrapped now, bootstrapped before, "not yet" (wait and
ask again), or a failure.

Talos v1.8 refuses a bootstrap for a while after the node boots: `FailedPrecondition` "bootstrap is not available
yet" until its container runtime is up, then "time is not in sync yet" while its clock waits for the time servers;
apid answers `Unavailable` (connection refused, reset, EOF, `tls: internal error`) while it restarts. These clear
on their own. Everything else stays a failure with talosctl's own message: a certificate error under
`Unavailable`, a worker ("can only be performed on a control plane node"), an injected or unknown error. An answer
that never came (the runner's time limit) is retried too: whether it bootstrapped is decided by the etcd membership
check before the next attempt and by Talos' own AlreadyExists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BOOTSTRAPPED, ALREADY, NOT_YET, FAILED = "bootstrapped", "already", "not-yet", "failed"
ALREADY_BOOTSTRAPPED = "etcd data directory is not empty"
TIMEOUT_EXIT = 124   # ToolRunner's exit code for a call it stopped at its time limit
# (gRPC code, text in the answer, what it means) for the refusals that clear by themselves
NOT_YET_SIGNS: tuple[tuple[str, str, str], ...] = (
    ("FailedPrecondition", "bootstrap is not available yet", "its container runtime is not up yet"),
    ("FailedPrecondition", "time is not in sync yet", "its clock is not in sync yet"),
    ("Unavailable", "connection refused", "its Talos API (apid) is restarting"),
    ("Unavailable", "connection reset by peer", "its Talos API (apid) is restarting"),
    ("Unavailable", "error reading from server: EOF", "its Talos API (apid) is restarting"),
    ("Unavailable", "tls: internal error", "it is rebooting"),
)
# an Unavailable answer naming a certificate problem is a wrong talosconfig, not a node on its way up
CERTIFICATE_SIGNS = ("x509:", "bad certificate", "certificate required", "unknown authority")


@dataclass(frozen=True)
class Answer:
    """kind: BOOTSTRAPPED | ALREADY | NOT_YET | FAILED; detail: why, from talosctl's own words (for the log)."""

    kind: str
    detail: str


def classify(code: int, stdout: str, stderr: str) -> Answer:
    """The meaning of a `talosctl bootstrap` that exited `code` with that output."""
    text = f"{stderr}\n{stdout}"
    if code == 0:
        return Answer(BOOTSTRAPPED, "etcd bootstrapped")
    if "AlreadyExists" in text and ALREADY_BOOTSTRAPPED in text:
        return Answer(ALREADY, f"AlreadyExists ({ALREADY_BOOTSTRAPPED})")
    if code == TIMEOUT_EXIT:
        return Answer(NOT_YET, "no answer within the time limit (etcd membership is checked before asking again)")
    if not any(sign in text for sign in CERTIFICATE_SIGNS):
        for grpc_code, sign, meaning in NOT_YET_SIGNS:
            if f"code = {grpc_code}" in text and sign in text:
                return Answer(NOT_YET, f"{meaning} ({sign})")
    return Answer(FAILED, _last_line(text) or f"exit {code}")


def classify_result(result: Any) -> Answer:
    """classify() of a runner Result."""
    return classify(result.code, result.stdout, result.stderr)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:240] if lines else ""
