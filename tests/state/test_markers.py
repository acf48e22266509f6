"""Marker files: atomic JSON records, tolerant reads, removal."""

from __future__ import annotations

import json
from pathlib import Path

from hops.state import markers


def test_write_then_read_returns_the_record(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cilium-ready"
    markers.write(path, "networking:wait", 12.3456, "run-1", "note")
    record = markers.read(path)
    assert record is not None
    assert (record.step, record.duration_s, record.note) == ("networking:wait", 12.346, "note")
    assert json.loads(path.read_text())["run_id"] == "run-1"
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed into place
    assert record.age_s >= 0


def test_a_missing_marker_reads_as_none_and_a_hand_made_one_counts(tmp_path: Path) -> None:
    assert markers.read(tmp_path / "nothing") is None
    (tmp_path / "touched").touch()
    record = markers.read(tmp_path / "touched")
    assert record is not None and record.note == "marker without a record" and record.step == "touched"


def test_remove_says_whether_it_existed(tmp_path: Path) -> None:
    markers.write(tmp_path / "m", "a:b", 1.0, "r")
    assert markers.remove(tmp_path / "m") is True
    assert markers.remove(tmp_path / "m") is False
