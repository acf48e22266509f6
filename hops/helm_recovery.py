"""Freeing a Helm release that an interrupted run left pending, before `helm upgrade --install` runs again.

Helm 3 records a revision as pending-install/-upgrade/-rollback before it creates objects and marks it deployed or
failed afterwards; a helm killed in between leaves it pending, and every later upgrade fails with "another operation
(install/upgrade/rollback) is in progress". hops reads the release's history through helm, works out who left it
pending, and either frees it (rollback to the last successful revision, or uninstall when it never was deployed),
or waits for whoever is working on it.

Who left it pending: hops holds its run lock (hops.state.lock: one hops run per cluster), so no other hops process
can be running helm on this cluster now. A pending record therefore belongs to (a) an earlier hops run that was
interrupted, or (b) another actor: a user's helm, or Flux's helm-controller once phase 5 handed the release to it.
hops notes each helm operation it starts in `<state>/helm-inflight/<namespace>.<release>.json` (pid, expected
revision, start time, run id) and removes the note when helm returns (kept, marked finished, when helm failed after
its own checks: a revision it could not mark failed is then ours too); a note for the pending revision whose
process is gone, or that is marked finished, is (a). Without such a note, a pending revision older than one
external command may take (bootstrap.command_timeout, the runner's limit on every helm hops runs) cannot be a helm
of ours still working, and no healthy helm of anyone else's stays pending that long either: it is stale and
treated as (a). Anything else is (b): it is not touched; hops watches the release's records until they leave
pending or the phase deadline passes."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hops import processes
from hops.errors import StepError, ToolFailed, WaitTimeout

if TYPE_CHECKING:
    from hops.context import Context

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
BUSY = (*PENDING, "uninstalling")             # an operation started and not finished: helm refuses to upgrade
SUCCESSFUL = ("deployed", "superseded")        # revisions that were deployed once (superseded: by a later one)
HISTORY_MAX = 256  # helm history's own default: the whole history helm keeps (upgrade prunes it to --history-max)
INFLIGHT_DIR = "helm-inflight"
OWN, STALE, FOREIGN = "own", "stale", "foreign"
# what helm says when it refuses before writing a revision: a pending revision then is not the refused call's
REFUSED = ("another operation (install/upgrade/rollback) is in progress", "release: already exists")
CLOCK_SLACK_S = 1.0       # helm stamps revisions with the same local clock as the note; allow for rounding
_OTHER = "an operation hops did not start (a user's helm or Flux's helm-controller)"
# HELM_DRIVER -> the kind of object Helm stores each revision in ("" is Helm's default, secrets)
STORAGE_KINDS = {"": "Secret", "secret": "Secret", "secrets": "Secret", "configmap": "ConfigMap",
                 "configmaps": "ConfigMap"}


@dataclass(frozen=True)
class Revision:
    """One row of `helm history -o json`."""

    number: int
    status: str
    updated: float | None    # epoch seconds of the revision's last change (info.last_deployed)
    description: str = ""


@dataclass(frozen=True)
class Plan:
    """What to do before the upgrade: install, upgrade, rollback (to `target`), uninstall, wait or fail."""

    action: str
    latest: Revision | None = None
    target: int | None = None


# --- reading helm's answers ------------------------------------------------------------------------------------
def parse_history(text: str, where: str) -> list[Revision]:
    """Revisions (oldest first) from `helm history -o json`; an answer that is not that is a StepError."""
    try:
        rows = json.loads(text)
        revisions = [Revision(int(r["revision"]), str(r["status"]), parse_time(str(r.get("updated") or "")),
                              str(r.get("description") or "")) for r in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise StepError(f"`helm history {where} -o json` did not answer a JSON list of revisions ({exc}): "
                        f"{text.strip()[:300]!r}") from None
    return sorted(revisions, key=lambda r: r.number)


def parse_time(value: str) -> float | None:
    """Helm's RFC 3339 time (fractions up to nanoseconds, Z or an offset) as epoch seconds; None when absent."""
    if not value:
        return None
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        return None


# --- who left it pending ---------------------------------------------------------------------------------------
def ownership(latest: Revision, note: dict | None, now: float, command_timeout: float,
              alive: Callable[[int, float | None], bool]) -> str:
    """OWN (a helm of hops left it: its process is gone, or it failed), STALE (pending longer than any helm of
    ours can run) or FOREIGN (someone may be working on it right now). See the module doc for why."""
    if note is not None and _noted(latest, note) and (
            "finished_at" in note or not alive(int(note.get("pid", 0)), _number(note.get("started_at")))):
        return OWN
    if latest.updated is not None and now - latest.updated > command_timeout:
        return STALE
    return FOREIGN


def _noted(latest: Revision, note: dict) -> bool:
    """The note is about this revision: same number, and (when the times are known) written while the note's helm
    ran, so a revision someone else created with the same number after a leftover note is not taken for ours.
    An uninstall writes no new revision and leaves the revision's time as it was (helm marks it `uninstalling`
    in place), so a note of hops's uninstall owns the `uninstalling` revision it names by number alone."""
    if int(note.get("revision", -1)) != latest.number:
        return False
    if note.get("operation") == "uninstall" and latest.status == "uninstalling":
        return True
    started, finished = _number(note.get("started_at")), _number(note.get("finished_at"))
    if latest.updated is None or started is None:
        return True
    after_start = started - CLOCK_SLACK_S <= latest.updated
    return after_start and (finished is None or latest.updated <= finished + CLOCK_SLACK_S)


def pid_alive(pid: int, since: float | None = None) -> bool:
    """True when process `pid` runs and, given `since` (epoch seconds its note was written), was started before
    then. Not alive: a zombie (killed, not yet reaped), this very process, and a process that reused the pid
    after the noted one ended."""
    if pid == os.getpid() or not processes.alive(pid):
        return False
    started = processes.started_at(pid)
    return since is None or started is None or started <= since + 1.0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


# --- what to do ------------------------------------------------------------------------------------------------
def decide(revisions: list[Revision] | None, owner: str | None) -> Plan:
    """The plan for a release with these revisions (None: not found) whose latest, when pending, is `owner`'s."""
    if not revisions:
        return Plan("install")
    latest = revisions[-1]
    if latest.status not in BUSY:
        return Plan("upgrade", latest)     # deployed, superseded, failed: helm upgrades these
    if owner == FOREIGN:
        return Plan("wait", latest)
    good = [r for r in revisions if r.status in SUCCESSFUL]
    deployed = [r for r in good if r.status == "deployed"] or good
    if deployed:
        return Plan("rollback", latest, deployed[-1].number)
    if revisions[0].number == 1 or len(revisions) < HISTORY_MAX:
        # Nothing deployed in the whole stored history: helm's pruning (--history-max, 10 by default) never
        # deletes the last deployed revision, so a release that ever deployed would show it; older revisions
        # missing here were pruned failures (the soak saw revision 1 gone after ten failed tries).
        return Plan("uninstall", latest)
    return Plan("fail", latest)            # HISTORY_MAX rows, none deployed: older ones are out of sight


# --- notes of hops's own helm operations -----------------------------------------------------------------------
def note_path(state_dir: Path, namespace: str, name: str) -> Path:
    """Where the note of hops's helm operation on release namespace/name lives in the state folder."""
    return state_dir / INFLIGHT_DIR / f"{namespace}.{name}.json"


def read_note(path: Path) -> dict | None:
    """The note at `path`; None when there is none or it is unreadable (a write cut short), i.e. no claim."""
    try:
        note = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return note if isinstance(note, dict) else None


class Flight:
    """The helm call an `in_flight` block runs: hand its Result to `ended` (a ToolFailed raised works too)."""

    def __init__(self) -> None:
        self.result: Any = None

    def ended(self, result: Any) -> Any:
        self.result = result
        return result


@contextmanager
def in_flight(ctx: Context, namespace: str, name: str, revision: int,
              operation: str = "upgrade") -> Iterator[Flight]:
    """Note that this process runs a helm operation creating `revision` (an uninstall: marking it uninstalling),
    for as long as helm runs.

    When helm succeeds, or refuses before writing anything (another operation in progress), the note goes. When
    it fails otherwise it stays, marked finished: helm got past its checks, so a revision it left pending (it could
    not mark it failed, e.g. the API went away) is ours to free, on the next try of this run or the next run. When
    this process is interrupted it stays as it is: the next run finds its process gone."""
    path = note_path(ctx.state_dir, namespace, name)
    note = {"pid": os.getpid(), "revision": revision, "operation": operation, "started_at": time.time(),
            "run_id": ctx.log.run_id}
    _write_note(path, note)
    flight = Flight()
    try:
        yield flight
    except StepError as exc:
        failed = exc if isinstance(exc, ToolFailed) else None
        _settle(path, note, failed.code if failed else 0, (failed.stdout + failed.stderr) if failed else "")
        raise
    if flight.result is None or flight.result.code == 0:
        path.unlink(missing_ok=True)
    else:
        _settle(path, note, flight.result.code, flight.result.stdout + flight.result.stderr)


def _settle(path: Path, note: dict, code: int, output: str) -> None:
    if code == 0 or any(text in output for text in REFUSED):
        path.unlink(missing_ok=True)
    else:
        _write_note(path, {**note, "finished_at": time.time(), "exit": code})


def _write_note(path: Path, note: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(note))
    os.replace(tmp, path)


# --- the whole preparation -------------------------------------------------------------------------------------
def prepare(ctx: Context, namespace: str, name: str, deadline: float) -> int:
    """Bring release namespace/name to a state `helm upgrade --install` accepts; returns the revision number the
    upgrade will create. Waits (until `deadline`) on a release someone else is working on; a StepError when it
    stays pending."""
    while True:
        upcoming = next_revision(ctx, namespace, name)
        if upcoming is not None:
            note_path(ctx.state_dir, namespace, name).unlink(missing_ok=True)  # see the install/upgrade case below
            return upcoming
        revisions = history(ctx, namespace, name)
        latest = revisions[-1] if revisions else None
        note_file = note_path(ctx.state_dir, namespace, name)
        owner, note = None, None
        if latest is not None and latest.status in BUSY:
            note = read_note(note_file)
            owner = ownership(latest, note, time.time(), float(ctx.config.bootstrap.command_timeout), pid_alive)
        plan = decide(revisions, owner)
        if plan.action in ("install", "upgrade"):
            note_file.unlink(missing_ok=True)        # a note left by a run killed after its helm finished
            return (latest.number + 1) if latest else 1
        if plan.action == "wait":
            way_out = decide(revisions, OWN)     # what would free it, for the message if it stays pending
            if time.monotonic() >= deadline:
                raise StepError(_stuck(namespace, name, plan.latest, _OTHER + " has not finished by the phase "
                                       "deadline", way_out))
            _wait_for_other(ctx, namespace, name, plan.latest, deadline, way_out)
            continue
        if plan.action == "fail":
            raise StepError(_stuck(namespace, name, plan.latest, "no deployed revision among its newest "
                                   f"{HISTORY_MAX}, so hops does not know what to roll back to"))
        _free(ctx, namespace, name, plan, _why(ctx, owner, plan.latest, note))


def next_revision(ctx: Context, namespace: str, name: str) -> int | None:
    """The revision `helm upgrade --install` will write when Helm's records of the release, read through the
    Kubernetes API, show nothing busy (decide() then installs or upgrades, whatever the older revisions are);
    None when the newest record is busy or the records cannot be read there: then `helm history` decides.

    Why not always `helm history`: with the secret driver (Helm's default) or the configmap driver, Helm keeps
    one object per revision in the release's namespace, labelled owner=helm, name, status and version — the
    records `helm history` reads and `helm upgrade` checks before it refuses. One list request answers where a
    helm process takes a few tenths of a second; the whole history (times, descriptions) is read through helm
    when recovery needs it. Other drivers (sql, memory) keep no such objects, so helm is asked."""
    kind = STORAGE_KINDS.get(os.environ.get("HELM_DRIVER", "").strip().lower())
    if kind is None:
        return None
    from hops.kubeconfig import kubernetes_module

    refused = kubernetes_module("client.exceptions").ApiException  # e.g. 403: this user may not list them
    try:
        objs = ctx.kube.list(kind, namespace, fresh=True, labels=f"owner=helm,name={name}")
    except (StepError, refused):
        return None  # helm history then says what is wrong, in helm's words
    newest = _newest(objs, name)
    if newest is None:
        return 1
    return None if newest[1] in BUSY else newest[0] + 1


def history(ctx: Context, namespace: str, name: str) -> list[Revision] | None:
    """The newest HISTORY_MAX revisions through `helm history`; None when the release does not exist."""
    done = ctx.runner.run("helm", ["history", name, "-n", namespace, "-o", "json", "--max", str(HISTORY_MAX),
                                   "--kubeconfig", str(ctx.endpoints.kubeconfig)], check=False, retry=True)
    if done.code != 0:
        if "release: not found" in done.stderr:
            return None
        raise StepError(f"reading the history of helm release {namespace}/{name} failed: `helm history` exited "
                        f"{done.code}: {(done.stderr.strip() or done.stdout.strip())[-1000:]}")
    return parse_history(done.stdout, f"{name} -n {namespace}")


def _why(ctx: Context, owner: str | None, latest: Revision | None, note: dict | None) -> str:
    if owner == OWN and note is not None and "finished_at" in note:
        return f"by a helm command of hops that failed (exit {note.get('exit')})"
    if owner == OWN:
        return "by an interrupted run"
    return (f"for {_age(latest)}, longer than one helm command may take "
            f"({ctx.config.bootstrap.command_timeout:.0f}s)")


def _free(ctx: Context, namespace: str, name: str, plan: Plan, why: str) -> None:
    """Roll back / uninstall a release left pending by hops (or stale), saying so in one line."""
    latest = plan.latest
    assert latest is not None
    common = ["-n", namespace, "--kubeconfig", str(ctx.endpoints.kubeconfig)]
    try:
        if plan.action == "rollback":
            with in_flight(ctx, namespace, name, latest.number + 1, operation="rollback"):
                # the same target again: the effect is idempotent (each try adds a revision)
                ctx.runner.run("helm", ["rollback", name, str(plan.target), *common], retry=True)
            done = f"rolled back to revision {plan.target}"
        else:
            with in_flight(ctx, namespace, name, latest.number, operation="uninstall"):
                ctx.runner.run("helm", ["uninstall", name, *common], retry=True)  # resumes a partial uninstall
            done = "it was never deployed, so uninstalled it to install afresh"
    except StepError as exc:
        raise StepError(f"helm release {namespace}/{name} was left {latest.status} (revision {latest.number}) "
                        f"{why}, and freeing it failed: {exc}") from None
    ctx.log.say(f"  helm release {namespace}/{name} was left {latest.status} (revision {latest.number}) {why}: "
                f"{done}")


def _age(rev: Revision | None) -> str:
    return f"{time.time() - rev.updated:.0f}s" if rev is not None and rev.updated is not None else "an unknown time"


def _wait_for_other(ctx: Context, namespace: str, name: str, latest: Revision | None, deadline: float,
                    way_out: Plan) -> None:
    """Watch the release's Secrets (Helm's storage) until its newest revision leaves pending."""
    assert latest is not None
    ctx.log.say(f"  helm release {namespace}/{name} is {latest.status} (revision {latest.number}): {_OTHER} is "
                "working on it; waiting for it to finish")
    try:
        ctx.kube.wait("Secret", f"helm release {namespace}/{name} to leave {latest.status}",
                      lambda objs: _settled(objs, name), deadline, namespace=namespace)
    except WaitTimeout:
        raise StepError(_stuck(namespace, name, latest, _OTHER + " has not finished by the phase deadline",
                               way_out)) from None


def _settled(secrets: dict[str, dict], name: str) -> tuple[bool, str]:
    """Done when the newest revision record of release `name` is no longer pending (labels carry the status)."""
    newest = _newest(secrets.values(), name)
    if newest is None:
        return True, "no revision records left"
    return newest[1] not in BUSY, f"revision {newest[0]} is {newest[1]}"


def _newest(records: Iterable[dict], name: str) -> tuple[int, str] | None:
    """(version, status) of the newest of Helm's revision records of release `name` (labels carry both)."""
    newest: tuple[int, str] | None = None
    for record in records:
        labels = (record.get("metadata") or {}).get("labels") or {}
        if labels.get("owner") != "helm" or labels.get("name") != name:
            continue
        try:
            version = int(labels.get("version", ""))
        except ValueError:
            continue
        if newest is None or version > newest[0]:
            newest = (version, labels.get("status", ""))
    return newest


def _stuck(namespace: str, name: str, latest: Revision | None, why: str, way_out: Plan | None = None) -> str:
    """The failure for a release hops leaves pending: what, why, and the helm commands that free it."""
    status, number = (latest.status, latest.number) if latest else ("pending", "?")
    if way_out is not None and way_out.action == "rollback":
        free = f"`helm rollback {name} {way_out.target} -n {namespace}` (its last deployed revision)"
    elif way_out is not None and way_out.action == "uninstall":
        free = f"`helm uninstall {name} -n {namespace}` (it never deployed)"
    else:
        free = (f"`helm rollback {name} <last deployed revision> -n {namespace}` (or `helm uninstall {name} -n "
                f"{namespace}` if it never deployed)")
    return (f"helm release {namespace}/{name} is still {status} (revision {number}): {why}. See "
            f"`helm history {name} -n {namespace}`; when nothing is working on it any more, free it with {free}, "
            "then run hops again")
