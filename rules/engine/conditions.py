"""The condition grammar of rule files, compiled once per rule version to small closures.

Three-valued (Kleene) logic: a comparison is met (True), not met (False) or indeterminate (None).
Numbers carry a band [low, high]; `a > b` is met when a.low > b.high, not met when
a.high <= b.low, indeterminate otherwise. Numbers are exact (ints and Fractions, `exact`): a
literal or parameter is the decimal it writes, and no tolerance blurs a threshold. Never `eval`:
names resolve at compile time.

`if c then a else b` picks a branch; when `c` is indeterminate a number is the band spanning
both branches (so `x > (if c then 3e24 else 3e22)` is decided wherever both branches agree).
`known(name)` says whether a quantity or fact has a value. `base_model_meets("test-id")` applies
another test of the same version to the model's base model (down the lineage), and
`any_model_meets("test-id")` applies a model test to each of an organisation's models.
`designated("kind")` is met when a regulator's designation of that kind under this regime, decided
on or before the as-of date, is recorded for the subject; it is never indeterminate.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .exact import Number, exact
from .schema import RATIO_PATTERN, RuleFileError
from .subject import FACTS, QUANTITIES, Arguments, NameSpec, Operand

GRAMMAR = r"""
?start: expression
?expression: _IF disjunction _THEN expression _ELSE expression -> conditional
           | disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: negation (_AND negation)*
?negation: _NOT negation -> negate
         | comparison
?comparison: product (COMPARATOR product)?
?product: atom (MULOP atom)*
?atom: NUMBER -> number
     | TRUE -> true
     | FALSE -> false
     | STRING -> string
     | NAME -> name
     | "[" [STRING ("," STRING)*] "]" -> string_list
     | NAME "(" [disjunction ("," disjunction)*] ")" -> call
     | "(" expression ")"
_IF: "if"
_THEN: "then"
_ELSE: "else"
_OR: "or"
_AND: "and"
_NOT: "not"
TRUE: "true"
FALSE: "false"
COMPARATOR: ">=" | "<=" | "==" | "!=" | ">" | "<"
MULOP: "*" | "/"
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?/
STRING: /"[^"\\\n]*"/
%import common.WS
%ignore WS
"""

NUMERIC_OPERATORS = (">", ">=", "<", "<=")
MIRROR = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
INF = math.inf
MEETS = {"base_model_meets": "model", "any_model_meets": "organisation"}  # function -> kind of test using it
UNDECIDED = Operand(None, None, None)


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


class ConditionError(RuleFileError):
    """A condition that does not compile: names file, test id and line:column."""

    def __init__(self, file: str, path: str, *, test_id: str, line: int, column: int, message: str,
                 file_line: int | None = None) -> None:
        self.test_id, self.line, self.column = test_id, line, column
        where = f"line {line}:{column}" + (f" (file line {file_line})" if file_line else "")
        super().__init__(file, path, f"test {test_id}, {where}: {message}")


@functools.cache
def parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(slots=True)
class ComparisonSpec:
    """What a comparison is, known at compile time; its values come at evaluation."""

    index: int
    operator: str
    quantity: str
    threshold_label: str
    parameter: str | None
    parameter_side: str | None  # "right" | "left" | None
    quantity_name: str | None
    arguments: Arguments | None
    numeric: bool
    line: int
    column: int
    threshold_parameters: tuple[str, ...] = ()  # every parameter on the parameter's side


@dataclass(slots=True)
class Compiled:
    """A compiled condition: `run(subject, records)` -> (truth, missing facts)."""

    source: str
    run: Callable[[Any, list], tuple[bool | None, tuple[str, ...]]]
    comparisons: list[ComparisonSpec]
    quantities: list[tuple[str, Arguments | None]] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    literals: list[tuple[str, int, int]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # test ids named by base_model_meets / any_model_meets
    # Whether, once the condition is decided over the bands, it is decided the same way at each end of
    # them (`band_ends_follow`): true of a condition with no division, no number chosen by `if`, no
    # `known` of a number and no test of another model.
    ends_follow: bool = False


@dataclass(slots=True)
class _Node:
    type: str  # number | bool | list | string
    run: Callable
    label: str
    parameters: tuple[str, ...] = ()
    quantity: tuple[str, Arguments | None] | None = None


def _lo(x: float | None) -> float:
    return -INF if x is None else x


def _hi(x: float | None) -> float:
    return INF if x is None else x


def _decide(operator: str, a: Operand, b: Operand) -> bool | None:
    """Exact: the values are ints and Fractions (`exact`), so `>` at a threshold is `>` as written,
    with no tolerance: 100000000000000000000000000001 > 1e26 is met, 1e26 > 1e26 is not."""
    alo, ahi, blo, bhi = exact(_lo(a.low)), exact(_hi(a.high)), exact(_lo(b.low)), exact(_hi(b.high))
    if operator == ">":
        return True if alo > bhi else (False if ahi <= blo else None)
    if operator == ">=":
        return True if alo >= bhi else (False if ahi < blo else None)
    if operator == "<":
        return True if ahi < blo else (False if alo >= bhi else None)
    return True if ahi <= blo else (False if alo > bhi else None)


def band_ends_follow(compiled: Compiled, records: list) -> bool:
    """Whether a condition decided over its figures' bands (met or not met) is decided the same way
    with every figure pinned to the low end of its band, and to the high end (`evaluate._BandEnd`),
    so that neither need be evaluated. It is when the condition allows it (`Compiled.ends_follow`:
    products only, so an end of a side is the same end of each factor multiplied) and each side
    compared has both ends or neither, the low not above the high. Then a comparison decided over
    the bands (`a.low > b.high`, or `a.high <= b.low`) is decided the same way between ends that lie
    inside them, facts and designations do not move with the bands, and Kleene logic keeps what is
    decided."""
    if not compiled.ends_follow:
        return False
    for record in records:
        if record is None:
            return False
        for side in (record[0], record[1]):
            low, high = side.low, side.high
            if (low is None) is not (high is None) or (low is not None and low > high):
                return False
    return True


def _mul(x: Number, y: Number) -> Number:
    if type(x) is int and type(y) is int:  # most figures: their product is exact as it is
        return x * y
    return exact(exact(x) * exact(y))


def _div(x: Number, y: Number) -> Number | None:
    if not y:
        return None
    if type(x) is int and type(y) is int:  # one fraction made, in lowest terms, not two and a quotient
        quotient = Fraction(x, y)
        return quotient.numerator if quotient.denominator == 1 else quotient
    return exact(Fraction(exact(x)) / exact(y))


def _combine(op: str, a: Operand, b: Operand) -> Operand:
    def both(x: Number | None, y: Number | None, fn: Callable) -> Number | None:
        return None if x is None or y is None else fn(x, y)

    if op == "*":
        return Operand(both(a.value, b.value, _mul), both(a.low, b.low, _mul), both(a.high, b.high, _mul),
                       a.missing + b.missing, a.applicable and b.applicable)
    return Operand(both(a.value, b.value, _div), both(a.low, b.high, _div), both(a.high, b.low, _div),
                   a.missing + b.missing, a.applicable and b.applicable)


def _arithmetic(op: str, left: _Node, right: _Node) -> _Node:
    left_run, right_run = left.run, right.run
    return _Node("number", lambda s, r: _combine(op, left_run(s, r), right_run(s, r)),
                 f"{left.label} {'×' if op == '*' else '/'} {right.label}",
                 parameters=left.parameters + right.parameters, quantity=left.quantity or right.quantity)


def _either(a: Operand, b: Operand, missing: tuple[str, ...]) -> Operand:
    """The number of an `if` whose condition is indeterminate: the band spanning both branches."""
    value = a.value if a.value == b.value else None
    low = None if a.low is None or b.low is None else min(a.low, b.low)
    high = None if a.high is None or b.high is None else max(a.high, b.high)
    return Operand(value, low, high, missing + a.missing + b.missing, a.applicable and b.applicable)


def _kleene_and(results: list) -> tuple[bool | None, tuple[str, ...]]:
    truths = [truth for truth, _ in results]
    if False in truths:
        return False, ()
    if None in truths:
        return None, tuple(m for truth, missing in results if truth is None for m in missing)
    return True, ()


def _kleene_or(results: list) -> tuple[bool | None, tuple[str, ...]]:
    truths = [truth for truth, _ in results]
    if True in truths:
        return True, ()
    if None in truths:
        return None, tuple(m for truth, missing in results if truth is None for m in missing)
    return False, ()


class _Compiler:
    def __init__(self, *, origin: str, path: str, test_id: str, applies_to: str,
                 parameters: dict[str, dict[str, Any]], arguments: Arguments | None,
                 file_line: int | None, tests: dict[str, str] | None, links: dict[str, Compiled] | None,
                 regime: str | None = None) -> None:
        self.origin, self.path, self.test_id, self.applies_to = origin, path, test_id, applies_to
        self.regime = regime
        self.parameters, self.arguments, self.file_line = parameters, arguments, file_line
        self.tests, self.links = tests or {}, links if links is not None else {}
        self.references: list[str] = []
        self.comparisons: list[ComparisonSpec] = []
        self.quantities: list[tuple[str, Arguments | None]] = []
        self.used_parameters: list[str] = []
        self.literals: list[tuple[str, int, int]] = []
        self.ends_follow = True

    def error(self, where: Any, message: str) -> ConditionError:
        line = getattr(where, "line", None) or 1
        column = getattr(where, "column", None) or 1
        return ConditionError(self.origin, self.path, test_id=self.test_id, line=line, column=column,
                              message=message, file_line=self.file_line)

    def compile(self, tree: Any) -> _Node:
        if isinstance(tree, Token):
            return self.compile(Tree(tree.type.lower() if tree.type != "NAME" else "name", [tree]))
        handler = getattr(self, "on_" + tree.data, None)
        if handler is None:
            raise self.error(tree.meta, f"unsupported expression {tree.data}")
        return handler(tree)

    def on_number(self, tree: Tree) -> _Node:
        token = tree.children[0]
        value = exact(str(token))  # the decimal as written: 1e26 is 10**26
        self.literals.append((str(token), token.line, token.column))
        operand = Operand(value, value, value)
        return _Node("number", lambda s, r: operand, str(token))

    def on_true(self, tree: Tree) -> _Node:
        return _Node("bool", lambda s, r: (True, ()), "true")

    def on_false(self, tree: Tree) -> _Node:
        return _Node("bool", lambda s, r: (False, ()), "false")

    def on_string(self, tree: Tree) -> _Node:
        text = str(tree.children[0])[1:-1]
        return _Node("string", lambda s, r: (text, ()), repr(text))

    def on_string_list(self, tree: Tree) -> _Node:
        items = [str(token)[1:-1] for token in tree.children]
        return _Node("list", lambda s, r: (items, ()), "[" + ", ".join(items) + "]")

    def on_name(self, tree: Tree) -> _Node:
        token = tree.children[0]
        name = str(token)
        if name in self.parameters:
            spec = self.parameters[name]
            value = spec.get("value")
            if isinstance(value, str):  # an exact ratio, "1/3" (the schema admits no other text)
                value = exact(value) if re.fullmatch(RATIO_PATTERN, value) else None
            if not isinstance(value, (int, float, Fraction)) or isinstance(value, bool):
                raise self.error(token, f"parameter {name} has no numeric value")
            value = exact(value)
            operand = Operand(value, value, value)
            self.used_parameters.append(name)
            return _Node("number", lambda s, r: operand, name, parameters=(name,))
        spec: NameSpec | None = QUANTITIES.get(name) or FACTS.get(name)
        if spec is None:
            raise self.error(token, f"unknown name {name!r}: not a quantity or fact of docs/rule-files.md, "
                                    f"nor a parameter of this version ({', '.join(sorted(self.parameters))})")
        if self.applies_to in ("model", "cluster", "organisation") and self.applies_to not in spec.kinds:
            raise self.error(token, f"{name} does not apply to a {self.applies_to}")
        if spec.type == "number":
            arguments = None
            if spec.needs_network:
                if self.arguments is None:
                    raise self.error(token, f"{name} needs arguments.network_threshold (a parameter id)")
                arguments = self.arguments
            self.quantities.append((name, arguments))
            return _Node("number", lambda s, r: s.operand(name, arguments), name, quantity=(name, arguments))
        if spec.type == "bool":
            return _Node("bool", lambda s, r: s.flag(name), name)
        return _Node("list", lambda s, r: s.items(name), name)

    def on_product(self, tree: Tree) -> _Node:
        node = self.compile(tree.children[0])
        for op_token, child in zip(tree.children[1::2], tree.children[2::2], strict=True):
            right = self.compile(child)
            for side in (node, right):
                if side.type != "number":
                    raise self.error(op_token, f"{op_token} needs numbers, got {side.label}")
            node = _arithmetic(str(op_token), node, right)
            if str(op_token) != "*":  # a quotient's ends are not its operands' ends
                self.ends_follow = False
        return node

    def on_comparison(self, tree: Tree) -> _Node:
        left_tree, op_token, right_tree = tree.children
        index = len(self.comparisons)
        self.comparisons.append(None)  # keep source order: this comparison before any inside it
        left, right = self.compile(left_tree), self.compile(right_tree)
        operator = str(op_token)
        numeric = operator in NUMERIC_OPERATORS
        if numeric and (left.type != "number" or right.type != "number"):
            raise self.error(op_token, f"{operator} compares numbers: {left.label} {operator} {right.label}")
        if not numeric and left.type != right.type:
            raise self.error(op_token, f"{operator} compares like with like: {left.label} is a {left.type}, "
                                       f"{right.label} a {right.type}")
        parameter, side = None, None
        if right.parameters:
            parameter, side = right.parameters[0], "right"
        elif left.parameters:
            parameter, side = left.parameters[0], "left"
        quantity = left.quantity or right.quantity
        self.comparisons[index] = ComparisonSpec(
            index, operator, left.label, right.label, parameter, side,
            quantity[0] if quantity else None, quantity[1] if quantity else None, numeric,
            op_token.line, op_token.column,
            tuple(dict.fromkeys(right.parameters if side == "right" else left.parameters)))
        left_run, right_run = left.run, right.run
        if numeric:
            def run(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
                a, b = left_run(s, r), right_run(s, r)
                if not (a.applicable and b.applicable):
                    truth, missing = False, ()
                else:
                    truth = _decide(operator, a, b)
                    missing = a.missing + b.missing if truth is None else ()
                r[index] = (a, b, truth, missing)
                return truth, missing
        else:
            negate = operator == "!="

            def run(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
                (a, a_missing), (b, b_missing) = left_run(s, r), right_run(s, r)
                if a is None or b is None:
                    truth, missing = None, a_missing + b_missing
                else:
                    truth, missing = (a != b) if negate else (a == b), ()
                r[index] = (Operand(None, None, None), Operand(None, None, None), truth, missing)
                return truth, missing
        return _Node("bool", run, f"{left.label} {operator} {right.label}")

    def _predicate(self, node: _Node, where: Any, operator: str, threshold: str,
                   decide: Callable[[Any], bool]) -> _Node:
        index = len(self.comparisons)
        self.comparisons.append(ComparisonSpec(index, operator, node.label, threshold, None, None, None, None,
                                               False, getattr(where, "line", 1), getattr(where, "column", 1)))
        inner = node.run

        def run(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
            value, missing = inner(s, r)
            truth = None if value is None else decide(value)
            r[index] = (Operand(None, None, None), Operand(None, None, None), truth, missing if truth is None else ())
            return truth, missing if truth is None else ()
        return _Node("bool", run, node.label)

    def _recorded(self, where: Any, label: str, operator: str, threshold: str,
                  decide: Callable[[Any, list], tuple[bool | None, tuple[str, ...]]]) -> _Node:
        """A predicate recorded as a comparison row (`label operator threshold`)."""
        index = len(self.comparisons)
        self.comparisons.append(ComparisonSpec(index, operator, label, threshold, None, None, None, None,
                                               False, getattr(where, "line", 1), getattr(where, "column", 1)))

        def run(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
            truth, missing = decide(s, r)
            missing = missing if truth is None else ()
            r[index] = (UNDECIDED, UNDECIDED, truth, missing)
            return truth, missing
        return _Node("bool", run, f"{label} {operator} {threshold}")

    def on_known(self, function: Token, argument_trees: list) -> _Node:
        """known(name): whether a quantity or fact has a value; always decided, never indeterminate."""
        if len(argument_trees) != 1 or not (isinstance(argument_trees[0], Tree) and argument_trees[0].data == "name"):
            raise self.error(function, "known takes one argument: the name of a quantity or fact")
        node = self.compile(argument_trees[0])
        if node.parameters:
            raise self.error(function, f"known({node.label}): a parameter always has a value")
        inner = node.run
        if node.type == "number":
            self.ends_follow = False  # a figure known only at one end of its band is not known

            def decide(s: Any, r: list) -> tuple[bool, tuple[str, ...]]:
                operand = inner(s, r)
                return operand.applicable and operand.value is not None, ()
        else:
            def decide(s: Any, r: list) -> tuple[bool, tuple[str, ...]]:
                return inner(s, r)[0] is not None, ()
        return self._recorded(function, node.label, "is", "known", decide)

    def on_meets(self, function: Token, argument_trees: list) -> _Node:
        """base_model_meets("id") / any_model_meets("id"): another model test of this version,
        applied to the base model or to each of the organisation's models."""
        name = str(function)
        if self.applies_to != MEETS[name]:
            raise self.error(function, f"{name}() is for a test that applies to {_a(MEETS[name])}, "
                                       f"not to {_a(self.applies_to)}")
        if len(argument_trees) != 1 or not (isinstance(argument_trees[0], Tree)
                                            and argument_trees[0].data == "string"):
            raise self.error(function, f'{name} takes one argument: a test id in quotes, e.g. {name}("covered-model")')
        target = str(argument_trees[0].children[0])[1:-1]
        kind = self.tests.get(target)
        if kind is None:
            raise self.error(function, f"{name}({target!r}): no test {target!r} in this version "
                                       f"({', '.join(sorted(self.tests)) or 'none'})")
        if kind != "model":
            raise self.error(function, f"{name}({target!r}): {target} applies to {_a(kind)}, not to a model")
        self.references.append(target)
        self.ends_follow = False  # the other model's bands are its own
        links = self.links

        def apply(subject: Any) -> tuple[bool | None, tuple[str, ...]]:
            compiled = links[target]
            return compiled.run(subject, [None] * len(compiled.comparisons))

        if name == "base_model_meets":
            def decide(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
                base, missing = s.base_subject()
                if base is None:
                    return (None, missing) if missing else (False, ())
                return apply(base)
            return self._recorded(function, "base_model", "meets", target, decide)

        def decide_any(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
            return _kleene_or([apply(model) for model in s.model_subjects()])
        return self._recorded(function, "any_model", "meets", target, decide_any)

    def on_designated(self, function: Token, argument_trees: list) -> _Node:
        """designated("kind"): a regulator's designation of this kind under this regime, in effect
        on the as-of date (decided on or before it), is recorded for the subject."""
        if len(argument_trees) != 1 or not (isinstance(argument_trees[0], Tree)
                                            and argument_trees[0].data == "string"):
            raise self.error(function, 'designated takes one argument: a designation kind in quotes, '
                                       'e.g. designated("systemic-risk-designation")')
        kind = str(argument_trees[0].children[0])[1:-1]
        regime = self.regime

        def decide(s: Any, r: list) -> tuple[bool, tuple[str, ...]]:
            return s.designated(regime, kind), ()
        return self._recorded(function, "designation", "in effect", kind, decide)

    def on_conditional(self, tree: Tree) -> _Node:
        condition_tree, then_tree, else_tree = tree.children
        condition = self.as_truth(self.boolean(condition_tree), getattr(condition_tree, "meta", condition_tree))
        then, otherwise = self.boolean(then_tree), self.boolean(else_tree)
        if then.type != otherwise.type or then.type not in ("number", "bool"):
            raise self.error(tree.meta, f"if: both branches must be numbers or both conditions: {then.label} is a "
                                        f"{then.type}, {otherwise.label} a {otherwise.type}")
        decide, then_run, else_run = condition.run, then.run, otherwise.run
        label = f"(if {condition.label} then {then.label} else {otherwise.label})"
        if then.type == "number":
            self.ends_follow = False  # an end may choose a branch the band left open

            def number(s: Any, r: list) -> Operand:
                truth, missing = decide(s, r)
                a, b = then_run(s, r), else_run(s, r)  # both run, so every comparison inside is recorded
                return a if truth else b if truth is False else _either(a, b, missing)
            return _Node("number", number, label, parameters=then.parameters + otherwise.parameters,
                         quantity=then.quantity or otherwise.quantity)

        def truth_of(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
            truth, missing = decide(s, r)
            a, b = then_run(s, r), else_run(s, r)
            if truth is not None:
                return a if truth else b
            if a[0] is not None and a[0] == b[0]:
                return a[0], ()
            return None, missing + a[1] + b[1]
        return _Node("bool", truth_of, label)

    def on_call(self, tree: Tree) -> _Node:
        function, *argument_trees = tree.children
        if str(function) == "known":
            return self.on_known(function, argument_trees)
        if str(function) in MEETS:
            return self.on_meets(function, argument_trees)
        if str(function) == "designated":
            return self.on_designated(function, argument_trees)
        if str(function) != "has_any":
            raise self.error(function, f"unknown function {function}(): has_any(list, [\"...\"]), known(name), "
                                       "base_model_meets(\"test-id\"), any_model_meets(\"test-id\") "
                                       "or designated(\"kind\")")
        if len(argument_trees) != 2:
            raise self.error(function, "has_any takes two arguments: a list fact and a list of strings")
        facts, options = (self.compile(child) for child in argument_trees)
        if facts.type != "list" or options.type != "list":
            raise self.error(function, "has_any takes two lists")
        wanted = set(options.run(None, None)[0])
        return self._predicate(facts, function, "has_any", options.label,
                               lambda values: bool(wanted.intersection(values)))

    def as_truth(self, node: _Node, where: Any) -> _Node:
        if node.type != "bool":
            raise self.error(where, f"{node.label} is a {node.type}, not a condition")
        return node

    def on_negate(self, tree: Tree) -> _Node:
        inner = self.as_truth(self.boolean(tree.children[0]), tree.meta)
        run = inner.run

        def negate(s: Any, r: list) -> tuple[bool | None, tuple[str, ...]]:
            truth, missing = run(s, r)
            return (None if truth is None else not truth), missing
        return _Node("bool", negate, "not " + inner.label)

    def boolean(self, tree: Any) -> _Node:
        """Compile a sub-condition; a bare boolean fact is recorded as a predicate."""
        node = self.compile(tree)
        if isinstance(tree, Tree) and tree.data == "name" and node.type == "bool":
            return self._predicate(node, tree.children[0], "is", "true", bool)
        return node

    def _junction(self, tree: Tree, combine: Callable, word: str) -> _Node:
        nodes = [self.as_truth(self.boolean(child), getattr(child, "meta", child)) for child in tree.children]
        runs = [node.run for node in nodes]
        return _Node("bool", lambda s, r: combine([run(s, r) for run in runs]),
                     f" {word} ".join(node.label for node in nodes))

    def on_conjunction(self, tree: Tree) -> _Node:
        return self._junction(tree, _kleene_and, "and")

    def on_disjunction(self, tree: Tree) -> _Node:
        return self._junction(tree, _kleene_or, "or")


def compile_condition(source: str, *, origin: str, path: str, test_id: str, applies_to: str,
                      parameters: dict[str, dict[str, Any]], arguments: Arguments | None = None,
                      file_line: int | None = None, tests: dict[str, str] | None = None,
                      links: dict[str, Compiled] | None = None, regime: str | None = None) -> Compiled:
    """Parse and compile one test's condition; raise ConditionError naming file, test, position.

    `tests` maps the version's test ids to what each applies to, for base_model_meets and
    any_model_meets; `links` is filled by the caller with every test's Compiled once all compile.
    """
    compiler = _Compiler(origin=origin, path=path, test_id=test_id, applies_to=applies_to,
                         parameters=parameters, arguments=arguments, file_line=file_line, tests=tests, links=links,
                         regime=regime)
    try:
        tree = parser().parse(source)
    except UnexpectedInput as exc:
        found = getattr(exc, "token", None) or getattr(exc, "char", None)
        if found is None or getattr(found, "type", None) == "$END":
            message = "syntax error: the condition ends too early"
        else:
            message = f"syntax error at {str(found)!r}"
        raise ConditionError(origin, path, test_id=test_id, line=max(exc.line, 1), column=max(exc.column, 1),
                             file_line=file_line, message=message) from None
    root = compiler.as_truth(compiler.boolean(tree), getattr(tree, "meta", tree))
    if not compiler.comparisons:
        raise compiler.error(getattr(tree, "meta", tree), "a condition needs at least one comparison or fact")
    return Compiled(source, root.run, compiler.comparisons, compiler.quantities,
                    compiler.used_parameters, compiler.literals, compiler.references, compiler.ends_follow)
