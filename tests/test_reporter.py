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
