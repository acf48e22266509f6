"""The failure policy of every external command: is a failed call transient (worth retrying) or permanent?

One table (RULES) decides from the tool, its arguments, exit code and output. Permanent rules are checked first,
so a message that carries both signs (e.g. `Unauthorized` after a reset connection) is never retried; a failure
no rule recognises is permanent too: retrying blindly would hide a real error behind the back-off.

Transient: the API server or a node is briefly unavailable (503/429, `etcdserver: leader changed`, a webhook whose
pods are not ready yet, Talos `Unavailable` while apid restarts, `bootstrap is not available yet`), a network
blip (`connection refused`/`reset`, `i/o timeout`, `TLS handshake timeout`, `context deadline exceeded`), or the
runner's own timeout (exit 124). Permanent: usage errors, a missing chart or version, validation errors,
authentication/authorization failures, helm's pending-operation lock (hops.helmrelease recovers from that one on
its own), AlreadyExists.

Whether a transient failure is retried is still the call site's decision (ToolRunner.run(retry=True) only for
idempotent calls); the Kubernetes API client applies the same split to HTTP answers (`classify_http`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TIMEOUT_EXIT = 124  # ToolRunner's code for a call it had to kill at its timeout


@dataclass(frozen=True)
class Verdict:
    """transient: a retry of the same call may succeed; reason: the rule and the matched text, for the log."""

    transient: bool
    reason: str


@dataclass(frozen=True)
class Rule:
    """One row of the table: `pattern` (case-insensitive) found in the output of `tools` (all tools if empty)."""

    label: str
    transient: bool
    pattern: str
    tools: frozenset[str] = frozenset()

    def matches(self, tool: str, text: str) -> re.Match[str] | None:
        if self.tools and tool not in self.tools:
            return None
        return _compiled(self.pattern).search(text)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compiled on first use: most processes (doit list, a no-op) never classify a failure."""
    return re.compile(pattern, re.IGNORECASE)


def _rule(label: str, transient: bool, pattern: str, *tools: str) -> Rule:
    return Rule(label, transient, pattern, frozenset(tools))


PERMANENT = False
TRANSIENT = True

RULES: tuple[Rule, ...] = (
    # --- permanent: retrying the same call cannot help ---------------------------------------------------------
    _rule("usage error", PERMANENT,
          r"unknown (?:shorthand )?flag|unknown command|flag needs an argument|required flag\(s\)|"
          r"accepts \d+ arg\(s\)|invalid argument \".*\" for"),
    _rule("helm operation in progress", PERMANENT, r"another operation \(install/upgrade/rollback\) is in progress"),
    _rule("chart or version not found", PERMANENT,
          r"chart \"[^\"]*\"(?: version \"[^\"]*\")? not found|no chart version found|no chart name found|"
          r"repo .* not found|version \"[^\"]*\" not found"),
    # `error validating data: failed to download openapi: <why>` is helm/kubectl failing to fetch the schemas to
    # validate against (the API did not answer in time): not a verdict on the manifest; the <why> decides
    _rule("validation error", PERMANENT,
          r"\bis invalid\b|strict decoding error|ValidationError|error validating data(?!: failed to download)|"
          r"don't meet the specifications of the schema|configuration validation failed|"
          r"admission webhook \"[^\"]*\" denied the request|code = InvalidArgument"),
    _rule("not authorized", PERMANENT,
          r"\bUnauthorized\b|\bforbidden\b|code = (?:PermissionDenied|Unauthenticated)|"
          r"x509: certificate signed by unknown authority|not (?:currently )?signed in|"
          r"authorization (?:prompt dismissed|timeout|failed)|invalid (?:token|credentials)|bad credentials"),
    _rule("not found in 1Password", PERMANENT, r"isn't an item|isn't a vault|isn't a field|could not find item", "op"),
    _rule("already exists", PERMANENT, r"AlreadyExists|already exists"),
    # --- transient: the same call may succeed once the cluster has caught up ------------------------------------
    _rule("API unavailable", TRANSIENT,
          r"the server is currently unable to handle the request|ServiceUnavailable|503 Service Unavailable|"
          r"the server has received too many requests|TooManyRequests|429 Too Many Requests|"
          r"the server was unable to return a response in the time allotted|"
          r"an error on the server \(.*\) has prevented the request from succeeding|"
          r"apiserver not ready|the object has been modified; please apply your changes to the latest version"),
    _rule("webhook not ready", TRANSIENT, r"failed calling webhook"),
    # helm uninstall prints only this when deleting the release's objects failed (the causes go to its debug log);
    # the release stays `uninstalling` and the same uninstall resumes it. Only hops's recovery of a release that
    # never deployed uninstalls, and it retries only until the phase deadline, then says what to run.
    _rule("helm uninstall incomplete", TRANSIENT, r"failed to delete release", "helm"),
    _rule("etcd busy", TRANSIENT, r"etcdserver: (?:leader changed|request timed out|too many requests|no leader)"),
    _rule("Talos API not ready", TRANSIENT,
          r"code = (?:Unavailable|DeadlineExceeded)|FailedPrecondition.*not available yet|"
          r"time is not in sync|tls: internal error"),
    _rule("timeout", TRANSIENT,
          r"context deadline exceeded|i/o timeout|TLS handshake timeout|Client\.Timeout exceeded|"
          r"timed out waiting for the condition|request timed out"),
    _rule("connection failed", TRANSIENT,
          r"connection refused|connection reset by peer|broken pipe|unexpected EOF|http2: client connection lost|"
          r"use of closed network connection|no route to host|connection closed"),
)


def classify(tool: str, args: list[str], code: int, stdout: str, stderr: str) -> Verdict:
    """Transient or permanent, with the reason, for a call of `tool args` that exited `code`."""
    if code == 0:
        return Verdict(False, "succeeded")
    if code == TIMEOUT_EXIT:
        return Verdict(True, f"timeout: `{tool} {' '.join(args[:1])}` was stopped at its time limit")
    text = f"{stderr}\n{stdout}"
    for rule in RULES:
        found = rule.matches(tool, text)
        if found:
            return Verdict(rule.transient, f"{rule.label}: {_line_of(text, found)}")
    return Verdict(False, f"unrecognised failure (exit {code})")


def classify_http(status: int, reason: str = "", method: str = "GET") -> Verdict:
    """The same split for a Kubernetes API answer: 429/500/502/503/504 and 409 Conflict on a write (another
    writer got there first; the write is re-sent whole) are transient; every other 4xx is permanent."""
    if status in (429, 500, 502, 503, 504):
        return Verdict(True, f"HTTP {status} {reason}".strip())
    if status == 409 and reason != "AlreadyExists" and method in ("PATCH", "PUT"):
        return Verdict(True, f"HTTP 409 {reason or 'Conflict'}")
    return Verdict(False, f"HTTP {status} {reason}".strip())


def _line_of(text: str, found: re.Match[str]) -> str:
    """The output line holding the match, trimmed: what the log shows as the reason."""
    start = text.rfind("\n", 0, found.start()) + 1
    end = text.find("\n", found.end())
    line = text[start:end if end >= 0 else len(text)].strip()
    return line if len(line) <= 160 else line[:157] + "..."
