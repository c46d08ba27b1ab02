"""OTLP/HTTP traces with the OpenTelemetry SDK's own exporter as the client."""

import gzip
import json

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from review.models import ApiKey, Decision, Gateway

NEW_STYLE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.input.messages": json.dumps(
        [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "What are your hours?"}]},
        ]
    ),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "9 to 5."}]}]
    ),
    "routing.router": "routellm-mf",
    "routing.score": 0.12,
    "routing.threshold": 0.3,
    "routing.tier": "small",
    "routing.category": "faq",
    "routing.cause": "score 0.12 < 0.30",
}
OLD_STYLE = {
    "gen_ai.system": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.prompt_tokens": 900,
    "gen_ai.usage.completion_tokens": 300,
}
INDEXED = {
    "gen_ai.system": "openai",
    "gen_ai.request.model": "o3",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "You are a planner.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Plan the migration in phases.",
    "gen_ai.completion.0.content": "Phase 1: dual-write.",
}
RATE_LIMITED = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4.1",
    "error.type": "RateLimitError",
    "http.response.status_code": 429,
}


def _emit(exporters) -> int:
    """Spans a gateway would produce: four GenAI calls and two spans that are not."""
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("gateway")
    with tracer.start_as_current_span("POST /chat"):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=NEW_STYLE):
            pass
        with tracer.start_as_current_span("anthropic.chat", attributes=OLD_STYLE) as span:
            span.add_event("gen_ai.user.message", {"content": "Summarize the contract."})
            span.add_event("gen_ai.choice", {"message": "The contract renews yearly."})
        with tracer.start_as_current_span("openai.chat", attributes=INDEXED):
            pass
        with tracer.start_as_current_span("chat gpt-4.1", attributes=RATE_LIMITED) as span:
            span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
        with tracer.start_as_current_span("SELECT users"):
            pass
    provider.shutdown()
    return 4


@pytest.fixture
def otlp_key(transactional_db, tiers) -> str:
    return ApiKey.issue(gateway=Gateway.objects.create(name="otel-gateway"), scopes=["ingest"])[1]


def test_the_sdk_exporters_genai_spans_arrive_once_with_both_naming_generations(
    live_server, otlp_key
):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"Authorization": f"Bearer {otlp_key}"},
        compression=Compression.Gzip,
    )
    memory = InMemorySpanExporter()
    expected = _emit([exporter, memory])

    decisions = {d.requested_model: d for d in Decision.objects.select_related("served_model")}
    assert len(decisions) == expected == Decision.objects.count()
    new = decisions["gpt-4o-mini"]
    assert (new.served_model.name, new.served_model_name) == (
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (new.input_tokens, new.output_tokens) == (120, 40)
    assert new.prompt_text == "What are your hours?"
    assert new.response_excerpt == "9 to 5."
    assert (new.router_name, new.router_score, new.router_tier) == ("routellm-mf", 0.12, "small")
    assert (new.router_category, new.router_threshold) == ("faq", 0.3)
    assert new.metadata["provider"] == "openai" and new.metadata["service"] == "gateway"
    old = decisions["claude-sonnet-4-5"]
    assert (old.input_tokens, old.output_tokens) == (900, 300)
    assert old.prompt_text == "Summarize the contract."
    assert old.response_excerpt == "The contract renews yearly."
    assert old.metadata["provider"] == "anthropic"
    assert str(old.cost_usd) == "0.00720000"  # catalog: 900 × $3/M + 300 × $15/M
    indexed = decisions["o3"]
    assert indexed.prompt_text == "Plan the migration in phases."
    assert indexed.response_excerpt == "Phase 1: dual-write."
    failed = decisions["gpt-4.1"]
    assert (failed.status, failed.error_type, failed.http_status) == ("error", "rate_limit", 429)
    assert failed.error_message == "429 Too Many Requests"
    assert len({d.trace_id for d in decisions.values()}) == 1  # one request, one trace
    assert all(d.latency_ms is not None for d in decisions.values())

    # The same export again, straight from the SDK's encoder: nothing new, and OTLP's
    # partial_success counts the two spans that were not GenAI calls.
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    response = httpx.post(
        f"{live_server.url}/v1/traces",
        content=gzip.compress(body),
        headers={
            "Authorization": f"Bearer {otlp_key}",
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-protobuf"
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert partial.error_message == "2 spans were not GenAI calls and were ignored"
    assert Decision.objects.count() == expected


def test_otlp_json_with_hex_ids_and_string_integers(client, otlp_key):
    export = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "gw"},
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "name": "chat",
                                "startTimeUnixNano": "1796400000000000000",
                                "endTimeUnixNano": "1796400001250000000",
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                    {
                                        "key": "gen_ai.request.model",
                                        "value": {"stringValue": "gpt-4o"},
                                    },
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "50"},
                                    },
                                    {"key": "routing.score", "value": {"doubleValue": 0.8}},
                                ],
                                "status": {"code": 0},
                            },
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "AAA19B7EC3C1B174",
                                "name": "bad",
                                "startTimeUnixNano": "1796400000000000000",
                                "endTimeUnixNano": "1796400001000000000",
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "openai"}}
                                ],
                            },
                            {"traceId": "5B8E", "spanId": "01", "name": "GET /", "attributes": []},
                        ],
                    }
                ],
            }
        ]
    }
    response = client.post(
        "/v1/traces",
        data=json.dumps(export),
        content_type="application/json",
        headers={"Authorization": f"Bearer {otlp_key}"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "2",
            "errorMessage": "1 spans were not GenAI calls and were ignored. 1 GenAI spans could "
            "not be used (gen_ai.response.model is required)",
        }
    }
    decision = Decision.objects.get()
    assert decision.event_id == "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"
    assert (decision.input_tokens, decision.latency_ms, decision.router_score) == (50, 1250, 0.8)
    assert decision.occurred_at.timestamp() == 1796400000


def test_otlp_refuses_other_media_types_and_garbage(client, otlp_key):
    headers = {"Authorization": f"Bearer {otlp_key}"}
    text = client.post("/v1/traces", data="x", content_type="text/plain", headers=headers)
    assert text.status_code == 415
    garbage = client.post(
        "/v1/traces",
        data=b"\xff\x00garbage",
        content_type="application/x-protobuf",
        headers=headers,
    )
    assert garbage.status_code == 400
    assert "not an OTLP ExportTraceServiceRequest" in garbage.json()["error"]["message"]
