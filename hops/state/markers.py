"""Marker files: one per bootstrap step under the state dir, written when the step completes.

A marker holds JSON (step, completed_at, duration_s, run_id, note) so `bootstrap_status` can show when and how long."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class MarkerRecord:
    step: str
    completed_at: str
    duration_s: float
    note: str = ""

    @property
    def age_s(self) -> float:
        return time.time() - datetime.fromisoformat(self.completed_at).timestamp()


def write(path: Path, step: str, duration_s: float, run_id: str, note: str = "") -> None:
    """Atomically write the marker (a kill mid-write never leaves a truncated marker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "step": step,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "run_id": run_id,
        "note": note,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)


def read(path: Path) -> MarkerRecord | None:
    """The marker's record; a marker left by hand (touch) or by an older version still counts as present."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return MarkerRecord(data["step"], data["completed_at"], float(data["duration_s"]), data.get("note", ""))
    except (ValueError, KeyError, TypeError):
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
        return MarkerRecord(path.name, mtime, 0.0, "marker without a record")


def remove(path: Path) -> bool:
    """Delete the marker; True when it existed."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
