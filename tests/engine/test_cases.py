"""Runs the lawyer-readable cases in tests/engine/cases/<regime>.yaml against the real library.

Each case gives an as-of date, the facts, and the expected status and test outcomes. A case may
name a `version` to preview a version that was never in force (a proposal, a vetoed bill), and
`hypothetical: true` to apply the law of the as-of date to the subject as it stands today. `facts`
may carry the subject's `designations` (as a snapshot does); `expect` may name the `tier` reached,
words the `reason` (not_applicable) must contain, and words a note must.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from rules.engine.evaluate import evaluate
from rules.engine.yamlsafe import load_strict

from .snapshots import snapshot_from_facts

CASES = Path(__file__).resolve().parent / "cases"


def _cases() -> list:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        document = load_strict(path.read_text(encoding="utf-8"), origin=str(path))
        for case in document["cases"]:
            params.append(pytest.param(document["regime"], case, id=f"{path.stem}: {case['name']}"))
    return params


def _explain(evaluation) -> str:
    return json.dumps([{key: test[key] for key in ("id", "outcome", "value", "low", "high", "operator",
                                                    "threshold", "method", "formula", "missing")}
                       for test in evaluation.to_dict()["tests"]], indent=1, default=str)


@pytest.mark.parametrize(("regime", "case"), _cases())
def test_case(real_library, regime: str, case: dict) -> None:
    as_of = date.fromisoformat(case["as_of"])
    # a case naming a version previews it; otherwise the published version in force on as_of
    preview = case.get("version")
    version = real_library.get(regime, preview) if preview else real_library.in_force(regime, as_of)
    evaluation = evaluate(snapshot_from_facts(case["facts"]), version=version, regime=regime, as_of=as_of,
                          hypothetical=case.get("hypothetical", False))
    expect = case["expect"]
    why = _explain(evaluation)
    assert evaluation.status == expect["status"], why
    if "tier" in expect:
        assert evaluation.tier == expect["tier"], f"tier {evaluation.tier}: {why}"
    for words in expect.get("reason") or ():
        assert words in (evaluation.reason or ""), f"reason {evaluation.reason!r} lacks {words!r}"
    for words in expect.get("notes") or ():
        assert any(words in note for note in evaluation.notes), f"no note with {words!r}: {evaluation.notes}"
    tests = {test.id: test for test in evaluation.tests}
    for test_id, outcome in (expect.get("tests") or {}).items():
        assert test_id in tests, f"{test_id} not run: {sorted(tests)}"
        assert tests[test_id].outcome == outcome, f"{test_id}: {why}"
    for test_id, paths in (expect.get("missing") or {}).items():
        assert set(paths) <= set(tests[test_id].missing), f"{test_id} missing {tests[test_id].missing}"
    for test_id, method in (expect.get("method") or {}).items():
        assert tests[test_id].method == method, f"{test_id}: {why}"
    for test_id, value in (expect.get("value") or {}).items():
        assert tests[test_id].value == pytest.approx(value, rel=1e-3), f"{test_id}: {why}"
    for test_id, scenarios in (expect.get("sensitivity") or {}).items():
        for scenario, outcome in scenarios.items():
            assert tests[test_id].sensitivity.get(scenario) == outcome, f"{test_id} {scenario}: {tests[test_id].sensitivity}"
    if "status_would_differ" in expect:
        assert evaluation.sensitivity["status_would_differ"] is expect["status_would_differ"], evaluation.sensitivity
