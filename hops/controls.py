"""The commands a user drives the whole bootstrap with: bootstrap_phased/resume, status, reset, force_phase,
validate. Each is a doit task whose action (a hops.actions.TaskAction) calls one function here with the context
and the wired model; failures are raised as StepError and reported by hops.results like any other task's."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from hops import graph, history_cli, init, interrupts, progress
from hops.actions import TaskAction, evaluate
from hops.custom_checks import reported_checks
from hops.errors import StepError
from hops.interactive import INTERACTIVE_PARAMS
from hops.prompt import confirm
from hops.state import lock, markers
from hops.state.forget import forget_and_unmark
from hops.taskmodel import YES_PARAM, Model

if TYPE_CHECKING:
    from hops.context import Context

PHASE_PARAM = {"name": "phase", "long": "phase", "short": "p", "type": int, "default": 0,
               "help": "phase number 1-6"}
LIVE_PARAM = {"name": "live", "long": "live", "type": bool, "default": False,
              "help": "also run each step's live checks and show drift"}
ALL_CLUSTERS_PARAM = {"name": "all_clusters", "long": "all-clusters", "type": bool, "default": False,
                      "help": "one line per cluster of the project: phases complete, next step, last run"}
READ_ONLY = {"hops_read_only": True}  # may run beside a bootstrap (no run lock)


def control_tasks(model: Model) -> dict[str, dict[str, Any]]:
    """doit task dicts of the bootstrap controls, by task name."""
    last = f"phase{model.phases[-1].phase}"
    progress.know(model)  # phase N/6, step k/M on the live progress line

    def action(name: str, fn: Any, needs_config: bool = True) -> list[TaskAction]:
        return [TaskAction(name, fn, needs_config=needs_config, bound={"model": model})]

    return {
        "bootstrap_phased": {"doc": "Run all six phases in order (resumable: finished steps are skipped)",
                             "actions": action("bootstrap_phased", announce_done, False), "task_dep": [last],
                             "params": INTERACTIVE_PARAMS},  # hops.interactive wires its gates at load
        "_resume_plan": {"doc": "Say where the bootstrap resumes from",
                         "actions": action("bootstrap_resume", announce_resume, False), "uptodate": [False]},
        "bootstrap_resume": {"doc": "Resume the bootstrap where it stopped (same graph as bootstrap_phased)",
                             "actions": action("bootstrap_resume", announce_done, False),
                             "task_dep": ["_resume_plan", last], "params": INTERACTIVE_PARAMS},
        "bootstrap_status": {"doc": "Table of every phase and step: marker, completion time, duration (--live: drift)",
                             "actions": action("bootstrap_status", show_status, False),
                             "params": [LIVE_PARAM, ALL_CLUSTERS_PARAM],
                             "uptodate": [False], "meta": READ_ONLY},
        "bootstrap_reset": {"doc": "Remove every marker and forget the doit DB (asks first; never touches the cluster)",
                            "actions": action("bootstrap_reset", reset_all, False), "params": [YES_PARAM],
                            "uptodate": [False]},
        "force_phase": {"doc": "Re-run every step of phase N (--phase N) even if up to date; other phases untouched",
                        "actions": action("force_phase", force_phase, False), "params": [PHASE_PARAM],
                        "uptodate": [False]},
        "bootstrap_validate": {"doc": "Run every step's live checks and report; changes nothing",
                               "actions": action("bootstrap_validate", validate), "uptodate": [False],
                               "meta": READ_ONLY},
        "bootstrap_graph": {"doc": "Print the bootstrap's task graph (Mermaid; --format dot for Graphviz)",
                            "actions": action("bootstrap_graph", graph.show, False), "params": [graph.FORMAT_PARAM],
                            "uptodate": [False], "meta": READ_ONLY},
        "bootstrap_init": {"doc": "Write bootstrap-config.yaml and talconfig.yaml from your answers (asks on a terminal;"
                                  " --yes with flags or --answers FILE for scripts)",
                           "actions": action("bootstrap_init", init.bootstrap_init, False), "params": init.PARAMS,
                           "uptodate": [False]},  # takes the run lock: hops.init says why
        "bootstrap_history": {"doc": "Past runs, newest first: per-phase durations, success rate (--json; --timeline "
                                     "[--run ID]: a Mermaid gantt chart of a run)",
                              "actions": action("bootstrap_history", history_cli.show_history, False),
                              "params": history_cli.HISTORY_PARAMS, "uptodate": [False], "meta": READ_ONLY},
        "bootstrap_log": {"doc": "Print the latest run's log (--run ID: another run's; --tail N: its last lines)",
                          "actions": action("bootstrap_log", history_cli.show_log, False),
                          "params": history_cli.LOG_PARAMS, "uptodate": [False], "meta": READ_ONLY},
        "validate_phase": {"doc": "Run the live checks of phase N (--phase N) and report; changes nothing",
                           "actions": action("validate_phase", validate_phase, False), "params": [PHASE_PARAM],
                           "uptodate": [False], "meta": READ_ONLY},
    }


def check_phase(model: Model, phase: int, command: str) -> None:
    """Raise a StepError unless `phase` is one of the model's phase numbers."""
    if phase not in model.numbers:
        got = f"got {phase}" if phase else "none given"  # 0 is the option's default: it was not given
        raise StepError(f"--phase must be one of {model.numbers} ({got}); e.g. `doit {command} --phase "
                        f"{model.numbers[-1] if len(model.numbers) < 3 else 3}`")


# --- bootstrap_phased / resume ---------------------------------------------------------------------------------
def first_pending(ctx: Context, model: Model) -> str | None:
    """The first step (in phase order) whose marker is missing: where a resumed bootstrap continues."""
    for comp, step in model.steps():
        if step.marker and not (ctx.state_dir / step.marker).exists():
            return comp.step_id(step.name)
    return None


def announce_resume(ctx: Context, model: Model) -> None:
    """`bootstrap_resume`'s first task: say where it continues."""
    pending = first_pending(ctx, model)
    if pending is None:
        print("Every step has its marker: checking the live state, nothing should need to run.")
    else:
        done = sum(1 for _, s in model.steps() if s.marker and (ctx.state_dir / s.marker).exists())
        print(f"Resuming at {pending} ({done} steps already complete; their live checks decide if they re-run).")


def announce_done(ctx: Context, model: Model, interactive: bool = False, no_interactive: bool = False) -> None:
    """The last task of a bootstrap (its options were used at load: hops.interactive)."""
    print("Bootstrap complete: all six phases are up to date. `doit bootstrap_status` shows the details.")


# --- status ----------------------------------------------------------------------------------------------------
def status_rows(ctx: Context, model: Model, live: bool) -> list[dict[str, Any]]:
    """One row per step: marker state, completion time, duration, and (live) what its checks say."""
    rows = []
    for comp, step in model.steps():
        record = markers.read(ctx.state_dir / step.marker) if step.marker else None
        step_id = comp.step_id(step.name)
        row: dict[str, Any] = {"phase": comp.phase, "step": step_id, "marker": step.marker or "",
               "done": record is not None, "completed_at": record.completed_at if record else "",
               "duration": f"{record.duration_s:.1f}s" if record else "", "note": record.note if record else "",
               "live": ""}
        checks = reported_checks(ctx, step_id, step) if live else []  # configured ones too, by their names
        if checks:
            results = [evaluate(step_id, step, c) for c in checks]
            reasons = "; ".join(r[1] for r in results if not r[0])
            row["live"] = "ok" if all(r[0] for r in results) else ("DRIFT: " if record else "not yet: ") + reasons
        rows.append(row)
    return rows


def show_status(ctx: Context, model: Model, live: bool, all_clusters: bool = False) -> None:
    """`bootstrap_status`: the table, laid out to fit the terminal (hops.status_view); live checks need a valid
    configuration: it is loaded once, first. --all-clusters: one summary line per cluster (hops.cluster_status)."""
    from hops import status_view
    from hops.fitting import say

    if all_clusters:
        if live:
            raise StepError("--all-clusters shows the markers of every cluster; --live checks one cluster: "
                            "run `doit bootstrap_status --live CLUSTER=<name>` for it")
        from hops import cluster_status

        cluster_status.show(ctx, model)
        return

    if live:
        ctx.settings  # noqa: B018 - a bad configuration is reported once, not once per live check
    rows = status_rows(ctx, model, live)
    titles = {comp.phase: comp.group for comp in model.phases}
    status_view.show(f"hops bootstrap state ({ctx.state_dir})", rows, titles, live)
    done = sum(r["done"] for r in rows)
    say(f"{done}/{len(rows)} steps complete" + (f"; next: {first_pending(ctx, model)}" if done < len(rows) else ""))
    if live and any(r["live"].startswith("DRIFT") for r in rows):
        say("drift found: the next `doit bootstrap_phased` re-runs the drifted steps")
        note = lab_coming_back(ctx)
        if note:
            say(f"note: {note}")


# --- reset / force ---------------------------------------------------------------------------------------------
def _forget(ctx: Context, model: Model, phase: int = 0) -> int:
    names = [s.marker for _, s in model.steps(phase) if s.marker]
    return forget_and_unmark(ctx.state_dir, model.step_ids(phase), names)


def reset_all(ctx: Context, model: Model, yes: bool) -> None:
    """`bootstrap_reset`: every marker removed and every step forgotten (asks first)."""
    ids = model.step_ids()
    if not confirm(f"Remove all {len(ids)} step markers and forget their records in {ctx.state_dir}?", yes):
        raise StepError("bootstrap_reset cancelled: nothing was changed")
    removed = _forget(ctx, model)
    print(f"Reset: {removed} markers removed, {len(ids)} steps forgotten. The cluster was not touched.")


def force_phase(ctx: Context, model: Model, phase: int) -> None:
    """`force_phase --phase N`: forget phase N's steps, then run them again in a nested doit under this lock."""
    check_phase(model, phase, "force_phase")
    comp = model.phase(phase)
    _forget(ctx, model, phase)
    print(f"Forced phase {phase} ({comp.group}): {len(model.step_ids(phase))} steps forgotten; re-running them now.")
    nested_doit(ctx, [f"phase{phase}"])


def nested_doit(ctx: Context, args: list[str]) -> None:
    """Run doit again on the same dodo (and variables) under this run's lock."""
    variables = [f"{k}={v}" for k, v in ctx.cli_vars.items()]
    env = {**os.environ, **lock.child_env(ctx.state_dir)}
    code = interrupts.call_doit([sys.executable, "-m", "doit", "-f", str(ctx.root / "dodo.py"), *args, *variables],
                                env=env, pass_fds=lock.held_fds())  # holds the lock too; gets Ctrl-C/SIGTERM
    if code:
        raise StepError(f"`doit {' '.join(args)}` failed (exit {code})")


# --- validate --------------------------------------------------------------------------------------------------
def validate_phase(ctx: Context, model: Model, phase: int) -> None:
    """`validate_phase --phase N`. It needs its --phase: without one it must not quietly check every phase (the
    live checks of phase 1 connect to the nodes)."""
    check_phase(model, phase, "validate_phase")
    ctx.settings  # noqa: B018 - a bad configuration is reported once
    _validate(ctx, model, phase)


def validate(ctx: Context, model: Model) -> None:
    """`bootstrap_validate`: every live check of every phase."""
    _validate(ctx, model, 0)


def _validate(ctx: Context, model: Model, phase: int) -> None:
    failures = 0
    for comp, step in model.steps(phase):
        for check in reported_checks(ctx, comp.step_id(step.name), step):
            holds, reason = evaluate(comp.step_id(step.name), step, check)
            failures += not holds
            print(f"{'OK  ' if holds else 'FAIL'} {comp.step_id(step.name)}: {check.name} — {reason}")
    scope = f"phase {phase}" if phase else "all phases"
    if failures:
        note = lab_coming_back(ctx)
        raise StepError(f"{failures} live checks failed ({scope}); nothing was changed" + (f"; {note}" if note else ""))
    print(f"all live checks hold ({scope})")


def lab_coming_back(ctx: Context) -> str:
    """In lab mode, a note when the lab has just (re)started: failing checks may only mean it is not back yet."""
    if not ctx.endpoints.lab:
        return ""
    from hops.lab.lifecycle import coming_back

    return coming_back(ctx.endpoints.lab_info)
