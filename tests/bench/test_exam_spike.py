"""bench/exam_spike.py's ``--rounds``: both databases' samples of every round pooled per request
kind, PostgreSQL's pooled p95 ÷ SQLite's, and each round's own ratio beside it."""
from __future__ import annotations

import pytest

from bench.exam_spike import MEMBER_KINDS, pct, pooled_comparison


def _run(db: str, number: int, seconds: list[float]) -> tuple[dict, dict]:
    result = {"db": db, "round": number}
    result.update({f"{kind}_p95_ms": pct(seconds, 95) for kind in MEMBER_KINDS})
    return result, {kind: list(seconds) for kind in MEMBER_KINDS}


def test_rounds_are_pooled_and_each_round_keeps_its_own_ratio():
    fast, slow = [0.010] * 90 + [0.020] * 10, [0.010] * 90 + [0.040] * 10
    # Round 1: PostgreSQL's host burst doubles its p95; round 2 (B A): SQLite's does.
    runs = [_run("SQLite", 1, fast), _run("PostgreSQL", 1, slow), _run("PostgreSQL", 2, fast), _run("SQLite", 2, slow)]
    pooled = pooled_comparison([r for r, _ in runs], [t for _, t in runs])
    assert pooled["rounds"] == 2
    for kind in MEMBER_KINDS:
        assert pooled[f"{kind}_sqlite_n"] == pooled[f"{kind}_pg_n"] == 200
        assert pooled[f"{kind}_round_ratios"] == [2.0, 0.5]
        # 200 samples each, twenty slow ones in each, ten of them 20 ms: equal pooled p95s.
        assert pooled[f"{kind}_sqlite_p95_ms"] == pooled[f"{kind}_pg_p95_ms"] == pytest.approx(20.0)
        assert pooled[f"{kind}_p95_ratio"] == pytest.approx(1.0)
    assert pooled["max_p95_ratio"] == pytest.approx(1.0)
    assert pooled["rounds_within_1_5"] == 1  # round 1 missed


def test_a_slower_database_shows_in_the_pooled_ratio():
    fast, slow = [0.010] * 100, [0.030] * 100
    runs = [_run("SQLite", 1, fast), _run("PostgreSQL", 1, slow), _run("PostgreSQL", 2, slow), _run("SQLite", 2, fast)]
    pooled = pooled_comparison([r for r, _ in runs], [t for _, t in runs])
    assert pooled["max_p95_ratio"] == pytest.approx(3.0)
    assert pooled["start_round_ratios"] == [3.0, 3.0] and pooled["rounds_within_1_5"] == 0
