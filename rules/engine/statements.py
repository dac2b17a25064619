"""How a test's outcome reads for people, from an `evaluate` JSON test object: one sentence that is
true as written.

A met test shows its comparison as the rule writes it (`1.2e26 ops > 1e26 ops: met (1.2 × the
threshold)`); an unmet one the negated comparison (`3.8e25 ops ≤ 1e26 ops: not met (0.38 × the
threshold)`) and, in words, the condition that failed (`not trained primarily on biological
sequence data`); an indeterminate one what is missing or that the band straddles the threshold.
Figures are the engine's exact ones (`format_compared`: every digit where four would hide the
difference). Pure Python, like the rest of the engine.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from .exact import exact
from .formatting import UNKNOWN, format_compared, format_exact_quantity, format_quantity
from .vocabulary import Outcome, outcome_label

# How an operator reads when the comparison holds, and when it does not.
OPERATOR_SIGNS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}
NEGATED_SIGNS = {">": "≤", ">=": "<", "<": "≥", "<=": ">", "==": "≠", "!=": "="}

# A declared fact in words: (when it is true, when it is false), in the texts' own terms.
FACT_WORDS = {
    "general_purpose": ("declared general-purpose (broad data, designed for generality)",
                        "not declared general-purpose (broad data, designed for generality)"),
    "primarily_biological_sequence_data": ("trained primarily on biological sequence data",
                                           "not trained primarily on biological sequence data"),
    "is_fine_tune": ("a fine-tune or other modification of a base model",
                     "not a fine-tune or other modification of a base model"),
    "is_distillation": ("distilled from a base model", "not distilled from a base model"),
    "base_model_provider_is_another_organisation": ("built on another organisation's model",
                                                    "not built on another organisation's model"),
    "weights_published": ("its weights are published", "its weights are not published"),
    "used_for_ai_training": ("used for AI training", "not used for AI training"),
}

MET, NOT_MET, INDETERMINATE = Outcome.MET, Outcome.NOT_MET, Outcome.INDETERMINATE
# the words each outcome is written in (`rules.engine.vocabulary`)
MET_WORDS, NOT_MET_WORDS, UNDECIDED_WORDS = outcome_label(MET), outcome_label(NOT_MET), outcome_label(INDETERMINATE)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Fraction)) and not isinstance(value, bool)


def threshold_ratio(value: Any, threshold: Any, unit: str | None = None) -> str:
    """`0.38 × the threshold`: the value over the threshold, to four significant figures, and the
    exact difference too where those four figures read 1 but the two differ."""
    if not (_is_number(value) and _is_number(threshold)) or not threshold:
        return ""
    ratio = Fraction(exact(value)) / Fraction(exact(threshold))
    text = f"{format_quantity(float(ratio))} × the threshold"
    if ratio != 1 and format_quantity(float(ratio)) == "1":
        difference = Fraction(exact(value)) - Fraction(exact(threshold))
        side = "above" if difference > 0 else "below"
        text += f", {side} it by {format_exact_quantity(exact(abs(difference)), unit)}"
    return text


def _band(test: dict[str, Any]) -> str:
    low, high = test.get("low"), test.get("high")
    if low is None or high is None or low == high:
        return ""
    return f" (band {format_quantity(low)}–{format_quantity(high)})"


def _headline(test: dict[str, Any]) -> dict[str, Any] | None:
    """The numeric comparison the test's value and threshold come from, with its own outcome."""
    for row in test.get("comparisons") or []:
        if "value" in row:
            return row
    return None


def _condition_words(row: dict[str, Any], *, units: dict[str, str | None]) -> str:
    """A decided comparison other than the headline one, as it stands (true as written)."""
    quantity, operator, label, outcome = row.get("quantity"), row.get("operator"), row.get("threshold_label"), row.get("outcome")
    if quantity in FACT_WORDS and operator in ("==", "!=") and label in ("true", "false"):
        if outcome == INDETERMINATE:
            return f"{quantity} not declared"
        holds = outcome == MET
        fact_true = (label == "true") == (operator == "==") if holds else (label == "true") != (operator == "==")
        return FACT_WORDS[quantity][0 if fact_true else 1]
    if "value" in row:
        unit = units.get(quantity or "")
        if row.get("value") is None:
            return f"{quantity} {UNKNOWN}"
        value, threshold = format_compared(row["value"], row["threshold"], unit)
        sign = (OPERATOR_SIGNS if outcome == MET else NEGATED_SIGNS).get(operator, operator)
        return f"{quantity} {value} {sign} {threshold}"
    if operator == "has_any":
        return f"{quantity} include one of {label}" if outcome == MET else f"{quantity} include none of {label}"
    if operator == "in effect":
        return f"a designation ({label}) is in effect" if outcome == MET else f"no designation ({label}) is in effect"
    if operator == "meets" and quantity == "any_model":
        return f"a model of the organisation meets {label}" if outcome == MET else f"no model of the organisation meets {label}"
    return ""


def _failed_conditions(test: dict[str, Any], head: dict[str, Any] | None, *, units: dict[str, str | None]) -> list[str]:
    """In words, the conditions besides the headline comparison that can explain an unmet test: a
    declared fact that is not as the test requires, another comparison that fails, a designation."""
    words = []
    for row in test.get("comparisons") or []:
        if row is head or row.get("operator") == "is" or (row.get("operator") == "meets" and row.get("quantity") != "any_model"):
            continue  # `known(x)` and `base_model_meets` only steer an `if`: not a condition of their own
        if row.get("operator") == "in effect":
            # with a numeric comparison beside it, a designation matters when it is in effect
            # (a rebuttal accepted); a test of a designation alone fails when none is
            wanted = MET if head is not None else NOT_MET
            if row.get("outcome") == wanted:
                words.append(_condition_words(row, units=units))
            continue
        if row.get("outcome") == NOT_MET:
            words.append(_condition_words(row, units=units))
    return [w for w in dict.fromkeys(words) if w]


def _undecided_conditions(test: dict[str, Any], head: dict[str, Any] | None) -> list[str]:
    return [f"{row.get('quantity')} not declared" for row in test.get("comparisons") or []
            if row is not head and row.get("outcome") == INDETERMINATE and row.get("quantity") in FACT_WORDS]


def outcome_statement(test: dict[str, Any], *, units: dict[str, str | None] | None = None) -> str:
    """One test of a determination as a sentence that is true as written. `units` maps a quantity's
    name to its unit (the determination's `quantities`); the test's own quantity is looked up there."""
    units = units or {}
    outcome = test.get("outcome")
    unit = units.get(test.get("quantity") or "")
    operator = test.get("operator") or ""
    value, threshold = test.get("value"), test.get("threshold")
    head = _headline(test)
    head_outcome = head.get("outcome") if head is not None else outcome
    numeric = _is_number(threshold)
    if value is not None and numeric:
        shown_value, shown_threshold = format_compared(value, threshold, unit)
    else:
        shown_value = UNKNOWN if value is None else format_quantity(value, unit)
        shown_threshold = format_quantity(threshold, unit) if numeric else ("" if threshold is None else str(threshold))
    shown_value += _band(test) if value is not None else ""
    ratio = threshold_ratio(value, threshold, unit)
    ratio_part = f" ({ratio})" if ratio else ""

    def comparison(decided: str) -> str:
        sign = (OPERATOR_SIGNS if decided == MET else NEGATED_SIGNS).get(operator, operator)
        return f"{shown_value} {sign} {shown_threshold}".strip()

    if outcome == MET:
        return f"{comparison(MET)}: {MET_WORDS}{ratio_part}" if head is not None else MET_WORDS
    if outcome == INDETERMINATE:
        missing = test.get("missing") or []
        why = f"missing: {', '.join(missing)}" if missing else "the uncertainty band straddles the threshold"
        if head is not None and head_outcome in (MET, NOT_MET) and value is not None:
            undecided = _undecided_conditions(test, head)
            but = f", but {', '.join(undecided)}" if undecided else ""
            return f"{comparison(head_outcome)}{ratio_part}{but}: {UNDECIDED_WORDS} ({why})"
        if head is None:
            return f"{UNDECIDED_WORDS} ({why})"
        return f"{shown_value} against {OPERATOR_SIGNS.get(operator, operator)} {shown_threshold}: {UNDECIDED_WORDS} ({why})"
    # not met
    failed = _failed_conditions(test, head, units=units)
    if head is not None and value is not None and head_outcome == NOT_MET:
        also = f"; {'; '.join(failed)}" if failed else ""
        return f"{comparison(NOT_MET)}: {NOT_MET_WORDS}{ratio_part}{also}"
    if head is not None and value is not None and head_outcome == MET:
        reason = "; ".join(failed) or "another condition of the test is not met"
        return f"{NOT_MET_WORDS}: {reason} ({comparison(MET)}{', ' + ratio if ratio else ''})"
    return f"{NOT_MET_WORDS}: {'; '.join(failed)}" if failed else NOT_MET_WORDS
