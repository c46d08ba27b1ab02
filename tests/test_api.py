"""The ingestion API over HTTP: auth, limits, errors, per-record results."""

import gzip
import json
import threading
import tracemalloc

import pytest
from django.db import connection
from django.test import Client

from review.models import ApiKey, Decision

URL = "/api/v1/decisions"


def record(event_id: str = "evt-1", **fields) -> dict:
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-30T12:00:00Z",
        "served_model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 200,
        **fields,
    }


def post(client: Client, body, url: str = URL, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(url, data=data, content_type="application/json", headers=headers)


def test_a_batch_is_accepted_then_reported_as_duplicate(gateway_client):
    batch = [record("a"), record("b")]
    first = post(gateway_client, batch)
    assert first.status_code == 200
    assert first.json()["accepted"] == 2
    second = post(gateway_client, batch)
    assert second.status_code == 200
    assert [r["status"] for r in second.json()["results"]] == ["duplicate", "duplicate"]
    assert Decision.objects.count() == 2


def test_a_mixed_batch_stores_its_valid_records_and_names_each_bad_field(gateway_client):
    batch = [
        record("good-1"),
        record("bad-1", input_tokens=-5, judge_score=3),
        {"event_id": "bad-2", "served_model": "gpt-4o"},
        record("bad-3", occurred_at="2026-11-30T12:00:00", error_type="timeout", status="success"),
        record("bad-4", router_scor=0.3),
        "not an object",
        record("good-2", status="error", error_type="rate_limit"),
    ]
    response = post(gateway_client, batch)
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 5)
    errors = {r["index"]: r.get("errors") for r in body["results"]}
    assert errors[1] == {
        "input_tokens": "must be between 0 and 2147483647, got -5",
        "judge_score": "must be between 0 and 1, got 3",
    }
    assert errors[2] == {"occurred_at": "is required"}
    assert errors[3] == {
        "occurred_at": "needs a time zone offset, e.g. 2026-11-30T12:00:00Z",
        "error_type": "is only allowed when status is error",
    }
    assert errors[4] == {
        "router_scor": "is not a field of this schema; put free data under metadata"
    }
    assert errors[5] == {"record": "must be an object, got a string"}
    assert set(Decision.objects.values_list("event_id", flat=True)) == {"good-1", "good-2"}


def test_the_same_batch_from_eight_threads_at_once_is_stored_once(
    transactional_db, tiers, ingest_key
):
    batch = json.dumps([record(f"evt-{i}") for i in range(300)]).encode()
    statuses: list[list[str]] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        client = Client(headers={"Authorization": f"Bearer {ingest_key}"})
        barrier.wait()
        response = client.post(URL, data=batch, content_type="application/json")
        statuses.append([r["status"] for r in response.json()["results"]])
        connection.close()  # each thread has its own; the test database is dropped after

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Decision.objects.count() == 300
    accepted_per_record = [sum(s[i] == "accepted" for s in statuses) for i in range(300)]
    assert accepted_per_record == [1] * 300


def test_records_are_stored_with_the_catalogs_tier_and_cost(gateway_client, tiers):
    post(
        gateway_client,
        [record("priced"), record("logged", cost_usd=0.5, served_model="azure/gpt-4o")],
    )
    priced = Decision.objects.get(event_id="priced")
    assert priced.served_tier == tiers["small"]
    assert str(priced.cost_usd) == "0.00027000"  # 1000 × $0.15/M + 200 × $0.60/M
    assert priced.cost_source == "catalog"
    logged = Decision.objects.get(event_id="logged")
    assert (logged.served_model.name, logged.served_tier, logged.cost_source) == (
        "gpt-4o",
        tiers["large"],
        "logged",
    )
    assert logged.served_model_name == "azure/gpt-4o"


def test_one_object_and_newline_delimited_json_are_batches_too(gateway_client):
    assert post(gateway_client, record("single")).json()["accepted"] == 1
    ndjson = b"\n".join(json.dumps(record(f"line-{i}")).encode() for i in range(3))
    assert post(gateway_client, ndjson).json()["accepted"] == 3


def test_gzip_bodies_are_accepted(gateway_client):
    body = gzip.compress(json.dumps([record("zipped")]).encode())
    response = post(gateway_client, body, **{"Content-Encoding": "gzip"})
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"", "the body is empty"),
        (b"42", "the body must be a JSON object or an array of objects"),
    ],
)
def test_a_body_that_is_not_json_is_a_400(gateway_client, body, message):
    response = post(gateway_client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_body"
    assert response.json()["error"]["message"].startswith(message)


def test_a_corrupt_or_truncated_gzip_body_is_a_400(gateway_client):
    whole = gzip.compress(json.dumps([record()]).encode())
    for body in (b"\x1f\x8bgarbage", whole[:-8]):
        response = post(gateway_client, body, **{"Content-Encoding": "gzip"})
        assert response.status_code == 400, body
    assert post(gateway_client, b"x", **{"Content-Encoding": "br"}).status_code == 415


def test_the_raw_body_cap_is_exact(gateway_client, settings):
    body = json.dumps([record()]).encode()
    settings.INGEST_MAX_BODY_BYTES = len(body)
    assert post(gateway_client, body).status_code == 200
    settings.INGEST_MAX_BODY_BYTES = len(body) - 1
    response = post(gateway_client, body)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "body_too_large",
        "message": f"the body is {len(body)} bytes; the limit is {len(body) - 1}",
    }


def test_the_decoded_body_cap_is_exact(gateway_client, settings):
    decoded = json.dumps([record("d")]).encode()
    body = gzip.compress(decoded)
    settings.INGEST_MAX_DECODED_BYTES = len(decoded)
    assert post(gateway_client, body, **{"Content-Encoding": "gzip"}).status_code == 200
    settings.INGEST_MAX_DECODED_BYTES = len(decoded) - 1
    response = post(gateway_client, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "inflates past the limit" in response.json()["error"]["message"]


def test_the_record_size_cap_is_exact(gateway_client, settings):
    small = record("small")
    size = len(json.dumps(small, separators=(",", ":")).encode())
    settings.INGEST_MAX_RECORD_BYTES = size
    big = record("big", prompt_text="x")
    response = post(gateway_client, [small, big])
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected"]
    big_size = len(json.dumps(big, separators=(",", ":")).encode())
    assert response.json()["results"][1]["errors"] == {
        "record": f"is {big_size} bytes; the limit is {size}"
    }


def test_the_record_count_cap_is_exact(gateway_client, settings):
    settings.INGEST_MAX_RECORDS = 2
    assert post(gateway_client, [record("1"), record("2")]).status_code == 200
    response = post(gateway_client, [record("3"), record("4"), record("5")])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_records"


def test_a_gzip_bomb_is_refused_without_inflating_it(gateway_client, settings):
    settings.INGEST_MAX_DECODED_BYTES = 8 * 1024 * 1024
    bomb = gzip.compress(b"[" + b" " * (1024 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 2 * 1024 * 1024
    tracemalloc.start()
    response = post(gateway_client, bomb, **{"Content-Encoding": "gzip"})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 413
    # The body, the cap's worth of inflated bytes and their join; never the gigabyte.
    assert peak < 40 * 1024 * 1024


def test_requests_without_a_valid_key_are_401(db, tiers):
    anonymous = Client()
    assert post(anonymous, [record()]).status_code == 401
    assert post(anonymous, [record()]).headers["WWW-Authenticate"].startswith("Bearer")
    wrong = Client(headers={"Authorization": "Bearer rr_00000000_nope"})
    response = post(wrong, [record()])
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "the API key is unknown or revoked",
    }


def test_the_x_api_key_header_works_too(db, tiers, ingest_key):
    client = Client(headers={"X-API-Key": ingest_key})
    assert post(client, [record()]).status_code == 200


def test_a_revoked_key_is_401(gateway_client, gateway):
    ApiKey.objects.get(gateway=gateway).revoke()
    assert post(gateway_client, [record()]).status_code == 401


def test_a_key_without_the_ingest_scope_is_403(db, gateway, tiers):
    _, plaintext = ApiKey.issue(gateway=gateway, scopes=["policy:read"])
    response = post(Client(headers={"Authorization": f"Bearer {plaintext}"}), [record()])
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "this API key lacks the 'ingest' scope"


def test_a_key_in_the_query_string_is_refused(db, tiers, ingest_key):
    for query in (f"?api_key={ingest_key}", f"?x={ingest_key}"):
        response = post(Client(), [record()], url=URL + query)
        assert response.status_code == 401
        assert "refused in the query string" in response.json()["error"]["message"]
    assert not Decision.objects.exists()


def test_the_throttle_answers_429_with_retry_after(gateway_client, settings):
    settings.INGEST_RATE = "2/minute"
    assert post(gateway_client, [record("1")]).status_code == 200
    assert post(gateway_client, [record("2")]).status_code == 200
    response = post(gateway_client, [record("3")])
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"


def test_the_path_with_a_slash_answers_without_a_redirect(gateway_client):
    response = post(gateway_client, [record()], url=URL + "/")
    assert response.status_code == 200


def test_the_secret_never_reaches_the_logs(gateway_client, ingest_key, caplog):
    caplog.set_level("DEBUG")
    post(gateway_client, [record()])
    post(Client(headers={"Authorization": f"Bearer {ingest_key}x"}), [record()])
    secret = ingest_key.split("_", 2)[2]
    assert caplog.records
    assert all(secret not in message for message in caplog.messages)


def test_prompts_are_redacted_before_they_are_stored(gateway_client):
    prompt = (
        "Mail jane.doe@example.com or call +1 415-555-0134; card 4111 1111 1111 1111, "
        "key sk-abcdefghijklmnop1234 please"
    )
    post(
        gateway_client, [record(prompt_text=prompt, response_excerpt="Sure, jane.doe@example.com")]
    )
    decision = Decision.objects.get()
    assert decision.prompt_text == (
        "Mail [EMAIL] or call [PHONE]; card [CARD], key [API_KEY] please"
    )
    assert decision.response_excerpt == "Sure, [EMAIL]"


def test_outcomes_update_decisions_and_report_unknown_ids(gateway_client):
    post(gateway_client, [record("known")])
    Decision.objects.update(processed_at="2026-11-30T13:00:00Z")
    response = post(
        gateway_client,
        [
            {
                "event_id": "known",
                "user_feedback": "negative",
                "occurred_at": "2026-12-01T00:00:00Z",
            },
            {"event_id": "unknown", "judge_score": 0.2},
            {"event_id": "known", "judge_score": 7},
            {"event_id": "known"},
        ],
        url="/api/v1/outcomes",
    )
    assert response.status_code == 207
    body = response.json()
    assert (body["updated"], body["unknown_event"], body["rejected"]) == (1, 1, 2)
    assert body["results"][1]["errors"] == {
        "event_id": "no decision of this gateway has this event id"
    }
    assert body["results"][3]["errors"] == {
        "record": "needs at least one of user_feedback, judge_score, retried, escalated"
    }
    decision = Decision.objects.get()
    assert decision.user_feedback == -1
    assert decision.outcome_updated_at.isoformat() == "2026-12-01T00:00:00+00:00"
    assert decision.processed_at is None  # pending again: processing runs on the new signal


def test_the_api_schema_and_its_docs_are_served_without_a_cdn(client, db):
    schema = client.get("/api/schema", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    assert "/api/v1/decisions" in schema.content.decode()
    for page in ("/api/docs", "/api/redoc"):
        html = client.get(page).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn." not in html and "unpkg" not in html


def test_values_out_of_range_are_rejected_not_stored(gateway_client):
    response = post(
        gateway_client,
        [
            record("year", occurred_at="0001-01-01T00:00:00+00:00"),
            record("money", cost_usd="999999.999999999"),
            record("blank", served_model="   "),
        ],
    )
    errors = [r["errors"] for r in response.json()["results"]]
    assert errors == [
        {"occurred_at": "year 1 is out of range (1970 to 2999)"},
        {"cost_usd": "must be between 0 and 1,000,000 dollars, got 999999.999999999"},
        {"served_model": "is required"},
    ]


def test_nul_characters_and_personal_data_in_metadata_are_cleaned(gateway_client):
    post(
        gateway_client,
        [record(router_cause="kw\x00x", metadata={"user": "jane@example.com", "k\x00": ["a\x00"]})],
    )
    decision = Decision.objects.get()
    assert decision.router_cause == "kwx"
    assert decision.metadata == {"user": "[EMAIL]", "k": ["a"]}


def test_a_litellm_payload_of_an_unexpected_shape_is_rejected_alone(gateway_client):
    good = {"litellm_call_id": "ok", "startTime": 1796400000.0, "model": "gpt-4o-mini"}
    odd = {**good, "litellm_call_id": "odd", "metadata": "not an object"}
    response = post(gateway_client, [good, odd], url="/api/v1/ingest/litellm")
    assert response.status_code == 207
    assert response.json()["results"][1]["errors"] == {
        "record": "could not be read as a LiteLLM StandardLoggingPayload: AttributeError"
    }
    assert list(Decision.objects.values_list("event_id", flat=True)) == ["ok"]


def test_an_outcome_older_than_the_one_recorded_is_stale_and_not_applied(gateway_client):
    post(gateway_client, [record("known")])
    newer = {
        "event_id": "known",
        "user_feedback": "negative",
        "occurred_at": "2026-12-02T00:00:00Z",
    }
    older = {
        "event_id": "known",
        "user_feedback": "positive",
        "occurred_at": "2026-12-01T00:00:00Z",
    }
    assert post(gateway_client, [newer], url="/api/v1/outcomes").status_code == 200
    Decision.objects.update(processed_at="2026-12-02T01:00:00Z")
    response = post(gateway_client, [older], url="/api/v1/outcomes")
    assert response.status_code == 207
    body = response.json()
    assert (body["updated"], body["stale"]) == (0, 1)
    assert body["results"][0]["status"] == "stale"
    assert "older than the outcome already recorded" in body["results"][0]["errors"]["occurred_at"]
    decision = Decision.objects.get()
    assert decision.user_feedback == -1  # the newer signal stands
    assert decision.processed_at is not None  # nothing to process again
