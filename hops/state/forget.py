"""Forgetting steps: their records in doit's dependency DB and their marker files, together."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hops.state import markers


def forget_and_unmark(state_dir: Path, step_ids: Iterable[str], marker_names: Iterable[str]) -> int:
    """Forget the steps in doit's DB (the durable backend commits at once) and delete the markers; returns how
    many markers existed. Must run inside a doit task (it uses the running doit's dependency manager)."""
    from doit.globals import Globals

    for step_id in step_ids:
        Globals.dep_manager.remove(step_id)
    return sum(bool(markers.remove(state_dir / name)) for name in marker_names)
