"""The doit command importing dodo.py, read from the call stack: doit imports dodo.py inside
`DoitCmdBase.execute(self, params, args)`, whose frame holds the command object (already chosen and parsed by
doit), its parsed options and the positional arguments. Kept apart (it imports nothing of hops) so that the
cheapest path, `doit list` served from its kept copy (hops.task_list_cache), can use it too."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any


def doit_command() -> tuple[Any, Any, list[str]] | None:
    """(command object, parsed params, positional args) of the doit command importing dodo.py, or None."""
    from doit.cmd_base import DoitCmdBase

    code = DoitCmdBase.execute.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        cmd = frame.f_locals.get("self")
        if frame.f_code is code and isinstance(cmd, DoitCmdBase):
            return cmd, frame.f_locals.get("params"), [str(a) for a in frame.f_locals.get("args") or ()]
        frame = frame.f_back
    return None
