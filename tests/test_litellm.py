"""LiteLLM as the client: its router with mock deployments and its HTTP logging callback,
pointed at a live test server, posting StandardLoggingPayload in each of its formats."""

import asyncio
import json
import logging

import httpx
import litellm
import pytest
from litellm import Router
from litellm.integrations.custom_logger import CustomLogger
from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger

from review import pipeline
from review.models import ApiKey, Decision, Gateway

PROMPTS = [
    "hello there",
    "What is the capital of France?",
    "Think step by step: prove the algorithm terminates, then analyze its complexity.",
    "Write a python function that parses a CSV file and handles quoted fields.",
    "First list the risks, then compare both vendors, and finally recommend one with reasons.",
    "thanks!",
]
MODEL_LIST = [
    {
        "model_name": "small",
        "litellm_params": {"model": "openai/gpt-4o-mini", "mock_response": "Sure!", "api_key": "x"},
    },
    {
        "model_name": "medium",
        "litellm_params": {
            "model": "openai/gpt-4.1-mini",
            "mock_response": "Here you go.",
            "api_key": "x",
        },
    },
    {
        "model_name": "large",
        "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5",
            "mock_response": "A careful answer.",
            "api_key": "x",
        },
    },
    {
        "model_name": "reasoning",
        "litellm_params": {
            "model": "openai/o3",
            "mock_response": "Reasoned answer.",
            "api_key": "x",
        },
    },
    {
        "model_name": "flaky",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "mock_response": Exception("upstream overloaded"),
            "api_key": "x",
        },
    },
    {
        "model_name": "auto",
        "litellm_params": {
            "model": "auto_router/complexity_router",
            "complexity_router_config": {
                "tiers": {
                    "SIMPLE": "small",
                    "MEDIUM": "medium",
                    "COMPLEX": "large",
                    "REASONING": "reasoning",
                }
            },
        },
    },
]


class Recorder(CustomLogger):
    """What LiteLLM itself logged, to compare with what arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict] = []

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.payloads.append(kwargs["standard_logging_object"])

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.payloads.append(kwargs["standard_logging_object"])


async def _traffic(endpoint: str, key: str, log_format: str, requests: int) -> list[dict]:
    logger = GenericAPILogger(
        endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}, log_format=log_format
    )
    recorder = Recorder()
    # LiteLLM copies callbacks into internal lists on first use; start each run from none.
    litellm.logging_callback_manager._reset_all_callbacks()
    litellm.callbacks = [logger, recorder]
    router = Router(model_list=MODEL_LIST, fallbacks=[{"flaky": ["large"]}], num_retries=0)
    try:
        for number in range(requests):
            messages = [
                {"role": "system", "content": "You are the support assistant."},
                {"role": "user", "content": f"{PROMPTS[number % len(PROMPTS)]} (#{number})"},
            ]
            if number % 25 == 7:
                await router.acompletion(model="flaky", messages=messages)
            elif number % 25 == 13:
                error = litellm.RateLimitError(
                    "slow down", llm_provider="openai", model="gpt-4o-mini"
                )
                with pytest.raises(litellm.RateLimitError):
                    await router.acompletion(model="small", messages=messages, mock_response=error)
            else:
                await router.acompletion(model="auto", messages=messages)
        await asyncio.sleep(0.5)  # success callbacks run as tasks after each call returns
        await logger.flush_queue()
    finally:
        litellm.logging_callback_manager._reset_all_callbacks()
    return recorder.payloads


@pytest.fixture
def litellm_key(transactional_db, tiers) -> str:
    gateway = Gateway.objects.create(name="litellm-proxy")
    return ApiKey.issue(gateway=gateway, scopes=["ingest"])[1]


@pytest.mark.parametrize(
    ("log_format", "requests"), [("json_array", 600), ("ndjson", 60), ("single", 30)]
)
def test_every_record_litellm_logs_arrives_once_with_its_fields(
    live_server, litellm_key, log_format, requests, caplog
):
    caplog.set_level(logging.WARNING, logger="LiteLLM")
    endpoint = f"{live_server.url}/api/v1/ingest/litellm"
    logged = asyncio.run(_traffic(endpoint, litellm_key, log_format, requests))

    call_ids = [payload["litellm_call_id"] for payload in logged]
    stored = {d.event_id: d for d in Decision.objects.select_related("served_tier")}
    assert len(logged) >= requests
    assert sorted(stored) == sorted(call_ids)
    assert not [r for r in caplog.records if "Generic API Logger Error" in r.getMessage()]

    pipeline.process_decisions(decision_ids=[d.pk for d in stored.values()])
    for payload in logged:
        decision = Decision.objects.get(event_id=payload["litellm_call_id"])
        assert decision.trace_id == payload["trace_id"]
        assert decision.input_tokens == payload["prompt_tokens"]
        assert float(decision.cost_usd) == pytest.approx(payload["response_cost"], abs=1e-8)
        assert decision.occurred_at.timestamp() == pytest.approx(payload["startTime"], abs=1e-3)
        routing = payload["metadata"].get("routing_decision")
        if routing:
            assert decision.router_name == "litellm-complexity-router"
            assert decision.router_tier == routing["tier"]
            assert decision.router_score == pytest.approx(routing["score"])
            assert decision.router_cause.startswith(routing["cause"])
            assert decision.requested_model == "auto"
            assert decision.prompt_text.endswith(")")  # the last user turn, not the system one
    rate_limited = [d for d in Decision.objects.filter(error_type="rate_limit")]
    assert rate_limited and all(d.http_status == 429 for d in rate_limited)
    fallbacks = Decision.objects.filter(requested_model="large", status="success")
    assert fallbacks.exists()
    for decision in fallbacks:
        assert decision.fallback_chain == ["openai/gpt-4o-mini"]
        assert decision.metadata["attempted_fallbacks"] == 1
        failed_first = Decision.objects.filter(trace_id=decision.trace_id, status="error")
        assert failed_first.filter(error_type="provider_error").exists()


def test_a_redelivered_batch_is_reported_as_duplicates(live_server, litellm_key):
    endpoint = f"{live_server.url}/api/v1/ingest/litellm"
    logged = asyncio.run(_traffic(endpoint, litellm_key, "json_array", 12))
    body = json.dumps(logged, default=str)
    response = httpx.post(
        endpoint,
        content=body,
        headers={"Authorization": f"Bearer {litellm_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["duplicate"] == len(logged)
    assert Decision.objects.count() == len(logged)


def test_bad_payloads_are_rejected_with_litellms_field_names(live_server, litellm_key):
    endpoint = f"{live_server.url}/api/v1/ingest/litellm"
    payloads = [
        {"litellm_call_id": "a", "startTime": "yesterday", "model": "gpt-4o-mini"},
        {"litellm_call_id": "b", "startTime": 1796400000.0, "prompt_tokens": -1, "model": "gpt-4o"},
        {"litellm_call_id": "c", "startTime": 1796400000.0},
    ]
    response = httpx.post(endpoint, json=payloads, headers={"X-API-Key": litellm_key})
    assert response.status_code == 207
    errors = [r.get("errors") for r in response.json()["results"]]
    assert errors[0] == {"startTime": "is not an ISO 8601 time: 'yesterday'"}
    assert errors[1] == {"prompt_tokens": "must be between 0 and 2147483647, got -1"}
    assert errors[2] == {"model": "is required"}
    assert not Decision.objects.exists()
