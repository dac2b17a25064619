"""The condition grammar: compile-time errors with positions, interval comparisons, Kleene logic."""

from __future__ import annotations

import pytest

from rules.engine.conditions import ConditionError, compile_condition
from rules.engine.subject import Operand

PARAMETERS = {
    "threshold": {"value": 1e26, "operator": ">"},
    "ratio": {"value": 0.5, "operator": ">"},
}


class FakeSubject:
    """A subject whose quantities and facts are given directly."""

    def __init__(self, numbers: dict | None = None, flags: dict | None = None, items: dict | None = None) -> None:
        self.numbers, self.flags, self.lists = numbers or {}, flags or {}, items or {}

    def operand(self, name: str, arguments=None) -> Operand:
        found = self.numbers.get(name)
        if found is None:
            return Operand(None, None, None, (f"models.{name}",))
        if isinstance(found, tuple):
            return Operand(found[0], found[1], found[2])
        return Operand(found, found, found)

    def flag(self, name: str):
        value = self.flags.get(name)
        return (None, (f"models.{name}",)) if value is None else (value, ())

    def items(self, name: str):
        value = self.lists.get(name)
        return (None, (f"models.{name}",)) if value is None else (value, ())


def compiled(source: str, *, applies_to: str = "model"):
    return compile_condition(source, origin="rules/library/r/v.yaml", path="tests[3].condition", test_id="t-1",
                             applies_to=applies_to, parameters=PARAMETERS, file_line=40)


def run(source: str, subject: FakeSubject):
    condition = compiled(source)
    records = [None] * len(condition.comparisons)
    truth, missing = condition.run(subject, records)
    return truth, missing, records


def test_syntax_error_names_file_test_and_position() -> None:
    with pytest.raises(ConditionError) as caught:
        compiled("training_compute_ops >> threshold")
    error = caught.value
    assert (error.file, error.path, error.test_id, error.line, error.column) == (
        "rules/library/r/v.yaml", "tests[3].condition", "t-1", 1, 23)
    assert str(error) == ("rules/library/r/v.yaml: tests[3].condition: test t-1, line 1:23 (file line 40): "
                          "syntax error at '>'")


def test_a_condition_that_ends_too_early_is_a_syntax_error() -> None:
    with pytest.raises(ConditionError, match="ends too early"):
        compiled("training_compute_ops > threshold and")


def test_unknown_name_is_refused_at_compile_time() -> None:
    with pytest.raises(ConditionError, match=r"line 1:37 .*unknown name 'trainng_compute_ops'"):
        compiled("training_compute_ops > threshold or trainng_compute_ops > threshold")


def test_a_quantity_of_another_kind_of_subject_is_refused() -> None:
    with pytest.raises(ConditionError, match="cluster_peak_ops_per_second does not apply to a model"):
        compiled("cluster_peak_ops_per_second > threshold")


def test_comparing_a_fact_with_a_number_is_refused() -> None:
    with pytest.raises(ConditionError, match="compares numbers"):
        compiled("general_purpose > threshold")


def test_a_bare_number_is_not_a_condition() -> None:
    with pytest.raises(ConditionError, match="not a condition"):
        compiled("training_compute_ops")


def test_unknown_function_is_refused() -> None:
    with pytest.raises(ConditionError, match="unknown function"):
        compiled('has_all(modalities, ["text"])')


@pytest.mark.parametrize(("operator", "band", "expected"), [
    (">", (1.5e26, 1.2e26, 1.8e26), True),
    (">", (1.0e26, 1.0e26, 1.0e26), False),
    (">", (1.1e26, 0.9e26, 1.3e26), None),
    (">", (0.5e26, 0.4e26, 1.0e26), False),
    (">=", (1.0e26, 1.0e26, 1.0e26), True),
    (">=", (0.9e26, 0.8e26, 0.99e26), False),
    (">=", (1.0e26, 0.9e26, 1.1e26), None),
    ("<", (0.9e26, 0.8e26, 0.99e26), True),
    ("<", (1.0e26, 1.0e26, 1.0e26), False),
    ("<=", (1.0e26, 1.0e26, 1.0e26), True),
    ("<=", (1.1e26, 1.01e26, 1.2e26), False),
    ("<=", (1.0e26, 0.9e26, 1.1e26), None),
])
def test_interval_comparisons(operator: str, band: tuple, expected: bool | None) -> None:
    truth, _, records = run(f"training_compute_ops {operator} threshold",
                            FakeSubject({"training_compute_ops": band}))
    assert truth is expected
    assert records[0][2] is expected


def test_a_missing_operand_is_indeterminate_and_named() -> None:
    truth, missing, _ = run("training_compute_ops > threshold", FakeSubject())
    assert truth is None
    assert missing == ("models.training_compute_ops",)


@pytest.mark.parametrize(("left", "right", "conjunction", "disjunction"), [
    (True, True, True, True), (True, False, False, True), (True, None, None, True),
    (False, False, False, False), (False, None, False, None), (None, None, None, None),
])
def test_kleene_and_or(left, right, conjunction, disjunction) -> None:
    flags = {"general_purpose": left, "is_fine_tune": right}
    assert run("general_purpose and is_fine_tune", FakeSubject(flags=flags))[0] is conjunction
    assert run("general_purpose or is_fine_tune", FakeSubject(flags=flags))[0] is disjunction


def test_not_keeps_indeterminate() -> None:
    assert run("not general_purpose", FakeSubject(flags={"general_purpose": None}))[0] is None
    assert run("not general_purpose", FakeSubject(flags={"general_purpose": False}))[0] is True


def test_false_and_missing_is_decidably_false_without_missing_facts() -> None:
    truth, missing, _ = run("is_fine_tune and fine_tuning_compute_ops > threshold",
                            FakeSubject(flags={"is_fine_tune": False}))
    assert (truth, missing) == (False, ())


def test_multiplication_of_intervals() -> None:
    subject = FakeSubject({"fine_tuning_compute_ops": 6e24, "base_model_cumulative_training_compute_ops": (1e25, 0.7e25, 1.3e25)})
    truth, _, records = run("fine_tuning_compute_ops > ratio * base_model_cumulative_training_compute_ops", subject)
    right = records[0][1]
    assert (right.value, right.low, right.high) == pytest.approx((5e24, 3.5e24, 6.5e24))
    assert truth is None  # 6e24 lies within [3.5e24, 6.5e24]


def test_division_of_intervals() -> None:
    subject = FakeSubject({"fine_tuning_compute_ops": (4e24, 2e24, 6e24),
                           "base_model_cumulative_training_compute_ops": (1e25, 0.5e25, 2e25)})
    _, _, records = run("fine_tuning_compute_ops / base_model_cumulative_training_compute_ops > ratio", subject)
    left = records[0][0]
    assert (left.value, left.low, left.high) == pytest.approx((0.4, 0.1, 1.2))


def test_has_any_and_equality_of_booleans() -> None:
    subject = FakeSubject(flags={"general_purpose": True}, items={"modalities": ["audio"]})
    assert run('has_any(modalities, ["text", "audio"]) and general_purpose == true', subject)[0] is True
    assert run('has_any(modalities, ["image"])', subject)[0] is False
    truth, missing, _ = run('has_any(modalities, ["image"])', FakeSubject())
    assert (truth, missing) == (None, ("models.modalities",))


def test_comparisons_are_recorded_in_source_order() -> None:
    condition = compiled('has_any(modalities, ["text"]) and training_compute_ops > threshold and general_purpose')
    assert [(spec.operator, spec.quantity) for spec in condition.comparisons] == [
        ("has_any", "modalities"), (">", "training_compute_ops"), ("is", "general_purpose")]
    assert condition.comparisons[1].parameter == "threshold"


def test_number_literals_are_recorded_for_the_lint() -> None:
    assert compiled("training_compute_ops > 1e26").literals == [("1e26", 1, 24)]


@pytest.mark.parametrize(("modification", "expected"), [
    (10**25, False),  # exactly a third of 3e25: not "greater than a third"
    (10**25 + 1, True),  # one operation more
    (10**25 - 1, False),
])
def test_a_third_written_as_a_ratio_is_exactly_a_third(modification: int, expected: bool) -> None:
    third = {"third": {"value": "1/3", "operator": ">"}}
    condition = compile_condition("fine_tuning_compute_ops > third * base_model_cumulative_training_compute_ops",
                                  origin="x", path="p", test_id="t", applies_to="model", parameters=third)
    subject = FakeSubject({"fine_tuning_compute_ops": modification, "base_model_cumulative_training_compute_ops": 3e25})
    records = [None]
    assert condition.run(subject, records)[0] is expected
    assert records[0][1].value == 10**25  # 1/3 x 3e25, exactly


def test_a_third_written_as_a_decimal_is_the_decimal_it_writes() -> None:
    """0.3333333333333333 is not a third: a file that means a third writes "1/3"."""
    third = {"third": {"value": 0.3333333333333333, "operator": ">"}}
    condition = compile_condition("fine_tuning_compute_ops > third * base_model_cumulative_training_compute_ops",
                                  origin="x", path="p", test_id="t", applies_to="model", parameters=third)
    subject = FakeSubject({"fine_tuning_compute_ops": 1e25, "base_model_cumulative_training_compute_ops": 3e25})
    records = [None]
    assert condition.run(subject, records)[0] is True
    assert records[0][1].value == 9999999999999999 * 10**9


@pytest.mark.parametrize(("value", "expected"), [
    (100000000000000000000000001, True),  # one operation above 1e26 (10**26 + 1), kept exactly
    (100000000000000000000000000, False),  # exactly 1e26 is not greater than 1e26
    (99999999999999999999999999, False),
    (100000000000000000000000000001, True),  # 10**29 + 1
    (1e26, False),  # the double nearest 1e26 is read as the decimal it writes, 1e26
    (1.0000000000001e26, True),
])
def test_a_figure_is_compared_exactly_with_no_tolerance(value: int | float, expected: bool) -> None:
    truth, _, records = run("training_compute_ops > threshold", FakeSubject({"training_compute_ops": value}))
    assert truth is expected
    assert records[0][1].value == 10**26  # the parameter 1.0e+26 is 10**26, not the double nearest it


@pytest.mark.parametrize(("value", "expected"), [
    (100000000000000000000000001, True), (100000000000000000000000000, False)])
def test_a_number_literal_is_the_decimal_it_writes(value: int, expected: bool) -> None:
    truth, _, _ = run("training_compute_ops > 1e26", FakeSubject({"training_compute_ops": value}))
    assert truth is expected


# --- if / then / else, known(), and tests applied to related models ---

FALLBACK = {**PARAMETERS, "high": {"value": 3e24, "operator": ">"}, "low": {"value": 3e22, "operator": ">"}}
FALLBACK_SOURCE = "fine_tuning_compute_ops > (if general_purpose then high else low)"


def run_fallback(modification: float | tuple, general_purpose: bool | None):
    condition = compile_condition(FALLBACK_SOURCE, origin="x", path="p", test_id="t", applies_to="model",
                                  parameters=FALLBACK)
    records = [None] * len(condition.comparisons)
    subject = FakeSubject({"fine_tuning_compute_ops": modification}, flags={"general_purpose": general_purpose})
    truth, missing = condition.run(subject, records)
    return truth, missing, records


@pytest.mark.parametrize(("general_purpose", "threshold"), [(True, 3 * 10**24), (False, 3 * 10**22)])
def test_if_takes_the_branch_its_condition_decides(general_purpose: bool, threshold: float) -> None:
    _, _, records = run_fallback(1e24, general_purpose)
    assert records[0][1].value == threshold


@pytest.mark.parametrize(("modification", "expected"), [
    (3.1e24, True),    # above both branches
    (3e24, None),      # not above the higher branch: depends on the condition
    (1e24, None),      # between the branches
    (3e22, False),     # at the lower branch: not above either
    (1e22, False),
])
def test_an_indeterminate_condition_spans_both_branches(modification: float, expected: bool | None) -> None:
    truth, missing, records = run_fallback(modification, None)
    assert truth is expected
    threshold = records[0][1]
    assert (threshold.value, threshold.low, threshold.high) == (None, 3 * 10**22, 3 * 10**24)
    assert missing == (("models.general_purpose",) if expected is None else ())


def test_if_between_conditions_is_kleene() -> None:
    source = "if general_purpose then is_fine_tune else is_distillation"
    both_true = FakeSubject(flags={"general_purpose": None, "is_fine_tune": True, "is_distillation": True})
    assert run(source, both_true)[:2] == (True, ())
    differ = FakeSubject(flags={"general_purpose": None, "is_fine_tune": True, "is_distillation": False})
    assert run(source, differ)[:2] == (None, ("models.general_purpose",))


def test_if_branches_of_different_kinds_are_refused() -> None:
    with pytest.raises(ConditionError, match="both branches must be numbers or both conditions"):
        compiled("training_compute_ops > (if general_purpose then threshold else is_fine_tune)")


def test_if_needs_a_condition() -> None:
    with pytest.raises(ConditionError, match="not a condition"):
        compiled("training_compute_ops > (if threshold then threshold else threshold)")


def test_known_is_decided_whether_or_not_the_value_is_there() -> None:
    assert run("known(training_compute_ops)", FakeSubject({"training_compute_ops": 1e25}))[:2] == (True, ())
    assert run("known(training_compute_ops)", FakeSubject())[:2] == (False, ())
    assert run("not known(general_purpose)", FakeSubject())[:2] == (True, ())
    assert run("known(modalities)", FakeSubject(items={"modalities": []}))[:2] == (True, ())


def test_known_is_recorded_as_a_row() -> None:
    _, _, records = run("known(training_compute_ops)", FakeSubject())
    assert compiled("known(training_compute_ops)").comparisons[0].operator == "is"
    assert records[0][2] is False


@pytest.mark.parametrize("source", ["known(threshold)", "known(training_compute_ops * ratio)", "known()"])
def test_known_takes_the_name_of_a_quantity_or_fact(source: str) -> None:
    with pytest.raises(ConditionError, match="known"):
        compiled(source)


TESTS = {"covered-model": "model", "covered-fine-tune": "model", "developer": "organisation"}


def compiled_with_tests(source: str, *, applies_to: str = "model", links: dict | None = None):
    return compile_condition(source, origin="x", path="p", test_id="covered-fine-tune", applies_to=applies_to,
                             parameters=PARAMETERS, tests=TESTS, links=links)


class LineageSubject(FakeSubject):
    """A FakeSubject with a base model (another LineageSubject, None, or missing from the registry)."""

    def __init__(self, numbers: dict | None = None, *, base=None, base_missing: bool = False) -> None:
        super().__init__(numbers)
        self.base, self.base_missing = base, base_missing

    def base_subject(self):
        return (None, ("models[acme/Base@1]",)) if self.base_missing else (self.base, ())


def test_base_model_meets_applies_the_named_test_to_the_base_model() -> None:
    links: dict = {}
    links["covered-model"] = compiled_with_tests("training_compute_ops > threshold", links=links)
    condition = compiled_with_tests('base_model_meets("covered-model")', links=links)

    def truth(subject):
        return condition.run(subject, [None] * len(condition.comparisons))

    assert truth(LineageSubject(base=LineageSubject({"training_compute_ops": 2e26}))) == (True, ())
    assert truth(LineageSubject(base=LineageSubject({"training_compute_ops": 1e26}))) == (False, ())
    assert truth(LineageSubject(base=LineageSubject())) == (None, ("models.training_compute_ops",))
    assert truth(LineageSubject(base=None)) == (False, ())  # no base model
    assert truth(LineageSubject(base_missing=True)) == (None, ("models[acme/Base@1]",))


def test_a_test_may_apply_itself_down_the_lineage() -> None:
    links: dict = {}
    links["covered-fine-tune"] = condition = compiled_with_tests(
        'training_compute_ops > threshold or base_model_meets("covered-fine-tune")', links=links)
    root = LineageSubject({"training_compute_ops": 2e26})
    chain = LineageSubject({"training_compute_ops": 1e20}, base=LineageSubject({"training_compute_ops": 1e20},
                                                                               base=root))
    assert condition.run(chain, [None] * len(condition.comparisons))[0] is True
    chain.base.base = None
    assert condition.run(chain, [None] * len(condition.comparisons))[0] is False


@pytest.mark.parametrize(("source", "applies_to", "message"), [
    ('base_model_meets("no-such-test")', "model", "no test 'no-such-test'"),
    ('base_model_meets("developer")', "model", "developer applies to an organisation, not to a model"),
    ('any_model_meets("covered-model")', "model", "applies to an organisation, not to a model"),
    ('base_model_meets("covered-model")', "organisation", "applies to a model, not to an organisation"),
    ("base_model_meets(covered_model)", "model", "a test id in quotes"),
])
def test_meets_is_checked_at_compile_time(source: str, applies_to: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compiled_with_tests(source, applies_to=applies_to)
