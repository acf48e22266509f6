"""One deadline per phase and invocation (hops.phase_clock): every step action and wait of a phase ends at the
instant its first step started plus bootstrap.timeouts.<group>; a new invocation starts afresh."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hops import deadlines, invocation, phase_clock
from hops.waiting import deadline_for


class Ctx:
    """What the deadline code reads of a context: the state folder and the phases' timeouts."""

    def __init__(self, state_dir: Path, **timeouts: float) -> None:
        self.state_dir = state_dir
        self.config = SimpleNamespace(bootstrap=SimpleNamespace(timeouts=SimpleNamespace(**timeouts)))

    def timeout(self, group: str) -> float:
        return float(getattr(self.config.bootstrap.timeouts, group))


@pytest.fixture(autouse=True)
def fresh_invocation() -> None:
    invocation.begin("run", ["bootstrap_phased"], records=False)
    phase_clock.reset()
    yield
    invocation.reset()
    phase_clock.reset()


def test_waits_of_one_phase_share_its_deadline(tmp_path: Path) -> None:
    ctx = Ctx(tmp_path, talos=1800, networking=600)
    first = deadline_for(ctx, "talos")
    assert deadline_for(ctx, "talos") == pytest.approx(first, abs=0.01)  # not now + 1800 again
    assert first - time.monotonic() <= 1800
    other = deadline_for(ctx, "networking")
    assert other - time.monotonic() == pytest.approx(600, abs=5)     # another phase: its own timeout


def test_step_actions_and_waits_of_a_phase_end_together(tmp_path: Path) -> None:
    ctx = Ctx(tmp_path, talos=1800)
    seen = [deadlines.step_action(ctx, "talos:wait-nodes-ready", lambda c: (deadlines.current(),
                                                                          deadline_for(c, "talos")))]
    seen.append(deadlines.step_action(ctx, "talos:cluster-ready", lambda c: (deadlines.current(),
                                                                          deadline_for(c, "talos"))))
    values = [v for pair in seen for v in pair]
    assert max(values) - min(values) < 0.01


def test_processes_of_one_invocation_agree_through_the_state_folder(tmp_path: Path) -> None:
    ctx = Ctx(tmp_path, talos=1800)
    first = phase_clock.epoch_deadline(tmp_path, "talos", 1800)
    phase_clock.reset()  # as a forked `-n` worker that has not cached it
    assert phase_clock.epoch_deadline(tmp_path, "talos", 1800) == first
    assert json.loads((tmp_path / phase_clock.FILE).read_text())["run"] == invocation.run_id()
    assert deadline_for(ctx, "talos") == pytest.approx(time.monotonic() + first - time.time(), abs=0.05)


def test_a_new_invocation_starts_fresh_deadlines(tmp_path: Path) -> None:
    stale = {"run": "20200101-000000-1", "phases": {"talos": time.time() - 5}}  # a killed run's, long past
    (tmp_path / phase_clock.FILE).write_text(json.dumps(stale))
    assert deadline_for(Ctx(tmp_path, talos=1800), "talos") - time.monotonic() == pytest.approx(1800, abs=5)


def test_an_unreadable_record_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / phase_clock.FILE).write_text("{not json")
    assert deadline_for(Ctx(tmp_path, talos=60), "talos") - time.monotonic() == pytest.approx(60, abs=5)
