"""The REST API for gateways: one view per operation, each validating and calling the domain."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAuthenticated, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from review import ingestion, payloads, records
from review.adapters import litellm, otlp
from review.api_auth import GatewayKeyAuthentication, GatewayKeyThrottle, has_scope
from review.api_errors import TooManyRecords
from review.models import ApiKey, Scope

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["code", "message"],
        }
    },
}
ERROR_RESPONSES = {
    400: OpenApiResponse(ERROR_SCHEMA, description="The body is not JSON (or not valid gzip)."),
    401: OpenApiResponse(ERROR_SCHEMA, description="No key, an unknown or revoked key."),
    403: OpenApiResponse(ERROR_SCHEMA, description="The key lacks the endpoint's scope."),
    413: OpenApiResponse(ERROR_SCHEMA, description="Over a size cap (raw, decoded, records)."),
    415: OpenApiResponse(ERROR_SCHEMA, description="A Content-Encoding other than gzip."),
    429: OpenApiResponse(ERROR_SCHEMA, description="Throttled; see Retry-After."),
    503: OpenApiResponse(ERROR_SCHEMA, description="Database unreachable; see Retry-After."),
}


def _results_schema(statuses: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            **{status: {"type": "integer"} for status in statuses},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "event_id": {"type": "string", "nullable": True},
                        "status": {"type": "string", "enum": statuses},
                        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
        },
    }


def _batch_of(record_schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [record_schema, {"type": "array", "items": record_schema}]}


def read_batch(request: Request) -> list[Any]:
    """The records of a gateway's post, within every size cap."""
    http_request: HttpRequest = request._request
    body = payloads.read_body(
        http_request,
        max_raw=settings.INGEST_MAX_BODY_BYTES,
        max_decoded=settings.INGEST_MAX_DECODED_BYTES,
    )
    batch = payloads.parse_json_records(body)
    if len(batch) > settings.INGEST_MAX_RECORDS:
        raise TooManyRecords(
            f"the batch has {len(batch)} records; the limit is {settings.INGEST_MAX_RECORDS}"
        )
    return batch


def batch_response(report: ingestion.BatchReport) -> Response:
    """Every record's result: 200 when none was rejected, 207 (multi-status) otherwise."""
    return Response(report.as_json(), status=207 if report.count("rejected") else 200)


class GatewayApiView(APIView):
    """Authenticated by a gateway key with the ``required_scope``, throttled per key."""

    authentication_classes = [GatewayKeyAuthentication]
    throttle_classes = [GatewayKeyThrottle]
    required_scope = Scope.INGEST

    def get_permissions(self) -> list[Any]:
        return [has_scope(self.required_scope)()]

    def key(self, request: Request) -> ApiKey:
        if not isinstance(request.auth, ApiKey):  # the scope permission has refused it already
            raise NotAuthenticated()
        return request.auth


DECISION_EXAMPLE = {
    "event_id": "req-7f3a",
    "occurred_at": "2026-11-30T12:00:03Z",
    "served_model": "gpt-4o-mini",
    "router_score": 0.21,
    "router_category": "faq",
    "router_tier": "small",
    "input_tokens": 412,
    "output_tokens": 96,
    "latency_ms": 830,
    "prompt_text": "How do I reset my password?",
}


class DecisionIngestApi(GatewayApiView):
    @extend_schema(
        operation_id="ingest_decisions",
        summary="Post routing decisions in our schema",
        description=(
            "A JSON array, one object, or newline-delimited JSON; gzip allowed "
            "(`Content-Encoding: gzip`). Every record gets a result: `accepted`, `duplicate` "
            "(the gateway sent this event id before; nothing changes) or `rejected` with a "
            "reason per field. Valid records of a mixed batch are stored. The answer comes after "
            "the commit: 200 when nothing was rejected, 207 otherwise."
        ),
        request={
            "application/json": _batch_of(
                records.json_schema(records.DECISION_FIELDS, records.REQUIRED)
            )
        },
        responses={
            200: _results_schema(["accepted", "duplicate", "rejected"]),
            207: _results_schema(["accepted", "duplicate", "rejected"]),
            **ERROR_RESPONSES,
        },
        examples=[OpenApiExample("One decision", value=[DECISION_EXAMPLE], request_only=True)],
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        report = ingestion.ingest_batch(
            gateway=self.key(request).gateway, batch=read_batch(request)
        )
        return batch_response(report)


class OutcomeIngestApi(GatewayApiView):
    @extend_schema(
        operation_id="ingest_outcomes",
        summary="Post late outcome signals by event id",
        description=(
            "User feedback, judge score, retried or escalated, for decisions posted earlier by "
            "the same gateway. Unknown event ids are reported as `unknown_event`, never dropped "
            "silently; an outcome older than the one already recorded for its event (by "
            "`occurred_at`) is reported as `stale` and not applied. 200 when every record was "
            "applied, 207 otherwise."
        ),
        request={
            "application/json": _batch_of(
                records.json_schema(records.OUTCOME_RECORD_FIELDS, ("event_id",))
            )
        },
        responses={
            200: _results_schema(["updated", "unknown_event", "stale", "rejected"]),
            207: _results_schema(["updated", "unknown_event", "stale", "rejected"]),
            **ERROR_RESPONSES,
        },
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        results = ingestion.record_outcomes(
            gateway=self.key(request).gateway, batch=read_batch(request)
        )
        counts = {
            status: sum(r["status"] == status for r in results)
            for status in ("updated", "unknown_event", "stale", "rejected")
        }
        everything_applied = counts["updated"] == len(results)
        return Response({**counts, "results": results}, status=200 if everything_applied else 207)


class LiteLLMIngestApi(GatewayApiView):
    @extend_schema(
        operation_id="ingest_litellm",
        summary="Post LiteLLM's StandardLoggingPayload, as its HTTP logging callback sends it",
        description=(
            "Point LiteLLM's generic API logger here (`GENERIC_LOGGER_ENDPOINT`, with the key in "
            "`GENERIC_LOGGER_HEADERS=Authorization=Bearer rr_…`). Accepts its `json_array`, "
            "`ndjson` and `single` formats at its default batch size. Each payload is one attempt: "
            "deduplicated on `litellm_call_id`; attempts of one request are linked by `trace_id`; "
            "`metadata.routing_decision` fills the router fields. Results as for "
            "`/api/v1/decisions`, with LiteLLM's field names in the reasons."
        ),
        request={"application/json": {"oneOf": [{"type": "object"}, {"type": "array"}]}},
        responses={
            200: _results_schema(["accepted", "duplicate", "rejected"]),
            207: _results_schema(["accepted", "duplicate", "rejected"]),
            **ERROR_RESPONSES,
        },
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        report = ingestion.ingest_batch(
            gateway=self.key(request).gateway, batch=read_batch(request), source=litellm.LITELLM
        )
        return batch_response(report)


class OtlpTracesApi(GatewayApiView):
    @extend_schema(
        operation_id="ingest_otlp_traces",
        summary="OTLP/HTTP trace export with OpenTelemetry GenAI spans",
        description=(
            "The standard OTLP/HTTP traces endpoint: point an exporter's "
            "`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` here with `OTEL_EXPORTER_OTLP_HEADERS="
            "Authorization=Bearer rr_…`. Protobuf (`application/x-protobuf`) or JSON "
            "(`application/json`), gzip or deflate. Each GenAI span (one with "
            "`gen_ai.operation.name`, `gen_ai.provider.name` or `gen_ai.system`) becomes a "
            "decision, deduplicated on trace and span id. Other spans are ignored and, with any "
            "GenAI span that could not be used, counted in `partial_success`."
        ),
        request={
            "application/x-protobuf": {"type": "string", "format": "binary"},
            "application/json": {"type": "object"},
        },
        responses={200: {"type": "object"}, **ERROR_RESPONSES},
        tags=["ingestion"],
    )
    def post(self, request: Request) -> HttpResponse | Response:
        http_request: HttpRequest = request._request
        content_type = http_request.content_type or ""
        is_json = content_type == "application/json"
        if not is_json and content_type != "application/x-protobuf":
            raise UnsupportedMediaType(
                content_type, "send application/x-protobuf or application/json"
            )
        body = payloads.read_body(
            http_request,
            max_raw=settings.INGEST_MAX_BODY_BYTES,
            max_decoded=settings.INGEST_MAX_DECODED_BYTES,
        )
        spans = (
            otlp.spans_from_json(payloads.parse_json(body))
            if is_json
            else (otlp.spans_from_protobuf(body))
        )
        calls = [span for span in spans if otlp.is_genai(span)]
        if len(calls) > settings.INGEST_MAX_RECORDS:
            raise TooManyRecords(
                f"the export has {len(calls)} GenAI spans; the limit is "
                f"{settings.INGEST_MAX_RECORDS}"
            )
        report = ingestion.ingest_batch(
            gateway=self.key(request).gateway,
            batch=[{"span": span} for span in calls],
            source=otlp.OTLP,
        )
        rejected, message = _partial_success(len(spans) - len(calls), report)
        if is_json:
            return Response(otlp.response_json(rejected, message))
        return HttpResponse(
            otlp.response_protobuf(rejected, message), content_type="application/x-protobuf"
        )


def _partial_success(ignored: int, report: ingestion.BatchReport) -> tuple[int, str]:
    notes = []
    if ignored:
        notes.append(f"{ignored} spans were not GenAI calls and were ignored")
    refused = [r for r in report.results if r["status"] == "rejected"]
    if refused:
        reasons = "; ".join(
            ", ".join(f"{field} {reason}" for field, reason in r.get("errors", {}).items())
            for r in refused[:3]
        )
        notes.append(f"{len(refused)} GenAI spans could not be used ({reasons})")
    return ignored + len(refused), ". ".join(notes)
