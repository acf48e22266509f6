"""hops.read_ahead: a query started early answers its check once, unless a step acted since; its error reaches the
check; a forked process asks afresh; only the declared checks of steps marked done start, once per process."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from hops import read_ahead
from hops.read_ahead import ReadAhead


def test_a_started_query_answers_once() -> None:
    calls: list[str] = []
    ahead = ReadAhead()
    ahead.start("k", lambda: calls.append("early") or "early answer")
    ahead.start("k", lambda: calls.append("twice") or "never")  # one query per key
    assert ahead.answer("k", lambda: calls.append("now") or "now answer") == "early answer"
    assert ahead.answer("k", lambda: calls.append("now") or "now answer") == "now answer"
    assert calls == ["early", "now"]


def test_the_asker_waits_for_a_query_still_running() -> None:
    release = threading.Event()
    ahead = ReadAhead()
    ahead.start("k", lambda: release.wait(10) and "finished")
    threading.Timer(0.05, release.set).start()
    assert ahead.answer("k", lambda: "asked again") == "finished"


def test_after_invalidate_the_check_asks_again() -> None:
    ahead = ReadAhead()
    ahead.start("k", lambda: "before the step acted")
    ahead.invalidate()
    assert ahead.answer("k", lambda: "after") == "after"


def test_a_failed_query_raises_in_the_asker() -> None:
    ahead = ReadAhead()

    def fails() -> Any:
        raise RuntimeError("talosctl could not be started")

    ahead.start("k", fails)
    with pytest.raises(RuntimeError, match="could not be started"):
        ahead.answer("k", lambda: "unused")


def test_a_forked_process_asks_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = ReadAhead()
    ahead.start("k", lambda: "the parent's")
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert ahead.answer("k", lambda: "the child's") == "the child's"


def test_begin_starts_the_declared_queries_of_marked_steps_once(tmp_path: Path) -> None:
    started: list[str] = []
    done, pending = tmp_path / "health-done", tmp_path / "other-done"
    done.write_text("")
    read_ahead.declare([(done, lambda ctx: started.append("health")), (pending, lambda ctx: started.append("other"))])
    try:
        read_ahead.begin(None)  # type: ignore[arg-type]
        read_ahead.begin(None)  # type: ignore[arg-type]
    finally:
        read_ahead.declare([])
    assert started == ["health"]
