"""doit reporter for hops: doit's console output, but hops's own failures as hops wrote them.

doit's ConsoleReporter prints `TaskFailed - taskid:<id>` before every failure and, at the end, `####…` rulers
around output it already showed. A failure hops built (hops.results: `<task id>: <message>`, diagnostics, log,
resume hint) is printed as it is, once; a cancelled confirmation (`bootstrap_reset` answered "n") is one line.
Everything else doit reports stays as doit prints it: a failure hops did not build (an unmet dependency, an
action that is not hops's), and doit's own errors at the end (`Execution aborted.` and why).

At the end of a run it records the run's result in the run history (hops.history) and the metrics file. The
run lock is hops.runguard's (any reporter, `-r json` too); a run with another reporter gets its end recorded
when the process exits (hops.history.begin_run)."""

from __future__ import annotations

import re
from typing import Any

from doit.reporter import ConsoleReporter

CANCELLED = re.compile(r"^\S+ cancelled\b")
CONFIG_PROBLEM = "invalid configuration:\n"


def hops_message(task_name: str, message: str) -> str | None:
    """The text to print for a failure hops built (None: not hops's, leave it to doit)."""
    if message.startswith(CONFIG_PROBLEM):
        return message  # hops.results: found by the first step that loaded it, reported as what it is
    prefix = f"{task_name}: "
    if not message.startswith(prefix):
        return None
    body = message[len(prefix):]
    if CANCELLED.match(body):
        return body.splitlines()[0]  # the cancellation says it all; no log path, no resume hint
    return message


class HopsReporter(ConsoleReporter):
    """doit's ConsoleReporter (DOIT_CONFIG "reporter") with hops's failures printed as hops wrote them."""

    def add_failure(self, task: Any, fail: Any) -> None:
        text = hops_message(task.name, fail.get_msg() if fail.report else "")
        if text is None:
            super().add_failure(task, fail)
            return
        self.failures.append({"task": task, "exception": fail, "hops": True})
        self.write(text.rstrip("\n") + "\n")

    failures: list[dict[str, Any]]

    def complete_run(self) -> None:
        ours: list[dict[str, Any]] = self.failures
        self.failures = [f for f in ours if not f.get("hops")]  # doit's end summary: only failures it printed
        try:
            super().complete_run()
        finally:
            self.failures = ours
        _record_end(self.failures, self.runtime_errors)


def _record_end(failures: list[dict[str, Any]], runtime_errors: list[str]) -> None:
    """The run's end in the history and the metrics file (only for a run the history recorded)."""
    from hops import invocation, run_end

    if not invocation.current().records or not invocation.is_main_process():
        return
    message = ""
    if failures:
        message = str(failures[0]["exception"].get_msg()).strip()
    elif runtime_errors:
        message = "\n".join(runtime_errors)
    run_end.finish("failed" if failures or runtime_errors else "ok", message)
