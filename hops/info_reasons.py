"""`doit info TASK`'s "why it would run", in hops's words.

doit compares a task's file dependencies with the record of its last successful run; when there is no such
record (the step never ran, or `doit forget` dropped it) it says every file "has changed", which sends users
looking for an edit they never made. Every hops step carries hops.actions.RunOnce, which is false exactly when
there is no record: then the files are reported as "not recorded yet". hops.runguard installs `describe` as the
info command's `get_reasons` (doit calls `self.get_reasons(status.reasons)`; nothing else of doit changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SENTENCES = {
    "missing_target": "These targets do not exist:",
    "changed_file_dep": "These file dependencies have changed since the last successful run:",
    "missing_file_dep": "These file dependencies are missing:",
    "removed_file_dep": "These file dependencies were removed:",
    "added_file_dep": "These file dependencies were added:",
}
NEVER_RAN = ("No successful run is recorded (it never ran, or `doit forget` dropped the record); its file "
             "dependencies are recorded when it next succeeds:")


def describe(reasons: Mapping[str, Any]) -> str:
    """The lines doit prints under `status : run`."""
    from hops.actions import RunOnce

    lines = []
    if reasons.get("has_no_dependencies"):
        lines.append(" * The task has no dependencies: it always runs.")
    false = [utd for utd, _args, _kwargs in reasons.get("uptodate_false") or ()]
    never_ran = any(isinstance(utd, RunOnce) for utd in false)
    if false:
        lines.append(" * These up-to-date checks do not hold:")
        lines += [f"    - {utd}" for utd in false]
    if reasons.get("checker_changed"):
        before, after = reasons["checker_changed"]
        lines.append(f" * The file_dep checker changed from {before} to {after}.")
    for reason, sentence in SENTENCES.items():
        entries = reasons.get(reason)
        if entries:
            lines.append(f" * {NEVER_RAN if never_ran and reason == 'changed_file_dep' else sentence}")
            lines += [f"    - {entry}" for entry in entries]
    return "\n".join(lines)


def install(command: Any) -> None:
    """Make doit's info command describe reasons with `describe` (see the module docstring)."""
    if hasattr(command, "get_reasons"):
        command.get_reasons = describe
