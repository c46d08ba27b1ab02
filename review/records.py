"""Validation of decision and outcome records in our own schema.

Plain checks rather than serializers: this is the hot path of ingestion, and every reason must
name its field in words a gateway's operator understands. A checker takes the raw value and
returns the clean one or raises ``FieldError`` with the reason.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from review.models import Decision

JSON = Any
Checker = Callable[[JSON], Any]


class FieldError(ValueError):
    pass


def _described(schema: dict[str, Any]) -> Callable[[Checker], Checker]:
    """Attach the JSON Schema of what a checker accepts: the API docs are built from it."""

    def attach(checker: Checker) -> Checker:
        checker.schema = schema  # type: ignore[attr-defined]
        return checker

    return attach


def text(max_length: int) -> Checker:
    @_described({"type": "string", "maxLength": max_length})
    def check(value: JSON) -> str:
        if not isinstance(value, str):
            raise FieldError(f"must be a string, got {kind(value)}")
        if len(value) > max_length:
            raise FieldError(f"is {len(value)} characters; the limit is {max_length}")
        return value.replace("\x00", "")

    return check


@_described({"type": "string"})
def long_text(value: JSON) -> str:
    if not isinstance(value, str):
        raise FieldError(f"must be a string, got {kind(value)}")
    return value.replace("\x00", "")  # PostgreSQL text cannot hold NUL


def count(maximum: int = 2**31 - 1) -> Checker:
    @_described({"type": "integer", "minimum": 0, "maximum": maximum})
    def check(value: JSON) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(f"must be a whole number, got {kind(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise FieldError(f"must be a whole number, got {value}")
        if not 0 <= value <= maximum:
            raise FieldError(f"must be between 0 and {maximum}, got {value}")
        return int(value)

    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Checker:
    bounds = {"minimum": minimum, "maximum": maximum}

    @_described({"type": "number", **{k: v for k, v in bounds.items() if v is not None}})
    def check(value: JSON) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(f"must be a number, got {kind(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise FieldError("must be a finite number")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise FieldError(f"must be between {minimum} and {maximum}, got {value}")
        return float(value)

    return check


@_described(
    {
        "oneOf": [{"type": "number"}, {"type": "string"}],
        "description": "US dollars, 0 to 1,000,000",
    }
)
def dollars(value: JSON) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError(f"must be a number of dollars, got {kind(value)}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise FieldError(f"must be a number of dollars, got {value!r}") from None
    if not amount.is_finite():
        raise FieldError(f"must be a finite number of dollars, got {value}")
    amount = amount.quantize(Decimal("0.00000001"))  # checked after rounding: 999999.999999999
    if amount < 0 or amount >= 10**6:
        raise FieldError(f"must be between 0 and 1,000,000 dollars, got {value}")
    return amount


@_described({"type": "boolean"})
def flag(value: JSON) -> bool:
    if not isinstance(value, bool):
        raise FieldError(f"must be true or false, got {kind(value)}")
    return value


@_described(
    {
        "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
        "description": "ISO 8601 with a time zone offset, or seconds since the epoch",
    }
)
def moment(value: JSON) -> datetime:
    """ISO 8601 with a time zone, or seconds since the epoch."""
    if isinstance(value, bool):
        raise FieldError("must be an ISO 8601 time or epoch seconds, got a boolean")
    if isinstance(value, int | float):
        if not 0 < value < 32503680000:  # before the year 3000
            raise FieldError(f"epoch seconds out of range: {value}")
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str):
        raise FieldError(f"must be an ISO 8601 time or epoch seconds, got {kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(f"is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise FieldError("needs a time zone offset, e.g. 2026-11-30T12:00:00Z")
    if not 1970 <= parsed.year <= 2999:
        raise FieldError(f"year {parsed.year} is out of range (1970 to 2999)")
    return parsed


@_described({"type": "array", "items": {"type": "string"}, "maxItems": 50})
def names(value: JSON) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FieldError("must be a list of strings")
    if len(value) > 50:
        raise FieldError(f"has {len(value)} items; the limit is 50")
    return [item.replace("\x00", "")[:200] for item in value]


@_described({"type": "object", "description": "free data, stored as given"})
def mapping(value: JSON) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(f"must be an object, got {kind(value)}")
    return _without_nul(value)


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb cannot hold NUL characters; strip them from keys and strings."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k.replace("\x00", ""): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def choice(values: list[str]) -> Checker:
    @_described({"type": "string", "enum": values})
    def check(value: JSON) -> str:
        if value not in values:
            raise FieldError(f"must be one of {', '.join(values)}; got {value!r}")
        return str(value)

    return check


@_described({"oneOf": [{"enum": [1, -1]}, {"enum": ["positive", "negative", "up", "down"]}]})
def feedback(value: JSON) -> int:
    """Thumbs up or down: 1 / -1, or the words positive / negative."""
    words = {"positive": 1, "negative": -1, "up": 1, "down": -1}
    if isinstance(value, str) and value.lower() in words:
        return words[value.lower()]
    if value in (1, -1) and not isinstance(value, bool):
        return int(value)
    raise FieldError(f"must be 1, -1, 'positive' or 'negative'; got {value!r}")


def kind(value: JSON) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


OUTCOME_FIELDS: dict[str, Checker] = {
    "user_feedback": feedback,
    "judge_score": number(0, 1),
    "retried": flag,
    "escalated": flag,
}

DECISION_FIELDS: dict[str, Checker] = {
    "event_id": text(200),
    "occurred_at": moment,
    "served_model": text(200),
    "requested_model": text(200),
    "router_name": text(100),
    "router_version": text(50),
    "router_score": number(),
    "router_threshold": number(),
    "router_category": text(60),
    "router_tier": text(40),
    "router_cause": text(300),
    "candidates": names,
    "input_tokens": count(),
    "output_tokens": count(),
    "cost_usd": dollars,
    "latency_ms": count(),
    "time_to_first_token_ms": count(),
    "status": choice(Decision.Status.values),
    "error_type": choice(Decision.ErrorType.values),
    "error_message": long_text,
    "http_status": count(999),
    "trace_id": text(200),
    "fallback_chain": names,
    "retries": count(1000),
    **OUTCOME_FIELDS,
    "outcome_updated_at": moment,
    "prompt_text": long_text,
    "response_excerpt": long_text,
    "metadata": mapping,
}
REQUIRED = ("event_id", "occurred_at", "served_model")


def parse_decision(raw: JSON) -> tuple[dict[str, Any], dict[str, str]]:
    """The record's clean values and, if any, the reason each bad field was refused."""
    if not isinstance(raw, dict):
        return {}, {"record": f"must be an object, got {kind(raw)}"}
    values, errors = _check_fields(raw, DECISION_FIELDS)
    for name in REQUIRED:
        if name not in errors and raw.get(name) in (None, ""):
            errors[name] = "is required"
    for name in ("event_id", "served_model"):
        if name in values and not values[name].strip():
            errors[name] = "is required"
    status = values.get("status") or (Decision.Status.ERROR if values.get("error_type") else None)
    if status == Decision.Status.SUCCESS and values.get("error_type"):
        errors["error_type"] = "is only allowed when status is error"
    if status:
        values["status"] = status
    return values, errors


def parse_outcome(raw: JSON) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(raw, dict):
        return {}, {"record": f"must be an object, got {kind(raw)}"}
    values, errors = _check_fields(raw, OUTCOME_RECORD_FIELDS)
    if raw.get("event_id") in (None, ""):
        errors["event_id"] = "is required"
    if not errors and not set(values) & set(OUTCOME_FIELDS):
        errors["record"] = f"needs at least one of {', '.join(OUTCOME_FIELDS)}"
    return values, errors


def _check_fields(
    raw: dict[str, JSON], checkers: dict[str, Checker]
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in raw.items():
        checker = checkers.get(name)
        if checker is None:
            errors[name] = "is not a field of this schema; put free data under metadata"
        elif value is not None:
            try:
                values[name] = checker(value)
            except FieldError as error:
                errors[name] = str(error)
    return values, errors


def json_schema(checkers: dict[str, Checker], required: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Schema of a record, from its checkers."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": {name: checker.schema for name, checker in checkers.items()},  # type: ignore[attr-defined]
    }


OUTCOME_RECORD_FIELDS: dict[str, Checker] = {
    "event_id": text(200),
    "occurred_at": moment,
    **OUTCOME_FIELDS,
}
