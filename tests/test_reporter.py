"""hops.reporter: doit's console output, and no part in the run lock (hops.runguard takes it for every reporter)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from doit.reporter import ConsoleReporter
from doit.task import Task

from hops.reporter import HopsReporter
from hops.state import lock

HOLD = "import sys; from pathlib import Path; from hops.state import lock; lock.acquire(Path(sys.argv[1])); " \
       "print('held', flush=True); sys.stdin.readline()"


def report(reporter_class: type, tasks: dict[str, Task]) -> str:
    out = io.StringIO()
    reporter = reporter_class(out, {"verbosity": 2, "failure_verbosity": 0})
    reporter.initialize(tasks, list(tasks))
    for task in tasks.values():
        reporter.execute_task(task) if task.name.endswith("run") else reporter.skip_uptodate(task)
    reporter.complete_run()
    return out.getvalue()


def test_output_is_doits_console_output() -> None:
    tasks = {name: Task(name, ["true"]) for name in ("demo:run", "demo:skip")}
    assert report(HopsReporter, tasks) == report(ConsoleReporter, tasks) == ".  demo:run\n-- demo:skip\n"


def test_initialize_takes_no_lock_even_for_state_changing_tasks(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        report(HopsReporter, {"demo:run": Task("demo:run", ["true"])})   # beside a held lock: no refusal here
        assert lock.held_fds() == ()
    finally:
        holder.communicate("\n", timeout=30)


# --- hops's failures as hops wrote them ------------------------------------------------------------------------
def failing(reporter_class: type, task: Task, fail, runtime_error: str = "", failure_verbosity: int = 0) -> str:
    out = io.StringIO()
    reporter = reporter_class(out, {"verbosity": 2, "failure_verbosity": failure_verbosity})
    reporter.initialize({task.name: task}, [task.name])
    reporter.execute_task(task)
    task.executed = True
    reporter.add_failure(task, fail)
    if runtime_error:
        reporter.runtime_error(runtime_error)
    reporter.complete_run()
    return out.getvalue()


HOPS_FAILURE = ("talos:health: timed out waiting for etcd members: 1 of 3\ndiagnostics: /s/diag\nlog: /s/l.log\n"
                "re-run the same command to resume from this step")


def test_a_hops_failure_is_printed_once_as_written() -> None:
    from doit.exceptions import TaskFailed

    shown = failing(HopsReporter, Task("talos:health", ["true"]), TaskFailed(HOPS_FAILURE), failure_verbosity=2)
    assert shown == ".  talos:health\n" + HOPS_FAILURE + "\n"
    assert "TaskFailed" not in shown and "#####" not in shown


def test_a_failure_hops_did_not_build_keeps_doits_prefix() -> None:
    from doit.exceptions import TaskError

    shown = failing(HopsReporter, Task("demo:x", ["false"], verbosity=2), TaskError("Command failed: 'false' returned 1"))
    assert "TaskError - taskid:demo:x\nCommand failed" in shown


def test_a_cancelled_confirmation_is_one_line() -> None:
    from doit.exceptions import TaskFailed

    fail = TaskFailed("bootstrap_reset: bootstrap_reset cancelled: nothing was changed\nlog: /s/logs/x.log")
    shown = failing(HopsReporter, Task("bootstrap_reset", ["true"]), fail)
    assert shown == ".  bootstrap_reset\nbootstrap_reset cancelled: nothing was changed\n"


def test_doits_own_errors_stay_visible() -> None:
    from doit.exceptions import TaskFailed

    shown = failing(HopsReporter, Task("demo:x", ["true"]), TaskFailed("demo:x: it broke"),
                    runtime_error="Dependent task 'demo:y' failed")
    assert "demo:x: it broke\n" in shown and "Execution aborted.\nDependent task 'demo:y' failed" in shown
