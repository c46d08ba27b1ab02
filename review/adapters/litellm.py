"""LiteLLM's ``StandardLoggingPayload``, as its generic HTTP logging callback posts it, mapped onto
our decision records.

One payload is one attempt: retries and fallbacks of a request are separate payloads sharing a
``trace_id``. The router's own account comes from ``metadata.routing_decision`` (LiteLLM's
complexity router and its other pre-routing strategies).
"""

from typing import Any

from review.adapters.messages import content_text
from review.ingestion import Source
from review.models import Decision

# Our record's field → the LiteLLM field it comes from, to name the source in error messages.
SOURCE_FIELDS = {
    "event_id": "litellm_call_id",
    "occurred_at": "startTime",
    "served_model": "model",
    "requested_model": "model_group",
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "cost_usd": "response_cost",
    "latency_ms": "endTime",
    "time_to_first_token_ms": "completionStartTime",
    "trace_id": "trace_id",
    "error_message": "error_str",
    "prompt_text": "messages",
    "response_excerpt": "response",
}
RESPONSE_EXCERPT_CHARS = 2000
# Score boundary below each tier of LiteLLM's complexity router.
TIER_FLOOR_KEYS = {
    "MEDIUM": "simple_medium",
    "COMPLEX": "medium_complex",
    "REASONING": "complex_reasoning",
}
ERROR_CLASSES = {
    "RateLimitError": Decision.ErrorType.RATE_LIMIT,
    "Timeout": Decision.ErrorType.TIMEOUT,
    "APITimeoutError": Decision.ErrorType.TIMEOUT,
    "ServiceUnavailableError": Decision.ErrorType.PROVIDER_ERROR,
    "InternalServerError": Decision.ErrorType.PROVIDER_ERROR,
    "APIConnectionError": Decision.ErrorType.PROVIDER_ERROR,
    "BadGatewayError": Decision.ErrorType.PROVIDER_ERROR,
    "ContextWindowExceededError": Decision.ErrorType.CONTEXT_WINDOW,
    "ContentPolicyViolationError": Decision.ErrorType.CONTENT_FILTER,
    "BadRequestError": Decision.ErrorType.BAD_REQUEST,
    "AuthenticationError": Decision.ErrorType.CONFIGURATION,
    "PermissionDeniedError": Decision.ErrorType.CONFIGURATION,
    "NotFoundError": Decision.ErrorType.CONFIGURATION,
    "BudgetExceededError": Decision.ErrorType.CONFIGURATION,
    "APIError": Decision.ErrorType.PROVIDER_ERROR,
    "UnprocessableEntityError": Decision.ErrorType.BAD_REQUEST,
    "JSONSchemaValidationError": Decision.ErrorType.OUTPUT_INVALID,
}


def to_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Our record for one payload; fields LiteLLM left empty are left out."""
    metadata = payload.get("metadata") or {}
    hidden = payload.get("hidden_params") or {}
    headers = hidden.get("additional_headers") or {}
    start, end = payload.get("startTime"), payload.get("endTime")
    first_token = payload.get("completionStartTime")
    record: dict[str, Any] = {
        "event_id": payload.get("litellm_call_id") or payload.get("id"),
        "occurred_at": start,
        "served_model": payload.get("model"),
        "requested_model": payload.get("model_group"),
        "input_tokens": payload.get("prompt_tokens"),
        "output_tokens": payload.get("completion_tokens"),
        "cost_usd": payload.get("response_cost"),
        "trace_id": payload.get("trace_id"),
        "prompt_text": last_user_message(payload.get("messages")),
        "response_excerpt": _response_text(payload.get("response")),
        "retries": _count(headers.get("x-litellm-attempted-retries")),
        "metadata": _kept_metadata(payload, metadata, headers),
    }
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        record["latency_ms"] = round((end - start) * 1000)
        if isinstance(first_token, int | float) and start < first_token <= end:
            record["time_to_first_token_ms"] = round((first_token - start) * 1000)
    if payload.get("status") == "failure":
        record.update(_error_fields(payload))
    else:
        record["status"] = Decision.Status.SUCCESS
    record.update(_router_fields(metadata.get("routing_decision")))
    return {name: value for name, value in record.items() if value not in (None, "", [], {})}


def last_user_message(messages: Any) -> str | None:
    """The text of the last user turn: a string, or the text parts of a list of content parts."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return None


def _response_text(response: Any) -> str | None:
    if isinstance(response, str):
        return response[:RESPONSE_EXCERPT_CHARS]
    if not isinstance(response, dict):
        return None
    choices = response.get("choices") or []
    if choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        text = content_text(message.get("content")) if isinstance(message, dict) else None
        return text[:RESPONSE_EXCERPT_CHARS] if text else None
    return None


def _error_fields(payload: dict[str, Any]) -> dict[str, Any]:
    info = payload.get("error_information") or {}
    code = str(info.get("error_code") or "")
    error_class = str(info.get("error_class") or "")
    http_status = int(code) if code.isdigit() and 100 <= int(code) <= 599 else None
    error_type = ERROR_CLASSES.get(error_class)
    if error_type is None and http_status is not None:
        if http_status == 429:
            error_type = Decision.ErrorType.RATE_LIMIT
        elif http_status in (408, 504):
            error_type = Decision.ErrorType.TIMEOUT
        elif http_status >= 500:
            error_type = Decision.ErrorType.PROVIDER_ERROR
        elif http_status in (401, 403, 404):
            error_type = Decision.ErrorType.CONFIGURATION
        elif http_status >= 400:
            error_type = Decision.ErrorType.BAD_REQUEST
    return {
        "status": Decision.Status.ERROR,
        "error_type": error_type or Decision.ErrorType.OTHER,
        "http_status": http_status,
        "error_message": payload.get("error_str") or info.get("error_message"),
    }


def _router_fields(decision: Any) -> dict[str, Any]:
    if not isinstance(decision, dict):
        return {}
    tier = decision.get("tier") or ""
    boundaries = decision.get("tier_boundaries") or {}
    signals = [str(s) for s in decision.get("signals") or []]
    cause = str(decision.get("cause") or "")
    if decision.get("matched_keyword"):
        cause += f" (keyword {decision['matched_keyword']!r})"
    if signals:
        cause += ": " + "; ".join(signals)
    router_type = decision.get("router_type")
    fingerprint = str(decision.get("router_config_fingerprint") or "")
    return {
        "router_name": f"litellm-{router_type}-router" if router_type else "litellm-router",
        "router_version": fingerprint[:12],
        "router_score": decision.get("score") if _is_number(decision.get("score")) else None,
        "router_threshold": boundaries.get(TIER_FLOOR_KEYS.get(str(tier).upper(), "")),
        "router_category": str(decision.get("request_type") or "")[:60],
        "router_tier": str(tier)[:40],
        "router_cause": cause[:300],
    }


def _kept_metadata(
    payload: dict[str, Any], metadata: dict[str, Any], headers: dict[str, Any]
) -> dict[str, Any]:
    kept = {
        "source": "litellm",
        "call_type": payload.get("call_type"),
        "custom_llm_provider": payload.get("custom_llm_provider"),
        "model_id": payload.get("model_id"),
        "cache_hit": payload.get("cache_hit"),
        "request_tags": payload.get("request_tags") or None,
        "session_id": payload.get("session_id"),
        "attempted_fallbacks": _count(headers.get("x-litellm-attempted-fallbacks")),
        "routing_decision": metadata.get("routing_decision"),
    }
    return {key: value for key, value in kept.items() if value not in (None, "", [])}


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


LITELLM = Source(
    to_record=to_record,
    source_field=lambda name: SOURCE_FIELDS.get(name, name),
    name="a LiteLLM StandardLoggingPayload",
)
