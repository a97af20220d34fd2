"""The collector is paused during a dispatch and restored after it, also when nested."""

from __future__ import annotations

import gc

from parallel_execution.dispatcher import dispatch
from parallel_execution.run.gcpause import GcPause, paused_gc


def test_paused_and_restored_when_nested() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_restored_after_an_exception_and_left_alone_when_disabled_before() -> None:
    try:
        with paused_gc():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # not enabled by us if the caller had it off
    finally:
        gc.enable()


def test_tick_collects_cyclic_garbage_only_when_due() -> None:
    import weakref

    class Node:
        def __init__(self) -> None:
            self.me = self

    with paused_gc():
        node = Node()
        alive = weakref.ref(node)
        del node
        GcPause(interval=3600).tick()
        assert alive() is not None  # not due: nothing collected, the cycle lives on
        GcPause(interval=0.0).tick()
        assert alive() is None  # due: the cycle is collected


def test_dispatch_restores_the_collector(tmp_path) -> None:
    result = dispatch({"tasks": [{"task_id": "a", "agent": "echo"}], "config": {"trace_dir": str(tmp_path)}})
    assert result.status == "success"
    assert gc.isenabled()


def test_promote_moves_what_the_pause_allocated_to_the_oldest_generation() -> None:
    gc.collect()
    with paused_gc(promote=True):
        kept = [[i] for i in range(5000)]  # young objects the pause allocated
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 100  # nothing left young to walk
    assert any(o is kept for o in gc.get_objects(generation=2))
