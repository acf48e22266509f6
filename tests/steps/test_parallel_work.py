"""Independent work inside a step runs at once (hops.parallel) and still reports every problem in order; polls
end soon after their condition holds (hops.waiting.next_interval).

Overlap is proven, not timed: every scripted call waits on a barrier that only opens when all of them are in
flight together, so a serial step would break the barrier (and fail) instead of passing slowly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from hops import parallel, waiting
from hops.components import talos, validation
from hops.errors import StepError
from tests.steps import objects_f1 as o
from tests.steps.harness import Call, World
from tests.steps.test_talos_steps import answer, validate_answers

BARRIER_TIMEOUT_S = 10.0  # only reached when the calls do not overlap (the test then fails)


def together(count: int) -> Callable[[Call], None]:
    """An effect that returns only once `count` calls are inside it at the same time."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
    return lambda call: barrier.wait() and None


# --- hops.parallel ---------------------------------------------------------------------------------------------
def test_each_keeps_the_items_order_and_runs_them_at_once() -> None:
    gate = threading.Barrier(4, timeout=BARRIER_TIMEOUT_S)
    assert parallel.each(lambda n: (gate.wait(), n * n)[1], [1, 2, 3, 4]) == [1, 4, 9, 16]


def test_each_raises_the_first_failure_after_every_call_has_ended() -> None:
    ended: list[int] = []

    def work(n: int) -> int:
        if n in (2, 3):
            raise ValueError(f"item {n}")
        ended.append(n)
        return n

    with pytest.raises(ValueError, match="^item 2$"):
        parallel.each(work, [1, 2, 3, 4, 5])
    assert sorted(ended) == [1, 4, 5]


def test_each_runs_a_single_item_in_the_callers_thread() -> None:
    assert parallel.each(lambda _: threading.current_thread(), ["only"]) == [threading.current_thread()]


# --- phase 1: tool checks --------------------------------------------------------------------------------------
def test_tools_are_asked_at_once(world: World) -> None:
    effect = together(len(o.VERSION_OUTPUT))
    for tool, text in o.VERSION_OUTPUT.items():
        world.runner.answer(tool, *validation.VERSION_ARGS[tool], stdout=text, effect=effect)
    validation.tools(world.ctx)
    assert len(world.runner.calls) == len(o.VERSION_OUTPUT)


def test_tools_asked_at_once_report_every_problem_in_configuration_order(world: World) -> None:
    effect = together(len(o.VERSION_OUTPUT))
    wrong = {"talosctl": ("Client:\nTalos v1.8.2\n", 0), "cilium": ("cilium: not a version\n", 2),
             "op": ("[ERROR] 2024/11/30 op: bad install\n", 1)}
    for tool, text in o.VERSION_OUTPUT.items():
        out, code = wrong.get(tool, (text, 0))
        world.runner.answer(tool, *validation.VERSION_ARGS[tool], stdout=out, code=code, effect=effect)
    with pytest.raises(StepError) as failure:
        validation.tools(world.ctx)
    assert str(failure.value) == (
        "tools are missing or at the wrong version:\n"
        "  - `talosctl` reports '1.8.2', bootstrap-config.yaml tools.required.talosctl wants 1.8.3\n"
        "  - `cilium` failed to report its version (exit 2): cilium: not a version\n"
        "  - `op` failed to report its version (exit 1): [ERROR] 2024/11/30 op: bad install")


# --- phase 2: per-node work ------------------------------------------------------------------------------------
def test_validate_configs_validates_every_node_at_once(world: World) -> None:
    validate_answers(world)
    effect = together(len(o.NODES))
    for answer_ in world.runner.answers:
        answer_.effect = effect
    talos.validate_configs(world.ctx)
    assert len(world.runner.calls) == len(o.NODES)


def test_validate_configs_at_once_names_every_invalid_config_in_node_order(world: World) -> None:
    validate_answers(world, **{"talos-cp-3": "open x: no such file or directory\n",
                               "talos-cp-1": "1 error occurred:\n\t* machine.install.disk: required\n"})
    effect = together(len(o.NODES))
    for answer_ in world.runner.answers:
        answer_.effect = effect
    with pytest.raises(StepError) as failure:
        talos.validate_configs(world.ctx)
    assert str(failure.value) == (
        "machine configs are invalid:\n"
        "  - talos-cp-1 (home-ops-talos-cp-1.yaml): 1 error occurred:\n\t* machine.install.disk: required\n"
        "  - talos-cp-3 (home-ops-talos-cp-3.yaml): open x: no such file or directory")


def test_wait_nodes_ready_asks_every_pending_node_at_once(world: World, talos_apis: dict) -> None:
    effect = together(len(o.NODES))
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address), effect=effect)
    talos.wait_nodes_ready(world.ctx)
    assert len(world.runner.calls) == len(o.NODES)


# --- hops.waiting: the overshoot bound -------------------------------------------------------------------------
class FakeClock:
    """Monotonic time that moves only when the wait sleeps (and by `probe_s` per probe)."""

    def __init__(self, probe_s: float = 0.0) -> None:
        self.now, self.probe_s, self.probes = 1000.0, probe_s, 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def probe_when(self, ready_at: float) -> Callable[[], tuple[bool, str]]:
        def probe() -> tuple[bool, str]:
            self.probes += 1
            self.now += self.probe_s
            return self.now >= ready_at, "up" if self.now >= ready_at else "not yet"
        return probe


def poll_context(check_interval: float) -> SimpleNamespace:
    """What poll_until reads of a context: bootstrap.check_interval, and a log to say the status in."""
    return SimpleNamespace(config=SimpleNamespace(bootstrap=SimpleNamespace(check_interval=check_interval)),
                           log=SimpleNamespace(say=lambda text: None))


def wait_for(check_interval: float, clock: FakeClock, after: float) -> float:
    """How long after its condition held (it holds `after` seconds into the wait) poll_until returned."""
    start = clock.now
    waiting.poll_until(poll_context(check_interval), "the node", clock.probe_when(start + after), start + 3600,
                       clock=lambda: clock.now, sleep=clock.sleep)
    return clock.now - (start + after)


@pytest.mark.parametrize("after", [0.3, 2.0, 7.5, 19.0, 64.0, 300.0])
def test_a_poll_ends_within_a_tenth_of_its_length_after_the_condition(after: float) -> None:
    overshoot = wait_for(10, FakeClock(), after)
    assert overshoot <= max(waiting.FIRST_INTERVAL_S, waiting.OVERSHOOT_FRACTION * after) + 1e-9


def test_a_growing_back_off_alone_would_overshoot_the_bound() -> None:
    """The bound is what caps the interval: without the cap (the old back-off) a 19 s wait ends seconds late."""
    clock = FakeClock()
    uncapped = waiting.FIRST_INTERVAL_S
    slept = 0.0
    while slept < 19.0:  # the old schedule: double up to check_interval
        slept += uncapped
        uncapped = min(uncapped * 2, 10.0)
    assert slept - 19.0 > waiting.OVERSHOOT_FRACTION * 19.0  # the old overshoot breaks the bound ...
    assert wait_for(10, clock, 19.0) <= waiting.OVERSHOOT_FRACTION * 19.0  # ... the capped one keeps it


def test_a_long_poll_still_probes_at_most_once_per_check_interval() -> None:
    clock = FakeClock()
    wait_for(5, clock, 600.0)
    assert clock.probes <= 600 / 5 + 60  # sparse once the wait is long: not one probe per FIRST_INTERVAL_S


def gated_wait(clock: FakeClock, opens_after: float, holds_after: float) -> tuple[float, list[float]]:
    """A wait whose gate opens `opens_after` seconds in and whose condition holds `holds_after` seconds in: how
    late it returned, and when (seconds into the wait) the probe was asked."""
    start = clock.now
    asked: list[float] = []
    probe = clock.probe_when(start + holds_after)

    def recorded() -> tuple[bool, str]:
        asked.append(clock.now - start)
        return probe()

    waiting.poll_until(poll_context(10), "the node", recorded, start + 3600,
                       gate=lambda: (clock.now >= start + opens_after, "port closed"),
                       clock=lambda: clock.now, sleep=clock.sleep)
    return clock.now - (start + holds_after), asked


def test_a_closed_gate_holds_the_probe_back_and_is_seen_opening_at_once() -> None:
    overshoot, asked = gated_wait(FakeClock(), opens_after=150.0, holds_after=155.0)
    assert asked and min(asked) >= 150.0                       # never asked while the gate said no ...
    assert min(asked) <= 150.0 + waiting.GATE_FRACTION * 150.0 + 1e-9   # ... and asked as soon as it opened
    # the probe's back-off starts at the opening: a tenth of the 5 s since, not of the whole 155 s
    assert overshoot <= waiting.OVERSHOOT_FRACTION * 5.0 + waiting.GATE_FRACTION * 150.0 + 1e-9


def test_without_a_gate_the_same_wait_ends_up_to_a_tenth_of_its_whole_length_late() -> None:
    """What the gate buys: the plain back-off at 155 s probes every ~15 s, the gated one within a second."""
    plain = wait_for(10, FakeClock(), 155.0)
    gated, _ = gated_wait(FakeClock(), opens_after=150.0, holds_after=155.0)
    assert gated < plain


def test_next_interval_never_exceeds_the_check_interval_nor_the_fraction_of_the_wait() -> None:
    assert waiting.next_interval(8.0, 10.0, 1000.0) == 10.0
    assert waiting.next_interval(8.0, 10.0, 20.0) == pytest.approx(2.0)
    assert waiting.next_interval(0.05, 10.0, 0.0) == waiting.FIRST_INTERVAL_S


def test_talos_reset_wipes_every_node_at_once_and_names_each_refusal_in_node_order(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from doit.globals import Globals

    forgotten: list[str] = []
    monkeypatch.setattr(Globals, "dep_manager", SimpleNamespace(remove=forgotten.append))  # the running doit's
    effect = together(len(o.NODES))
    refusals = {o.NODES[0][1]: "rpc error: code = Unavailable desc = connection refused",
                o.NODES[2][1]: "rpc error: code = PermissionDenied desc = not authorized"}
    for _, address in o.NODES:
        answer(world, address, "reset", "--graceful=false", "--reboot", effect=effect,
               code=1 if address in refusals else 0, stderr=refusals.get(address, ""))
    with pytest.raises(StepError) as failure:
        talos.reset(world.ctx, talos.COMPONENT, yes=True)
    (first, first_address), _, (third, third_address) = o.NODES
    assert str(failure.value) == (
        "reset failed on:\n"
        f"  - {first} ({first_address}): rpc error: code = Unavailable desc = connection refused\n"
        f"  - {third} ({third_address}): rpc error: code = PermissionDenied desc = not authorized")
    assert forgotten == [talos.COMPONENT.step_id(s.name) for s in talos.COMPONENT.steps]


def test_talos_status_asks_every_node_at_once_and_shows_them_in_node_order(
        world: World, capsys: pytest.CaptureFixture) -> None:
    effect = together(len(o.NODES))
    answer(world, o.NODES[0][1], "etcd", "members", code=1, stderr="etcd is not running")
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address), effect=effect)
        answer(world, address, "get", "machinestatus", "-o", "json",
               stdout='{"spec": {"stage": "running", "status": {"ready": true}}}')
    talos.status(world.ctx)
    out = capsys.readouterr().out
    positions = [out.index(name) for name, _ in o.NODES]
    assert positions == sorted(positions) and out.count("running (ready)") == len(o.NODES)
