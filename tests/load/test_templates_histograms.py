"""Templates, HDR histograms and the exact merge of summaries."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from perfrun.api.load import AccountIds, LoadSpec
from perfrun.load.histograms import (
    decode,
    encode,
    latency_ms,
    merge,
    new_histogram,
    record_seconds,
    same_counts,
)
from perfrun.load.stats import Recorder
from perfrun.load.summary import build, merge_summaries
from perfrun.load.templates import AccountPicker, ScenarioPicker, Values, compile_scenarios


def _spec(scenarios: list[dict[str, Any]], **over: Any) -> LoadSpec:
    doc: dict[str, Any] = {
        "target": "http://127.0.0.1:1",
        "scenarios": scenarios,
        "accounts": {"min": 10, "max": 20},
        "budget": {"maxRps": 10, "maxInFlight": 2, "maxDuration": "1m"},
        "ramp": {"steps": [{"rate": 1, "hold": "1s"}]},
    }
    doc.update(over)
    return LoadSpec.model_validate(doc)


def test_path_and_body_placeholders_are_filled_and_exact_ones_become_numbers() -> None:
    [sc] = compile_scenarios(
        _spec(
            [
                {
                    "name": "w",
                    "weight": 1,
                    "method": "POST",
                    "path": "/a/{account}/items/{seq}",
                    "body": {"account": "{account}", "n": "{seq}", "ref": "x-{uuid}", "q": 1},
                }
            ]
        )
    )
    v = Values(account=17, seq=42)
    assert sc.render_path(v) == "/a/17/items/42"
    body = json.loads(sc.render_body(v) or b"")
    assert body["account"] == 17 and body["n"] == 42 and body["q"] == 1
    assert body["ref"].startswith("x-") and len(body["ref"]) == 38
    assert sc.headers["Content-Type"] == "application/json"
    assert sc.ok(200) and sc.ok(302) and not sc.ok(404)


def test_expected_statuses_replace_the_2xx_3xx_default() -> None:
    [sc] = compile_scenarios(
        _spec([{"name": "a", "weight": 1, "path": "/", "expectStatus": [201]}])
    )
    assert sc.ok(201) and not sc.ok(200)


def test_weights_are_honoured() -> None:
    scs = compile_scenarios(
        _spec([{"name": "a", "weight": 3, "path": "/a"}, {"name": "b", "weight": 1, "path": "/b"}])
    )
    picker = ScenarioPicker(scs, random.Random(1))
    counts = Counter(picker.pick().name for _ in range(20_000))
    assert counts["a"] / 20_000 == pytest.approx(0.75, abs=0.015)


def test_zipf_accounts_stay_in_range_and_favour_the_whales() -> None:
    ids = AccountIds.model_validate({"min": 1, "max": 1000, "distribution": "zipf"})
    picker = AccountPicker(ids, random.Random(7))
    draws = [picker.pick() for _ in range(20_000)]
    assert min(draws) >= 1 and max(draws) <= 1000
    counts = Counter(draws)
    # rank 1 of a Zipf(1.1) over 1000 ids takes ~1/H(1000, 1.1) ~ 16% of draws
    assert 0.12 < counts[1] / 20_000 < 0.20
    assert counts[1] > 5 * counts[10]


def test_zipf_over_a_huge_range_uses_the_continuous_form() -> None:
    ids = AccountIds.model_validate({"min": 5, "max": 10**9, "distribution": "zipf"})
    picker = AccountPicker(ids, random.Random(3))
    draws = [picker.pick() for _ in range(5000)]
    assert all(5 <= d <= 10**9 for d in draws)
    assert sum(d < 105 for d in draws) > len(draws) * 0.3


def test_uniform_accounts_cover_the_range() -> None:
    ids = AccountIds.model_validate({"min": 10, "max": 20, "distribution": "uniform"})
    picker = AccountPicker(ids, random.Random(3))
    assert {picker.pick() for _ in range(2000)} == set(range(10, 21))


def test_account_in_a_body_without_accounts_names_the_field() -> None:
    from perfrun.load.config import ConfigError, parse_load

    doc = _spec([{"name": "a", "weight": 1, "path": "/"}]).to_wire()
    doc.pop("accounts")
    doc["scenarios"][0]["body"] = {"id": "{account}"}
    with pytest.raises(ConfigError, match=r"load\.scenarios\[0\]\.body: uses \{account\}"):
        parse_load(doc)


def test_merged_histograms_equal_one_histogram_of_all_values() -> None:
    rng = random.Random(11)
    values = [rng.lognormvariate(-3.0, 1.0) for _ in range(40_000)]
    whole = new_histogram()
    parts = [new_histogram() for _ in range(4)]
    for i, v in enumerate(values):
        record_seconds(whole, v)
        record_seconds(parts[i % 4], v)
    merged = merge(encode(p) for p in parts)
    assert same_counts(merged, whole)
    assert latency_ms(merged) == latency_ms(whole)
    assert same_counts(decode(encode(whole)), whole)


def _summary(index: int, latencies: list[float], statuses: list[int]) -> dict[str, Any]:
    rec = Recorder(["a", "b"], frozenset({429}))
    for i, (lat, st) in enumerate(zip(latencies, statuses, strict=True)):
        rec.attempt(i % 2, st, None, retry=False)
        rec.complete(i % 2, lat, st < 400)
    return build(
        recorder=rec,
        pod={"index": index, "count": 4},
        model="open",
        outcome="completed" if index else "interrupted",
        started_at=f"2026-01-01T00:00:0{index}",
        ended_at=f"2026-01-01T00:01:0{index}",
        duration_s=60.0,
        steps=[{"step": 0, "sent": len(latencies)}],
        decisions=[{"atSeconds": 5.0, "action": "stepDown"}] if index == 2 else [],
        creations={"accounts": index, "rows": 2 * index},
        target={"url": "http://x", "reachable": True, "lastError": None},
    )


def test_four_merged_summaries_equal_one_summary_of_all_requests() -> None:
    rng = random.Random(5)
    lats = [[rng.uniform(0.001, 0.5) for _ in range(2500)] for _ in range(4)]
    stats = [[rng.choice([200, 200, 200, 429, 503]) for _ in range(2500)] for _ in range(4)]
    parts = [_summary(i, lats[i], stats[i]) for i in range(4)]
    merged = merge_summaries(json.loads(json.dumps(parts)))  # through JSON, as from pods
    everything = _summary(0, [x for p in lats for x in p], [x for p in stats for x in p])
    assert same_counts(decode(merged["histogram"]), decode(everything["histogram"]))
    assert merged["latencyMs"] == everything["latencyMs"]
    assert merged["statusCodes"] == everything["statusCodes"]
    for k in ("requests", "ok", "failed", "attempts"):
        assert merged[k] == everything[k]
    assert merged["errorRate"] == everything["errorRate"]
    assert [p["index"] for p in merged["pods"]] == [0, 1, 2, 3]
    assert merged["outcome"] == "interrupted"  # the worst pod's
    assert merged["decisions"] == [{"atSeconds": 5.0, "action": "stepDown", "pod": 2}]
    assert merged["creations"] == {"accounts": 6, "rows": 12}
    assert set(merged["scenarios"]) == {"a", "b"}
    assert merged["scenarios"]["a"]["requests"] + merged["scenarios"]["b"]["requests"] == 10_000


def test_merge_refuses_nothing_and_unknown_versions() -> None:
    with pytest.raises(ValueError):
        merge_summaries([])
    with pytest.raises(ValueError, match="version"):
        merge_summaries([{"version": 99}])
