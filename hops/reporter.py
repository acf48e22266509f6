"""doit reporter for hops: doit's console output, plus taking the run lock in the main doit process before any
worker starts, so `doit -n N` workers (forked) share it and a second hops run on the same cluster is refused."""

from __future__ import annotations

from typing import Any

from doit.reporter import ConsoleReporter


class HopsReporter(ConsoleReporter):
    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        super().initialize(tasks, selected_tasks)
        if all(_read_only(tasks.get(name)) for name in selected_tasks):
            return  # status, logs and the lab's lifecycle may run beside a bootstrap
        from hops import context
        from hops.endpoints import state_dir
        from hops.state import lock

        from doit.exceptions import InvalidCommand

        try:
            lock.acquire(state_dir(context.root()))
        except lock.LockBusy as exc:
            raise InvalidCommand(str(exc)) from None


def _read_only(task: Any) -> bool:
    return bool(task is not None and (task.meta or {}).get("hops_read_only"))
