"""`doit bootstrap_history` (past runs, newest first: per-phase durations, success rate; --json; --timeline: a
run as a Mermaid gantt chart) and `doit bootstrap_log` (a run's log: the latest, or --run ID; --tail N)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hops import history, timeline
from hops.errors import StepError
from hops.progress import duration
from hops.runlog import LATEST

if TYPE_CHECKING:
    from hops.context import Context

RUN_PARAM = {"name": "run", "long": "run", "type": str, "default": "",
             "help": "a run id from bootstrap_history (or its pid); default: the latest run"}
HISTORY_PARAMS = [
    {"name": "as_json", "long": "json", "type": bool, "default": False, "help": "print the runs as JSON"},
    {"name": "timeline", "long": "timeline", "type": bool, "default": False,
     "help": "print one run (--run ID, default the latest) as a Mermaid gantt chart"},
    RUN_PARAM,
    {"name": "limit", "long": "limit", "type": int, "default": 20, "help": "how many runs to show (default 20)"},
]
LOG_PARAMS = [RUN_PARAM, {"name": "tail", "long": "tail", "type": int, "default": 0,
                          "help": "only the last N lines (default: all)"}]


def show_history(ctx: Context, model: Any, as_json: bool, timeline: bool, run: str, limit: int) -> None:
    """`bootstrap_history`."""
    if timeline:
        print(_timeline(ctx, run), end="")
        return
    runs = history.runs(ctx.state_dir, limit=max(1, limit))
    if as_json:
        print(json.dumps([_as_dict(r) for r in runs], indent=2))
        return
    if not runs:
        print(f"no runs recorded yet in {ctx.state_dir / history.FILE}; `doit bootstrap_phased` records one")
        return
    print(table(runs))
    print(success_line(runs))


def _timeline(ctx: Context, run_id: str) -> str:
    if run_id:
        found = history.get_run(ctx.state_dir, run_id)
        if found is None:
            raise StepError(f"no run {run_id!r} in {ctx.state_dir / history.FILE} (or more than one matches); "
                            "`doit bootstrap_history` lists the run ids")
        return timeline.gantt(found)
    runs = history.runs(ctx.state_dir, limit=1)
    if not runs:
        raise StepError(f"no runs recorded yet in {ctx.state_dir / history.FILE}; run `doit bootstrap_phased` first")
    return timeline.gantt(runs[0])


def _as_dict(run: history.RunRecord) -> dict[str, Any]:
    data = asdict(run)
    data["outcome"] = run.outcome
    data["phase_durations"] = {str(k): round(v, 3) for k, v in run.phase_durations().items()}
    return data


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(runs: list[history.RunRecord]) -> str:
    """One line per run: id, command, start, duration, result, then each phase's duration."""
    groups: dict[int, str] = {}
    for run in runs:
        for step in run.steps:
            groups.setdefault(step.phase, step.step_id.partition(":")[0])
    phases = sorted(groups)
    header = ["run", "command", "started (UTC)", "took", "result"] + [f"{p}:{groups[p]}" for p in phases]
    rows = [header]
    for run in runs:
        took = run.phase_durations()
        rows.append([run.run_id, run.command, _utc(run.started), duration(run.finished - run.started), run.outcome]
                    + [duration(took[p]) if p in took else "-" for p in phases])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def success_line(runs: list[history.RunRecord]) -> str:
    """`3 runs: 2 ok, 1 failed; success rate 67%`."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.outcome] = counts.get(run.outcome, 0) + 1
    parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    rate = round(100 * counts.get("ok", 0) / len(runs))
    return f"{len(runs)} runs: {parts}; success rate {rate}%"


# --- bootstrap_log ---------------------------------------------------------------------------------------------
def log_dir(ctx: Context) -> Path:
    """The configured log folder (the default one when the configuration cannot be read: logs matter most then)."""
    try:
        configured = Path(ctx.config.bootstrap.log_dir)
    except Exception:  # noqa: BLE001 - an invalid configuration must not hide the logs
        configured = Path("logs")
    return configured if configured.is_absolute() else ctx.state_dir / configured


def run_of(path: Path) -> str:
    """The run id of a log file `<stamp>-<command>-<pid>.log` (`<stamp>-<pid>`)."""
    parts = path.stem.split("-")
    return f"{parts[0]}-{parts[1]}-{parts[-1]}" if len(parts) >= 4 else path.stem


def find_log(folder: Path, run: str) -> Path:
    """The log of run `run` (its id, pid or file name), or the latest; StepError naming what exists otherwise."""
    logs = sorted((p for p in folder.glob("*.log") if p.name != LATEST), key=lambda p: run_of(p))
    if not logs:
        raise StepError(f"no run logs in {folder} yet")
    if not run:
        latest = folder / LATEST
        return latest.resolve() if latest.is_symlink() and latest.resolve().exists() else logs[-1]
    matches = [p for p in logs if run in (run_of(p), p.stem, p.name, run_of(p).rsplit("-", 1)[-1])]
    if len(matches) != 1:
        known = ", ".join(run_of(p) for p in logs[-5:])
        what = "matches more than one log" if matches else "has no log"
        raise StepError(f"run {run!r} {what} in {folder}; recent runs: {known}")
    return matches[0]


def show_log(ctx: Context, model: Any, run: str, tail: int) -> None:
    """`bootstrap_log`: print a run's log (already redacted when written)."""
    path = find_log(log_dir(ctx), run)
    lines = path.read_text(errors="replace").splitlines()
    print(f"# {path}")
    print("\n".join(lines[-tail:] if tail > 0 else lines))
