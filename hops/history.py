"""Run history: every state-changing doit invocation and each step it ran, in `<state>/history.sqlite`.

    runs    run_id, command, argv, started, ended, result, message, log
    steps   run_id, step_id, phase, started, ended, result, attempt, retries, message
    spans   run_id, step_id, kind ('wait' | 'retry'), label, started, ended, result

SQLite rather than an append-only JSONL file: `-n` workers write at once (SQLite's locking serialises them; a
JSONL line larger than a page could interleave), every row is committed the moment it is written (a SIGKILL
keeps every finished step, as the doit DB does: hops.state.durable_db), and the report's queries (newest runs,
a step's median duration, attempts since its last success) stay small. A step's row is written when it starts
(result 'running') and completed when it ends; a run whose process was killed keeps ended NULL and is shown as
such. Times are epoch seconds. Messages are redacted before they are stored.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hops import invocation, secrets

FILE = "history.sqlite"
SCHEMA = """
create table if not exists runs (run_id text primary key, command text, argv text, started real, ended real,
    result text, message text, log text);
create table if not exists steps (run_id text, step_id text, phase integer, started real, ended real,
    result text, attempt integer, retries integer default 0, message text, primary key (run_id, step_id));
create table if not exists spans (run_id text, step_id text, kind text, label text, started real, ended real,
    result text);
"""
OK_RESULTS = ("ok",)
_connections: dict[tuple[int, str], sqlite3.Connection] = {}
_lock = threading.Lock()


@dataclass
class StepRecord:
    """One step of one run."""

    step_id: str
    phase: int
    started: float
    ended: float | None
    result: str
    attempt: int
    retries: int
    message: str
    spans: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class RunRecord:
    """One invocation with its steps."""

    run_id: str
    command: str
    argv: str
    started: float
    ended: float | None
    result: str
    message: str
    log: str
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """The result, or what happened to a run that recorded no end (killed, interrupted)."""
        if self.ended is not None:
            return self.result
        return "interrupted" if any(s.result == "interrupted" for s in self.steps) else "killed (no end recorded)"

    @property
    def finished(self) -> float:
        """When it ended (a killed run: when its last step ended or started)."""
        times = [self.started] + [t for s in self.steps for t in (s.started, s.ended) if t is not None]
        return self.ended if self.ended is not None else max(times)

    def phase_durations(self) -> dict[int, float]:
        """Seconds per phase number: from its first step's start to its last step's end in this run."""
        spans: dict[int, tuple[float, float]] = {}
        for step in self.steps:
            end = step.ended if step.ended is not None else step.started
            first, last = spans.get(step.phase, (step.started, end))
            spans[step.phase] = (min(first, step.started), max(last, end))
        return {phase: last - first for phase, (first, last) in sorted(spans.items())}


def connect(state_dir: Path) -> sqlite3.Connection:
    """This process's connection to the history (a forked worker opens its own)."""
    key = (os.getpid(), str(state_dir))
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            state_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(state_dir / FILE, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("pragma busy_timeout = 10000")
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = normal")  # WAL + normal: a kill of the process loses no commit
            conn.executescript(SCHEMA)
            _connections[key] = conn
        return conn


def _execute(state_dir: Path, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
    conn = connect(state_dir)
    with _lock:
        return conn.execute(sql, args)  # autocommit: each statement is its own committed transaction


# --- writing ---------------------------------------------------------------------------------------------------
def begin_run(state_dir: Path) -> None:
    """Record the current invocation as a run (main process, before any task runs: hops.run_end.begin)."""
    run = invocation.current()
    _execute(state_dir, "insert or ignore into runs (run_id, command, argv, started, result, log) values "
             "(?, ?, ?, ?, 'running', '')", (run.run_id, run.command, secrets.redact(run.argv), run.started))


def end_run(state_dir: Path, result: str, message: str = "") -> RunRecord | None:
    """Record the end of the current run (once); returns it with its steps. Nothing to record (and nothing is
    created) when the history does not exist: this invocation recorded no run, or removed the state (lab_reset)."""
    if not (state_dir / FILE).exists():
        return None
    run_id = invocation.run_id()
    _execute(state_dir, "update runs set ended = ?, result = ?, message = ? where run_id = ? and ended is null",
             (time.time(), result, secrets.redact(message)[:2000], run_id))
    return get_run(state_dir, run_id)


def step_started(state_dir: Path, step_id: str, phase: int) -> int:
    """Record a step's start in this run; returns its attempt number (1 + runs since its last success that
    started it without success)."""
    run_id = invocation.run_id()
    rows = _execute(state_dir, "select result from steps where step_id = ? and run_id != ? order by started desc",
                    (step_id, run_id)).fetchall()
    attempt = 1
    for (result,) in rows:
        if result in OK_RESULTS:
            break
        attempt += result not in ("skipped", "already done")
    _execute(state_dir, "insert or replace into steps (run_id, step_id, phase, started, result, attempt) values "
             "(?, ?, ?, ?, 'running', ?)", (run_id, step_id, phase, time.time(), attempt))
    return attempt


def step_ended(state_dir: Path, step_id: str, result: str, message: str = "", retries: int = 0) -> None:
    """Record a step's end (committed at once: a later kill keeps it)."""
    _execute(state_dir, "update steps set ended = ?, result = ?, message = ?, retries = ? where run_id = ? and "
             "step_id = ?", (time.time(), result, secrets.redact(message)[:2000], retries, invocation.run_id(),
                             step_id))


def span(state_dir: Path, step_id: str, kind: str, label: str, started: float, ended: float, result: str) -> None:
    """Record a wait (or a retry, ended == started) inside a step."""
    _execute(state_dir, "insert into spans values (?, ?, ?, ?, ?, ?, ?)",
             (invocation.run_id(), step_id, kind, secrets.redact(label)[:300], started, ended, result))


# --- reading ---------------------------------------------------------------------------------------------------
def runs(state_dir: Path, limit: int = 50) -> list[RunRecord]:
    """The newest `limit` runs, newest first, with their steps and spans."""
    if not (state_dir / FILE).exists():
        return []
    rows = _execute(state_dir, "select * from runs order by started desc limit ?", (limit,)).fetchall()
    return [_run(state_dir, row) for row in rows]


def get_run(state_dir: Path, run_id: str) -> RunRecord | None:
    """One run by id (or by a unique prefix or suffix of it, e.g. the pid)."""
    if not (state_dir / FILE).exists():
        return None
    rows = _execute(state_dir, "select * from runs where run_id = ? or run_id like ? or run_id like ? "
                    "order by started desc", (run_id, f"{run_id}%", f"%-{run_id}")).fetchall()
    chosen = [r for r in rows if r[0] == run_id] or (rows if len(rows) == 1 else [])  # ambiguous: none
    return _run(state_dir, chosen[0]) if chosen else None


def _run(state_dir: Path, row: tuple[Any, ...]) -> RunRecord:
    run = RunRecord(row[0], row[1] or "", row[2] or "", row[3], row[4], row[5] or "", row[6] or "", row[7] or "")
    spans: dict[str, list[dict[str, Any]]] = {}
    for s in _execute(state_dir, "select step_id, kind, label, started, ended, result from spans where run_id = ? "
                      "order by started", (run.run_id,)).fetchall():
        spans.setdefault(s[0], []).append(dict(zip(("kind", "label", "started", "ended", "result"), s[1:], strict=True)))
    for s in _execute(state_dir, "select step_id, phase, started, ended, result, attempt, retries, message from "
                      "steps where run_id = ? order by started", (run.run_id,)).fetchall():
        run.steps.append(StepRecord(s[0], s[1], s[2], s[3], s[4], s[5] or 1, s[6] or 0, s[7] or "",
                                    spans.get(s[0], [])))
    return run


def typical_duration(state_dir: Path, step_id: str, last: int = 10) -> float | None:
    """Median duration of the step's last `last` successful runs (None without any): the progress estimate."""
    if not (state_dir / FILE).exists():
        return None
    rows = _execute(state_dir, "select ended - started from steps where step_id = ? and result = 'ok' and ended "
                    "is not null order by started desc limit ?", (step_id, last)).fetchall()
    import statistics  # a history report only: not every run

    return statistics.median(r[0] for r in rows) if rows else None


def close() -> None:
    """Close this process's connections (tests)."""
    with _lock:
        for key in [k for k in _connections if k[0] == os.getpid()]:
            _connections.pop(key).close()
