"""The commands a user drives the whole bootstrap with: bootstrap_phased/resume, status, reset, force_phase,
validate, and the lab's lifecycle. Each is a doit task whose action lives here."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from doit.exceptions import TaskFailed

from hops import context as context_mod
from hops import taskmodel
from hops.taskmodel import YES_PARAM, run_guarded
from hops.state import markers

PHASE_PARAM = {"name": "phase", "long": "phase", "short": "p", "type": int, "default": 0,
               "help": "phase number 1-6"}
READ_ONLY = ("bootstrap_status", "bootstrap_validate", "validate_phase", "cluster_health")
LIVE_PARAM = {"name": "live", "long": "live", "type": bool, "default": False,
              "help": "also run each step's live checks and show drift"}


def control_tasks(comps: list[taskmodel.Component]) -> dict[str, dict]:
    last = f"phase{comps[-1].phase}"
    tasks = {
        "bootstrap_phased": {"doc": "Run all six phases in order (resumable: finished steps are skipped)",
                             "actions": [announce_done], "task_dep": [last]},
        "_resume_plan": {"doc": "Say where the bootstrap resumes from", "actions": [announce_resume],
                         "uptodate": [False]},
        "bootstrap_resume": {"doc": "Resume the bootstrap where it stopped (same graph as bootstrap_phased)",
                             "actions": [announce_done], "task_dep": ["_resume_plan", last]},
        "bootstrap_status": {"doc": "Table of every phase and step: marker, completion time, duration (--live: drift)",
                             "actions": [(show_status,)], "params": [LIVE_PARAM], "uptodate": [False]},
        "bootstrap_reset": {"doc": "Remove every marker and forget the doit DB (asks first; never touches the cluster)",
                            "actions": [(reset_state,)], "params": [YES_PARAM], "uptodate": [False]},
        "force_phase": {"doc": "Re-run every step of phase N (--phase N) even if up to date; other phases untouched",
                        "actions": [(force_phase,)], "params": [PHASE_PARAM], "uptodate": [False]},
        "bootstrap_validate": {"doc": "Run every step's live checks and report; changes nothing",
                               "actions": [(validate,)], "uptodate": [False]},
        "validate_phase": {"doc": "Run the live checks of phase N (--phase N) and report; changes nothing",
                           "actions": [(validate_phase,)], "params": [PHASE_PARAM], "uptodate": [False]},
        "cluster_health": {"doc": "Whole-cluster report: nodes, Flux objects, workloads (problems first)",
                           "actions": [(cluster_health,)], "uptodate": [False]},
    }
    for name in READ_ONLY:
        tasks[name]["meta"] = {"hops_read_only": True}
    for task in tasks.values():
        task.setdefault("verbosity", 2)
    return {name: {"basename": name, **task} for name, task in tasks.items()}


def cluster_health() -> dict | TaskFailed:
    from hops.components import applications

    return run_guarded("cluster_health", applications.cluster_health)


# --- helpers ---------------------------------------------------------------------------------------------------
def _steps(phase: int = 0):
    for comp in taskmodel.components():
        if phase and comp.phase != phase:
            continue
        for step in comp.steps:
            yield comp, step


def _check_phase(phase: int, allow_all: bool = False) -> TaskFailed | None:
    valid = {c.phase for c in taskmodel.components()}
    if (phase == 0 and allow_all) or phase in valid:
        return None
    return TaskFailed(f"--phase must be one of {sorted(valid)} (got {phase}); e.g. `doit force_phase --phase 3`")


def _state_dir():
    from hops import endpoints

    return endpoints.state_dir(context_mod.root())


# --- bootstrap_phased / resume ---------------------------------------------------------------------------------
def first_pending() -> str | None:
    """The first step (in phase order) whose marker is missing: where a resumed bootstrap continues."""
    state = _state_dir()
    for comp, step in _steps():
        path = taskmodel.marker_path(state, step)
        if path and not path.exists():
            return comp.step_id(step.name)
    return None


def announce_resume() -> None:
    pending = first_pending()
    if pending is None:
        print("Every step has its marker: checking the live state, nothing should need to run.")
    else:
        done = sum(1 for _, s in _steps() if s.marker and (_state_dir() / s.marker).exists())
        print(f"Resuming at {pending} ({done} steps already complete; their live checks decide if they re-run).")


def announce_done() -> None:
    print("Bootstrap complete: all six phases are up to date. `doit bootstrap_status` shows the details.")


# --- status ----------------------------------------------------------------------------------------------------
def status_rows(live: bool) -> list[dict]:
    state = _state_dir()
    rows = []
    for comp, step in _steps():
        path = taskmodel.marker_path(state, step)
        record = markers.read(path) if path else None
        row = {"phase": comp.phase, "step": comp.step_id(step.name), "marker": step.marker or "",
               "done": record is not None, "completed_at": record.completed_at if record else "",
               "duration": f"{record.duration_s:.1f}s" if record else "", "note": record.note if record else "",
               "live": ""}
        if live and step.status:
            results = [taskmodel.evaluate(row["step"], c.name) for c in step.status]
            ok = all(r[0] for r in results)
            reasons = "; ".join(r[1] for r in results if not r[0])
            row["live"] = "ok" if ok else ("DRIFT: " if record else "not yet: ") + reasons
        rows.append(row)
    return rows


def show_status(live: bool) -> dict | TaskFailed | None:
    if live:  # live checks need a valid configuration: say so once, not once per check
        return run_guarded("bootstrap_status", lambda ctx: _show_status(live))
    return _show_status(live)


def _show_status(live: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = status_rows(live)
    table = Table(title=f"hops bootstrap state ({_state_dir()})")
    widths = {"step": max(len(r["step"]) for r in rows), "marker": 2 + max(len(r["marker"]) for r in rows)}
    for column in ("phase", "step", "marker", "completed", "took"):  # never cut: step ids are what users type
        table.add_column(column, no_wrap=True, min_width=widths.get(column))
    if live:
        table.add_column("live", min_width=24, ratio=1)  # the one column that wraps
    for row in rows:
        mark = "[green]✔[/]" if row["done"] else "[dim]·[/]"
        cells = [str(row["phase"]), row["step"], f"{mark} {row['marker']}", row["completed_at"], row["duration"]]
        if live:
            style = "red" if row["live"].startswith("DRIFT") else ""
            cells.append(f"[{style}]{row['live']}[/]" if style else row["live"])
        table.add_row(*cells)
    console = Console()
    Console(width=console.width if console.is_terminal else 200).print(table)  # a file or pipe: room for all
    done = sum(r["done"] for r in rows)
    print(f"{done}/{len(rows)} steps complete" + (f"; next: {first_pending()}" if done < len(rows) else ""))
    if live and any(r["live"].startswith("DRIFT") for r in rows):
        print("drift found: the next `doit bootstrap_phased` re-runs the drifted steps")


# --- reset / force ---------------------------------------------------------------------------------------------
def confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        print(f"{question} — no terminal to ask on; pass --yes to confirm.")
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def forget_and_unmark(step_ids: list[str]) -> int:
    """Forget the steps in doit's DB (committed at once by the durable backend) and delete their markers."""
    from doit.globals import Globals

    state = _state_dir()
    removed = 0
    for step_id in step_ids:
        Globals.dep_manager.remove(step_id)
        _, step = taskmodel.find_step(step_id)
        path = taskmodel.marker_path(state, step)
        removed += bool(path and markers.remove(path))
    return removed


def reset_state(yes: bool) -> TaskFailed | None:
    ids = list(taskmodel.all_step_ids())
    if not confirm(f"Remove all {len(ids)} step markers and forget their records in {_state_dir()}?", yes):
        return TaskFailed("bootstrap_reset cancelled: nothing was changed")
    removed = forget_and_unmark(ids)
    print(f"Reset: {removed} markers removed, {len(ids)} steps forgotten. The cluster was not touched.")
    return None


def force_phase(phase: int) -> TaskFailed | None:
    invalid = _check_phase(phase)
    if invalid:
        return invalid
    comp = next(c for c in taskmodel.components() if c.phase == phase)
    ids = [comp.step_id(s.name) for s in comp.steps]
    forget_and_unmark(ids)
    print(f"Forced phase {phase} ({comp.group}): {len(ids)} steps forgotten; re-running them now.")
    return _nested_doit([f"phase{phase}"])


def _nested_doit(args: list[str]) -> TaskFailed | None:
    """Run doit again on the same dodo (and variables) under this run's lock."""
    from hops.state import lock

    ctx = context_mod.current()
    variables = [f"{k}={v}" for k, v in ctx.cli_vars.items()]
    env = {**os.environ, **lock.child_env(ctx.state_dir)}
    dodo = str(ctx.root / "dodo.py")
    code = subprocess.call([sys.executable, "-m", "doit", "-f", dodo, *args, *variables], env=env)
    return TaskFailed(f"`doit {' '.join(args)}` failed (exit {code})") if code else None


# --- validate --------------------------------------------------------------------------------------------------
def validate_phase(phase: int) -> dict | TaskFailed:
    """validate_phase needs its --phase: without one it must not quietly check every phase (live checks of
    phase 1 connect to the nodes)."""
    return _check_phase(phase) or run_guarded("validate_phase", lambda ctx: _validate(phase))


def validate() -> dict | TaskFailed:
    return run_guarded("bootstrap_validate", lambda ctx: _validate(0))


def _validate(phase: int) -> TaskFailed | None:
    failures = 0
    for comp, step in _steps(phase):
        for check in step.status:
            holds, reason = taskmodel.evaluate(comp.step_id(step.name), check.name)
            failures += not holds
            print(f"{'OK  ' if holds else 'FAIL'} {comp.step_id(step.name)}: {check.name} — {reason}")
    scope = f"phase {phase}" if phase else "all phases"
    if failures:
        return TaskFailed(f"{failures} live checks failed ({scope}); nothing was changed")
    print(f"all live checks hold ({scope})")
    return None


def context() -> Any:
    return context_mod.current()
