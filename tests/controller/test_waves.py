"""A run's environment applied in waves (controller/waves.py): what runs pods only after
everything else, a wave's writes side by side, all runs' writes under one bound."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tests.render.helpers import EXAMPLE_NAMES, context, example, make_run

from perfrun.api import PerfRun
from perfrun.controller.refusal import ObjectRefusedError, Refusal
from perfrun.controller.waves import BINDING_KINDS, WORKLOAD_KINDS, Waves, apply_in_waves, waves
from perfrun.render.all import environment

FENCE_AND_REFERENCED = ("ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount",
                        "Role", "Secret", "ConfigMap", "Service")  # fmt: skip


def _wave_of(m: dict[str, Any]) -> int:
    return 2 if m["kind"] in WORKLOAD_KINDS else 1 if m["kind"] in BINDING_KINDS else 0


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_pod_maker_comes_after_everything_else(name: str) -> None:
    run: PerfRun = make_run(example(name))
    manifests = environment(run, context(run))
    found = waves(manifests)
    # every object once, the given order kept within a wave
    assert [m for wave in found for m in wave] == sorted(manifests, key=_wave_of)
    first, bindings, last = found
    assert {m["kind"] for m in last} <= WORKLOAD_KINDS
    assert {m["kind"] for m in first} == set(FENCE_AND_REFERENCED) & {m["kind"] for m in manifests}
    assert {"Deployment"} <= {m["kind"] for m in last}
    # a RoleBinding only once its Role exists: a least-privilege operator may bind only a
    # Role the API server can find (RBAC's escalation check)
    assert {m["kind"] for m in bindings} == {"RoleBinding"}
    roles = {m["metadata"]["name"] for m in first if m["kind"] == "Role"}
    assert {m["roleRef"]["name"] for m in bindings if m["roleRef"]["kind"] == "Role"} <= roles


def test_no_empty_wave() -> None:
    assert waves([]) == []
    assert waves([{"kind": "Service"}]) == [[{"kind": "Service"}]]
    assert waves([{"kind": "Job"}]) == [[{"kind": "Job"}]]


def _manifest(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}}


def test_a_waves_writes_overlap_and_the_next_wave_waits_for_them() -> None:
    wave_one = [_manifest("Service", f"s{i}") for i in range(4)]
    wave_two = [_manifest("Deployment", f"d{i}") for i in range(2)]
    together = threading.Barrier(4, timeout=5)  # breaks unless the 4 Services run at once
    done: list[str] = []
    lock = threading.Lock()

    def apply(m: dict[str, Any]) -> None:
        if m["kind"] == "Service":
            together.wait()
            time.sleep(0.05)
        else:
            with lock:
                assert sum(d.startswith("s") for d in done) == 4, "a workload before a Service"
        with lock:
            done.append(m["metadata"]["name"])

    pool = Waves(8)
    try:
        apply_in_waves(wave_two[:1] + wave_one + wave_two[1:], apply, pool)
    finally:
        pool.shutdown()
    assert sorted(done[:4]) == ["s0", "s1", "s2", "s3"] and sorted(done[4:]) == ["d0", "d1"]


def test_all_runs_share_one_bound() -> None:
    pool = Waves(2)
    running, most = 0, 0
    lock = threading.Lock()

    def apply(_m: dict[str, Any]) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    runs = [
        threading.Thread(
            target=apply_in_waves,
            args=([_manifest("Secret", f"{r}-{i}") for i in range(6)], apply, pool),
        )
        for r in range(5)
    ]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    pool.shutdown()
    # each run's own thread writes one object of its wave; the others wait for the pool
    assert most <= len(runs) + pool.workers


def test_a_failed_write_stops_before_the_next_wave_and_a_refusal_wins() -> None:
    written: list[str] = []
    lock = threading.Lock()
    refusal = Refusal("Service", "s2", 422, "bad port")

    def apply(m: dict[str, Any]) -> None:
        name = m["metadata"]["name"]
        if name == "s1":
            raise OSError("connection reset")
        if name == "s2":
            time.sleep(0.05)  # ends last: the error is raised only after every write ended
            raise ObjectRefusedError(refusal)
        with lock:
            written.append(name)

    pool = Waves(4)
    manifests = [_manifest("Service", f"s{i}") for i in range(4)] + [_manifest("Deployment", "d")]
    with pytest.raises(ObjectRefusedError) as raised:
        apply_in_waves(manifests, apply, pool)
    pool.shutdown()
    assert raised.value.refusal == refusal
    assert sorted(written) == ["s0", "s3"]  # the wave's other writes done, no workload


def test_without_a_pool_one_after_another_in_the_given_order() -> None:
    seen: list[str] = []
    manifests = [_manifest("Deployment", "d"), _manifest("Service", "s")]
    apply_in_waves(manifests, lambda m: seen.append(m["metadata"]["name"]), None)
    assert seen == ["d", "s"]
