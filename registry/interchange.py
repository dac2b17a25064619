"""The interchange format (v1) of DESIGN.md: one validator for the import command, the demo data
and the API's request bodies.

Every problem is reported with the path of the field it concerns (`models[3].training_tokens`)
and what is wrong with it. Numbers are JSON numbers or scientific-notation strings ("1e26");
"10^26", NaN, infinities, values too large for a double, digits other than ASCII ones, values so
small they would be stored as 0 ("1e-400"), negatives and -0 are refused. Booleans are JSON true or
false only. Names are NFKC-normalised and refused when they hold control or format characters (a
zero-width space, a bidi override), line breaks, or, for a model's name and version, the `/` and `@`
a subject reference is parsed by.
"""
from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers
from rest_framework.settings import api_settings

from . import mapping
from .designation_kinds import REGIME_OF_KIND, SUBJECT_KINDS_OF_KIND, DesignationKind
from .jsonload import DecimalLiteral

SCIENTIFIC = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")  # ASCII digits only
NONZERO_MANTISSA = re.compile(r"^[+-]?0*\.?0*[1-9]")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MODEL_REF = re.compile(r"^(?P<organisation>[^/@\s]+)/(?P<name>[^@]+)@(?P<version>[^@]+)$")
DERIVATIONS = ("fine_tuning", "distillation")
MAX_TEXT = 200
MODEL_NAME_RESERVED = "/@"  # `organisation/name@version` is parsed by them
MAX_COUNT = 2_147_483_647  # the largest whole count the database stores (a 32-bit integer column)


def whole_count(value: int | float | None) -> int | None:
    """A count of accelerators: a whole number the database can hold."""
    if value is None:
        return None
    if value != int(value):
        raise serializers.ValidationError(f"must be a whole number, got {value:g}")
    if value > MAX_COUNT:
        raise serializers.ValidationError(f"must be at most {MAX_COUNT}, got {value:g}")
    return int(value)


def exact_figure(number: Decimal) -> int | float:
    """A figure as it was written: a whole number as an int of any size, anything else as the float
    whose shortest form is the same decimal; ValueError when no float is (more digits than a double
    holds), since rounding it would change the figure that is compared with the law."""
    if number == number.to_integral_value():
        return int(number)
    value = float(number)
    if Decimal(repr(value)) != number:
        raise ValueError(number)
    return value


class InterchangeNumber(serializers.Field):
    """A finite, non-negative number: a JSON number or a scientific-notation string, kept exactly as
    written (`exact_figure`): `100000000000000000000000000001` and `"1.0000000000001e26"` are not 1e26."""

    default_error_messages = {
        "invalid": 'must be a non-negative number, got {got}',
        "underflow": "is too small to store (it would be stored as 0), got {got}",
        "positive": "must be greater than 0, got {got}",
        "range": "must be in {range}, got {got}",
        "precision": "must be a whole number or have at most 15 significant digits (it cannot be kept "
                     "exactly otherwise), got {got}",
    }

    def __init__(self, *, positive: bool = False, at_most: float | None = None, whole: bool = False,
                 at_most_means: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)
        self.positive = positive
        self.at_most = at_most
        self.at_most_means = at_most_means  # what the upper bound is, for the message ("1 is 100 %")
        self.whole = whole  # a count the database stores as an integer (`whole_count`)

    @staticmethod
    def _shown(data: Any) -> str:
        import json

        if isinstance(data, DecimalLiteral):
            return data.text if len(data.text) <= 60 else data.text[:57] + "..."
        try:
            text = json.dumps(data)
        except (TypeError, ValueError):
            text = repr(data)
        except RecursionError:  # nested too deeply to print
            text = f"a nested {type(data).__name__}"
        return text if len(text) <= 60 else text[:57] + "..."

    @staticmethod
    def _decimal(data: Any) -> Decimal:
        """The decimal a value writes: a literal's text, a string, an int; a float by its shortest form."""
        if isinstance(data, DecimalLiteral):
            return Decimal(data.text)
        if isinstance(data, float):
            return Decimal(repr(data))
        return Decimal(data)

    def to_internal_value(self, data: Any) -> int | float:
        got = self._shown(data)
        if isinstance(data, bool):
            self.fail("invalid", got=got)
        if isinstance(data, str):
            if not SCIENTIFIC.match(data.strip()):
                self.fail("invalid", got=got)
            data = data.strip()
        if not isinstance(data, (int, float, str)):
            self.fail("invalid", got=got)
        try:
            number = self._decimal(data)
            as_float = float(number)
        except (ArithmeticError, OverflowError, ValueError):
            self.fail("invalid", got=got)
        if not number.is_finite() or not math.isfinite(as_float) or number.is_signed():
            self.fail("invalid", got=got)  # -0 is refused with the negatives; so is what a double cannot hold
        if as_float == 0 and number != 0:
            self.fail("underflow", got=got)
        if self.positive and number <= 0:
            self.fail("positive", got=got)
        if self.at_most is not None and number > Decimal(repr(self.at_most)):
            means = f" ({self.at_most_means})" if self.at_most_means else ""
            self.fail("range", range=f"[0, {self.at_most:g}]{means}" if not self.positive else f"(0, {self.at_most:g}]",
                      got=got)
        if self.whole:
            return whole_count(int(number) if number == number.to_integral_value() else as_float)  # type: ignore[return-value]
        try:
            return exact_figure(number)
        except ValueError:
            self.fail("precision", got=got)

    def to_representation(self, value: Any) -> Any:
        return value


class Text(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_TEXT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):  # a number or true is not silently turned into text
            raise serializers.ValidationError(f"must be a string, got {InterchangeNumber._shown(data)}")
        value = super().to_internal_value(data)
        if any((ord(ch) < 32 and ch not in "\t\n\r") or 0x7F <= ord(ch) <= 0x9F for ch in value):
            raise serializers.ValidationError("must not contain control characters")
        return value


# Characters a name may not hold: line breaks and separators, control (C0 and C1), format (zero-width
# joiners and spaces, bidi overrides), private-use and unassigned code points (a lone surrogate is
# refused by the field's own validator).
_REFUSED_IN_NAMES = {"Cc": "control", "Cf": "format", "Co": "private-use", "Cn": "unassigned",
                     "Zl": "line break", "Zp": "line break"}


def name_problem(value: str, *, reserved: str = "") -> str | None:
    """Why `value` (already NFKC-normalised) cannot be a name, or None."""
    for ch in value:
        if ch in "\n\r\v\f\x85":
            return "must not contain line breaks"
        category = unicodedata.category(ch)
        if category in _REFUSED_IN_NAMES:
            return f"must not contain {_REFUSED_IN_NAMES[category]} characters (U+{ord(ch):04X})"
        if ch in reserved:
            return f"must not contain {' or '.join(repr(c) for c in reserved)}: a subject reference is parsed by them"
    return None


class Name(Text):
    """The name of a record (or a model's version): NFKC-normalised, so that a name written with
    full-width or compatibility characters is stored as the one it reads as; `reserved` characters
    are those subject references are parsed by."""

    def __init__(self, *, reserved: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reserved = reserved

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            data = unicodedata.normalize("NFKC", data)
        value = super().to_internal_value(data)
        problem = name_problem(value, reserved=self.reserved)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class Year(serializers.IntegerField):
    """A calendar year: a JSON whole number or a string of ASCII digits ("２０２６" is refused)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not (isinstance(data, int) or (isinstance(data, str) and re.fullmatch(r"[0-9]{1,4}", data))):
            raise serializers.ValidationError(f"must be a year written with ASCII digits, got {InterchangeNumber._shown(data)}")
        return super().to_internal_value(data)


class StrictBoolean(serializers.BooleanField):
    """Only JSON true and false (and null where allowed): 1, "yes" or "t" is refused, not read as true."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError(
                f"must be a valid boolean: true or false, got {InterchangeNumber._shown(data)}")
        return data


class IsoDate(serializers.DateField):
    """An ISO date (YYYY-MM-DD) that exists in the calendar."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        if not kwargs["required"]:
            kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> Any:
        from datetime import date

        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise serializers.ValidationError(f"must be a date written YYYY-MM-DD, got {InterchangeNumber._shown(value)}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise serializers.ValidationError(f"is not a date that exists: {value}") from None


def record_field_names(serializer_class: type[serializers.Serializer]) -> tuple[str, ...]:
    """The interchange names of the fields a record serializer declares, in order (a name that is a
    Python keyword is declared with a trailing `_`: `from_` validates `from`)."""
    return tuple(name.removesuffix("_") for name in serializer_class._declared_fields)  # type: ignore[attr-defined]


def check_record_fields(serializer_class: type[serializers.Serializer], table: tuple[mapping.Field, ...], *,
                        ordered: bool = True) -> None:
    """Raises ImproperlyConfigured unless the serializer validates exactly the fields of its table of
    `registry.mapping` (and, when `ordered`, in the table's order)."""
    declared, mapped = record_field_names(serializer_class), mapping.fact_names(table)
    if declared == mapped or (not ordered and set(declared) == set(mapped)):
        return
    missing = [name for name in mapped if name not in declared]
    extra = [name for name in declared if name not in mapped]
    detail = " and ".join([f"lacks {missing}"] * bool(missing) + [f"adds {extra}"] * bool(extra))
    raise ImproperlyConfigured(
        f"{serializer_class.__name__} must validate the fields registry.mapping declares, {list(mapped)}, "
        f"in that order; it {detail or 'orders them differently'}"
    )


# A record of the interchange format. Its `table` of `registry.mapping` says which fields it has and in
# what order; the serializer says how each one is validated. A class whose fields differ from its table is
# refused when it is defined (a subclass that redeclares some fields, such as an API request body, keeps
# the same set of fields). A comment, not a docstring: the API schema would show it on every request body.
class MappedRecord(serializers.Serializer):

    table: ClassVar[tuple[mapping.Field, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_record_fields(cls, cls.table, ordered="table" in cls.__dict__)


class PeakFigures(MappedRecord):
    table = mapping.PEAK
    dense_max = InterchangeNumber(positive=True, allow_null=False, required=True)
    dense_16bit = InterchangeNumber(positive=True)
    sparse_max = InterchangeNumber(positive=True)


class TrainingHardware(MappedRecord):
    table = mapping.HARDWARE
    accelerator = Text(max_length=64)
    accelerator_count = InterchangeNumber(positive=True, whole=True)
    training_hours = InterchangeNumber(positive=True)
    utilization = InterchangeNumber(positive=True, at_most=1.0)


class OrganisationRecord(MappedRecord):
    table = mapping.ORGANISATION
    slug = Text(max_length=64)
    name = Name()
    country = Text(max_length=8, required=False, allow_blank=True, default="")
    annual_revenue_usd = InterchangeNumber()
    revenue_year = Year(required=False, allow_null=True, min_value=1900, max_value=2200)
    source = Text(max_length=2000, required=False, allow_blank=True, default="")

    def validate_slug(self, value: str) -> str:
        if not SLUG.match(value):
            raise serializers.ValidationError(f"must be lowercase letters, digits and hyphens, got {value!r}")
        return value


class ModelRecord(MappedRecord):
    table = mapping.MODEL
    organisation = Text(max_length=64)
    name = Name(reserved=MODEL_NAME_RESERVED)
    version = Name(max_length=64, reserved=MODEL_NAME_RESERVED)
    parameter_count = InterchangeNumber(positive=True)
    active_parameter_count = InterchangeNumber(positive=True)
    training_tokens = InterchangeNumber(positive=True)
    training_compute_ops = InterchangeNumber()
    training_compute_uncertainty = InterchangeNumber(at_most=1.0, at_most_means="1 is ±100 %")
    general_purpose = StrictBoolean(required=False, allow_null=True, default=None)
    primarily_biological_sequence_data = StrictBoolean(required=False, allow_null=True, default=None)
    modalities = serializers.ListField(child=Text(max_length=64), required=False, default=list, max_length=32)
    weights_published = StrictBoolean(required=False, allow_null=True, default=None)
    base_model = Text(max_length=400, required=False, allow_null=True, default=None)
    derivation = serializers.ChoiceField(choices=DERIVATIONS, required=False, allow_null=True, default=None)
    fine_tuning_compute_ops = InterchangeNumber()
    training_hardware = TrainingHardware(required=False, allow_null=True, default=None)
    training_compute_cost_usd = InterchangeNumber()
    training_completed_on = IsoDate()
    released_on = IsoDate()
    source = Text(max_length=2000, required=False, allow_blank=True, default="")
    notes = Text(max_length=4000, required=False, allow_blank=True, default="")

    def validate_base_model(self, value: str | None) -> str | None:
        if value is not None and not MODEL_REF.match(value):
            raise serializers.ValidationError(f'must be written "organisation/name@version", got {value!r}')
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        active, total = attrs.get("active_parameter_count"), attrs.get("parameter_count")
        if active is not None and total is not None and active > total:
            raise serializers.ValidationError(
                {"active_parameter_count": f"must not exceed parameter_count ({total:g}), got {active:g}"}
            )
        if attrs.get("derivation") and not attrs.get("base_model"):
            raise serializers.ValidationError({"derivation": "is only meaningful with a base_model"})
        return attrs


class GroupRecord(MappedRecord):
    table = mapping.GROUP
    name = Name(max_length=100)
    datacenter = Text(max_length=100)
    accelerator = Text(max_length=64, required=False, allow_null=True, default=None)
    accelerator_count = InterchangeNumber(positive=True, whole=True, allow_null=False, required=True)
    accelerators_per_node = InterchangeNumber(positive=True, whole=True)
    network_gbps = InterchangeNumber()
    peak_ops_per_second = PeakFigures(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("accelerator") and not attrs.get("peak_ops_per_second"):
            raise serializers.ValidationError(
                {"accelerator": "give a catalog accelerator or the group's own peak_ops_per_second"}
            )
        return attrs


class LinkRecord(MappedRecord):
    table = mapping.LINK
    from_ = Text(max_length=100)  # `from`, a Python keyword
    to = Text(max_length=100)
    gbps = InterchangeNumber(positive=True, allow_null=False, required=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name.removesuffix("_"): field for name, field in super().get_fields().items()}


class ClusterRecord(MappedRecord):
    table = mapping.CLUSTER
    organisation = Text(max_length=64)
    name = Name()
    used_for_ai_training = StrictBoolean(required=False, allow_null=True, default=None)
    groups = GroupRecord(many=True, allow_empty=False, max_length=10000)
    links = LinkRecord(many=True, required=False, default=list, max_length=100000)
    operational_from = IsoDate()
    source = Text(max_length=2000, required=False, allow_blank=True, default="")
    notes = Text(max_length=4000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        names = [group["name"] for group in attrs["groups"]]
        errors: dict[str, Any] = {}
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                errors[f"groups[{index}].name"] = f"{name!r} names two groups of this cluster"
            seen.add(name)
        for index, link in enumerate(attrs.get("links", [])):
            for end in ("from", "to"):
                if link[end] not in seen:
                    errors[f"links[{index}].{end}"] = f"{link[end]!r} is not a group of this cluster"
            if link["from"] == link["to"]:
                errors[f"links[{index}].to"] = "a link joins two different groups"
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


SUBJECT_REF = re.compile(
    r"^(?:model:(?P<m_org>[^/@\s]+)/(?P<m_name>[^@]+)@(?P<m_version>[^@]+)"
    r"|cluster:(?P<c_org>[^/\s]+)/(?P<c_name>.+)"
    r"|organisation:(?P<o_org>[^/\s]+))$"
)


def subject_parts(ref: str) -> tuple[str, str, str | None, str | None] | None:
    """(kind, organisation, name, version) of a subject reference, or None if it is not one."""
    match = SUBJECT_REF.match(ref)
    if not match:
        return None
    if match["m_org"]:
        return "model", match["m_org"], match["m_name"], match["m_version"]
    if match["c_org"]:
        return "cluster", match["c_org"], match["c_name"], None
    return "organisation", match["o_org"], None, None


class DesignationRecord(serializers.Serializer):
    """A regulator's decision of record (DESIGN.md "Designations"): the subject it is about, the regime
    and kind of decision, its date and its reference."""

    subject = Text(max_length=400)
    regime = Text(max_length=64)
    kind = serializers.ChoiceField(choices=[k.value for k in DesignationKind])
    decided_on = IsoDate(required=True, allow_null=False)
    reference = Text(max_length=200)

    def validate_subject(self, value: str) -> str:
        if subject_parts(value) is None:
            raise serializers.ValidationError(
                f"must be a subject reference (model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG), got {value!r}")
        return value

    def validate_reference(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("must name the decision (its reference), not be blank")
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind, regime = attrs["kind"], attrs["regime"]
        if REGIME_OF_KIND[kind] != regime:
            raise serializers.ValidationError(
                {"regime": f"a {kind!r} decision is taken under {REGIME_OF_KIND[kind]!r}, not {regime!r}"})
        subject_kind = subject_parts(attrs["subject"])[0]  # type: ignore[index]
        if subject_kind not in SUBJECT_KINDS_OF_KIND[kind]:
            raise serializers.ValidationError(
                {"subject": f"a {kind!r} decision is about a {' or '.join(SUBJECT_KINDS_OF_KIND[kind])}, "
                            f"not a {subject_kind}"})
        return attrs


RECORD_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    "organisations": OrganisationRecord,
    "models": ModelRecord,
    "clusters": ClusterRecord,
    "designations": DesignationRecord,
}
# The validator of each record kind of `registry.mapping.TABLES`.
RECORDS: dict[str, type[MappedRecord]] = {
    "organisation": OrganisationRecord, "model": ModelRecord, "hardware": TrainingHardware,
    "cluster": ClusterRecord, "group": GroupRecord, "peak": PeakFigures, "link": LinkRecord,
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def flatten_errors(errors: Any, prefix: str) -> list[Problem]:
    """DRF's nested error structure as a flat list of `path: message` problems."""
    problems: list[Problem] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == "non_field_errors":
                problems += flatten_errors(value, prefix)
            elif isinstance(key, int):  # an item of a list field (modalities[1])
                problems += flatten_errors(value, f"{prefix}[{key}]")
            else:
                problems += flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            problems += [Problem(prefix, str(item)) for item in errors]
        else:
            for index, item in enumerate(errors):
                if item:
                    problems += flatten_errors(item, f"{prefix}[{index}]")
    else:
        problems.append(Problem(prefix, str(errors)))
    return problems


def model_ref(record: dict[str, Any]) -> str:
    return f"{record['organisation']}/{record['name']}@{record['version']}"


_per_thread = threading.local()


def thread_serializer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """This thread's instance of a serializer class. Building one copies every declared field (DRF
    deep-copies them per instance), which costs more than validating or representing a record; use
    it only for calls that keep no state on the instance (`run_validation`, `to_representation`,
    not `is_valid` or `.data`)."""
    instances = getattr(_per_thread, "instances", None)
    if instances is None:
        instances = _per_thread.instances = {}
    instance = instances.get(serializer_class)
    if instance is None:
        instance = instances[serializer_class] = serializer_class()
    return instance


def _validator(section: str) -> serializers.Serializer:
    return thread_serializer(RECORD_SERIALIZERS[section])


def validate_record(section: str, record: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
    """(the cleaned record, None), or (None, DRF's errors as `Serializer.errors` gives them)."""
    try:
        return dict(_validator(section).run_validation(record)), None
    except serializers.ValidationError as exc:
        detail = exc.detail
        return None, detail if isinstance(detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: detail}


def validate_records(document: Any) -> tuple[dict[str, list[dict[str, Any]]], list[Problem]]:
    """Each record on its own: types, ranges, formats. Cross-record checks are the registry's."""
    if not isinstance(document, dict):
        return {}, [Problem("$", f"must be a JSON object with {', '.join(RECORD_SERIALIZERS)}")]
    problems: list[Problem] = []
    for key in document:
        if key not in RECORD_SERIALIZERS and key != "format":
            problems.append(Problem(key, f"is not a section of the interchange format ({', '.join(RECORD_SERIALIZERS)})"))
    cleaned: dict[str, list[dict[str, Any]]] = {}
    for section in RECORD_SERIALIZERS:
        records = document.get(section, [])
        if not isinstance(records, list):
            problems.append(Problem(section, "must be a list"))
            continue
        cleaned[section] = []
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                problems.append(Problem(f"{section}[{index}]", "must be an object"))
                continue
            valid, errors = validate_record(section, record)
            if valid is not None:
                cleaned[section].append(valid)
            else:
                problems += flatten_errors(errors, f"{section}[{index}]")
    return cleaned, problems
