"""hops.collector: no cyclic collection while long-lived objects are built, frozen afterwards, then as usual."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hops import collector


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gc.unfreeze()  # the test process's objects back in the collected generations
    gc.enable() if was else gc.disable()


def test_paused_collects_nothing_inside_then_freezes_and_resumes() -> None:
    gc.enable()
    gc.unfreeze()
    with collector.paused():
        assert not gc.isenabled()
        kept = [[] for _ in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)


def test_paused_leaves_a_collector_someone_else_turned_off_as_it_is() -> None:
    gc.disable()
    gc.unfreeze()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_importing_pauses_only_the_first_import() -> None:
    gc.enable()
    gc.unfreeze()
    with collector.importing("gc"):  # imported already: nothing to pause
        assert gc.isenabled()
    with collector.importing("hops_module_never_imported"):
        assert not gc.isenabled()
    assert gc.isenabled()
