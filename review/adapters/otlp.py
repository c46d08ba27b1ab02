"""OTLP/HTTP trace exports (protobuf or JSON) whose spans follow the OpenTelemetry GenAI
semantic conventions, mapped onto our decision records.

Both generations of attribute names are read: ``gen_ai.provider.name`` or ``gen_ai.system``,
``gen_ai.usage.input_tokens`` or ``gen_ai.usage.prompt_tokens``, messages from
``gen_ai.input.messages`` or from the older prompt attributes and events. Spans that are not GenAI
calls are left out and counted. Router fields come from ``routing.*`` attributes, which a gateway
adds to its span: ``routing.router``, ``routing.version``, ``routing.score``,
``routing.threshold``, ``routing.category``, ``routing.tier``, ``routing.cause``.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from review.adapters.messages import content_text
from review.api_errors import BadBody
from review.ingestion import Source
from review.models import Decision

STATUS_CODE_ERROR = 2
GENAI_MARKERS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system")
RESPONSE_EXCERPT_CHARS = 2000
ROUTER_ATTRIBUTES = {
    "router_name": "routing.router",
    "router_version": "routing.version",
    "router_score": "routing.score",
    "router_threshold": "routing.threshold",
    "router_category": "routing.category",
    "router_tier": "routing.tier",
    "router_cause": "routing.cause",
}
SOURCE_FIELDS = {
    "event_id": "spanId",
    "occurred_at": "startTimeUnixNano",
    "served_model": "gen_ai.response.model",
    "requested_model": "gen_ai.request.model",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cost_usd": "gen_ai.usage.cost",
    "latency_ms": "endTimeUnixNano",
    **{ours: theirs for ours, theirs in ROUTER_ATTRIBUTES.items()},
}


@dataclass
class Span:
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    failed: bool
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


# --- decoding: protobuf and JSON into spans -------------------------------------------------


def spans_from_protobuf(body: bytes) -> list[Span]:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as error:
        raise BadBody(f"the body is not an OTLP ExportTraceServiceRequest: {error}") from None
    spans = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        failed=span.status.code == STATUS_CODE_ERROR,
                        status_message=span.status.message,
                        attributes=_pb_attributes(span.attributes),
                        events=[(e.name, _pb_attributes(e.attributes)) for e in span.events],
                        resource=resource,
                    )
                )
    return spans


def _pb_attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in key_values}


def _pb_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def spans_from_json(data: Any) -> list[Span]:
    """OTLP/JSON: lowerCamelCase fields (snake_case accepted too), hex ids, int64 as strings."""
    if not isinstance(data, dict):
        raise BadBody("the body must be an OTLP ExportTraceServiceRequest object")
    spans = []
    for resource_spans in _get(data, "resourceSpans") or []:
        resource = _json_attributes(_get(_get(resource_spans, "resource") or {}, "attributes"))
        for scope_spans in _get(resource_spans, "scopeSpans") or []:
            for span in _get(scope_spans, "spans") or []:
                status = _get(span, "status") or {}
                code = _get(status, "code")
                spans.append(
                    Span(
                        trace_id=str(_get(span, "traceId") or "").lower(),
                        span_id=str(_get(span, "spanId") or "").lower(),
                        name=str(_get(span, "name") or ""),
                        start_ns=_nanos(_get(span, "startTimeUnixNano")),
                        end_ns=_nanos(_get(span, "endTimeUnixNano")),
                        failed=code in (STATUS_CODE_ERROR, "STATUS_CODE_ERROR"),
                        status_message=str(_get(status, "message") or ""),
                        attributes=_json_attributes(_get(span, "attributes")),
                        events=[
                            (str(_get(e, "name") or ""), _json_attributes(_get(e, "attributes")))
                            for e in _get(span, "events") or []
                        ],
                        resource=resource,
                    )
                )
    return spans


def _get(obj: Any, camel: str) -> Any:
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def _json_attributes(key_values: Any) -> dict[str, Any]:
    if not isinstance(key_values, list):
        return {}
    return {
        str(kv.get("key")): _json_value(kv.get("value") or {})
        for kv in key_values
        if isinstance(kv, dict)
    }


def _json_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value or "string_value" in value:
        return _get(value, "stringValue")
    if "intValue" in value or "int_value" in value:
        return _number(_get(value, "intValue"), int)
    if "doubleValue" in value or "double_value" in value:
        return _number(_get(value, "doubleValue"), float)
    if "boolValue" in value or "bool_value" in value:
        return bool(_get(value, "boolValue"))
    if "arrayValue" in value or "array_value" in value:
        return [_json_value(item) for item in (_get(_get(value, "arrayValue"), "values") or [])]
    if "kvlistValue" in value or "kvlist_value" in value:
        return _json_attributes(_get(_get(value, "kvlistValue"), "values"))
    if "bytesValue" in value or "bytes_value" in value:
        try:
            return base64.b64decode(_get(value, "bytesValue"), validate=True).hex()
        except (ValueError, TypeError):
            return None
    return None


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    """A number as OTLP/JSON writes it (int64 as a string); None when it is not one."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _nanos(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def response_protobuf(rejected: int, message: str) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response.SerializeToString()


def response_json(rejected: int, message: str) -> dict[str, Any]:
    if not (rejected or message):
        return {}
    return {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}


# --- mapping: a GenAI span into our record --------------------------------------------------


def is_genai(span: Span) -> bool:
    return any(marker in span.attributes for marker in GENAI_MARKERS)


def to_record(raw: dict[str, Any]) -> dict[str, Any]:
    span: Span = raw["span"]
    attributes = span.attributes
    provider = _first(attributes, "gen_ai.provider.name", "gen_ai.system")
    record: dict[str, Any] = {
        "event_id": f"{span.trace_id}:{span.span_id}" if span.span_id else None,
        "occurred_at": span.start_ns / 1e9 if span.start_ns else None,
        "served_model": _first(attributes, "gen_ai.response.model", "gen_ai.request.model"),
        "requested_model": attributes.get("gen_ai.request.model"),
        "input_tokens": _first(
            attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"
        ),
        "output_tokens": _first(
            attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
        ),
        "cost_usd": attributes.get("gen_ai.usage.cost"),
        "trace_id": span.trace_id,
        "prompt_text": _prompt(span),
        "response_excerpt": _response(span),
        "metadata": {
            key: value
            for key, value in {
                "source": "otlp",
                "span_name": span.name,
                "operation": attributes.get("gen_ai.operation.name"),
                "provider": provider,
                "service": span.resource.get("service.name"),
                "response_id": attributes.get("gen_ai.response.id"),
                "finish_reasons": attributes.get("gen_ai.response.finish_reasons"),
            }.items()
            if value not in (None, "", [])
        },
    }
    if span.start_ns and span.end_ns >= span.start_ns:
        record["latency_ms"] = round((span.end_ns - span.start_ns) / 1e6)
    for ours, theirs in ROUTER_ATTRIBUTES.items():
        record[ours] = attributes.get(theirs)
    if span.failed or attributes.get("error.type"):
        record.update(_error_fields(span))
    return {name: value for name, value in record.items() if value not in (None, "", [])}


def _first(attributes: dict[str, Any], *names: str) -> Any:
    return next((attributes[n] for n in names if attributes.get(n) not in (None, "")), None)


def _error_fields(span: Span) -> dict[str, Any]:
    error_type = str(span.attributes.get("error.type") or "")
    status = span.attributes.get("http.response.status_code")
    http_status = (
        status if isinstance(status, int) else (int(error_type) if error_type.isdigit() else None)
    )
    lowered = error_type.lower().replace("_", "").replace(" ", "")
    if http_status == 429 or "ratelimit" in lowered:
        kind = Decision.ErrorType.RATE_LIMIT
    elif "timeout" in lowered or http_status in (408, 504):
        kind = Decision.ErrorType.TIMEOUT
    elif (http_status is not None and http_status >= 500) or any(
        word in lowered
        for word in ("unavailable", "internalserver", "connection", "overloaded", "apierror")
    ):
        kind = Decision.ErrorType.PROVIDER_ERROR
    elif http_status in (401, 403, 404) or any(
        word in lowered for word in ("authentication", "permission", "notfound")
    ):
        kind = Decision.ErrorType.CONFIGURATION
    elif "context" in lowered:
        kind = Decision.ErrorType.CONTEXT_WINDOW
    elif "contentfilter" in lowered or "contentpolicy" in lowered:
        kind = Decision.ErrorType.CONTENT_FILTER
    elif http_status is not None and http_status >= 400:
        kind = Decision.ErrorType.BAD_REQUEST
    else:
        kind = Decision.ErrorType.OTHER
    return {
        "status": Decision.Status.ERROR,
        "error_type": kind,
        "http_status": http_status if http_status and 100 <= http_status <= 599 else None,
        "error_message": span.status_message or error_type,
    }


def _prompt(span: Span) -> str | None:
    """The last user turn, from the newest convention that the span carries."""
    messages = _json_list(span.attributes.get("gen_ai.input.messages"))
    if messages is not None:
        return _last_text(messages, role="user")
    indexed = _indexed_messages(span.attributes, "gen_ai.prompt")
    if indexed:
        return _last_text(indexed, role="user")
    events = [attrs for name, attrs in span.events if name == "gen_ai.user.message"]
    if events:
        return content_text(events[-1].get("content"))
    prompt = span.attributes.get("gen_ai.prompt")
    parsed = _json_list(prompt)
    if parsed is not None:
        return _last_text(parsed, role="user")
    return prompt if isinstance(prompt, str) else None


def _response(span: Span) -> str | None:
    messages = _json_list(span.attributes.get("gen_ai.output.messages"))
    text = None
    if messages is not None:
        text = _last_text(messages, role=None)
    elif indexed := _indexed_messages(span.attributes, "gen_ai.completion"):
        text = _last_text(indexed, role=None)
    elif choices := [attrs for name, attrs in span.events if name == "gen_ai.choice"]:
        message = choices[-1].get("message")
        text = (
            content_text(message.get("content"))
            if isinstance(message, dict)
            else content_text(message)
        )
    elif isinstance(span.attributes.get("gen_ai.completion"), str):
        text = span.attributes["gen_ai.completion"]
    return text[:RESPONSE_EXCERPT_CHARS] if text else None


def _json_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None
    return None


def _indexed_messages(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenLLMetry's flattened form: ``gen_ai.prompt.0.role``, ``gen_ai.prompt.0.content``."""
    messages: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        parts = key.removeprefix(prefix + ".").split(".", 1)
        if key.startswith(prefix + ".") and len(parts) == 2 and parts[0].isdigit():
            messages.setdefault(int(parts[0]), {})[parts[1]] = value
    return [messages[i] for i in sorted(messages)]


def _last_text(messages: list[Any], *, role: str | None) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and (role is None or message.get("role") == role):
            content = message.get("parts", message.get("content"))
            return content_text(content)
    return None


OTLP = Source(to_record=to_record, source_field=lambda name: SOURCE_FIELDS.get(name, name))
