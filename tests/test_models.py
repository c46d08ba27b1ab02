from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from review.models import (
    LAST_USED_RESOLUTION,
    ApiKey,
    CatalogModel,
    Decision,
    Gateway,
    Label,
    Scope,
    Tier,
    UserToken,
    Verdict,
)


def test_event_id_is_unique_per_gateway(make_decision, gateway):
    make_decision(event_id="evt-42")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_decision(event_id="evt-42")
    other = Gateway.objects.create(name="support-bot")
    make_decision(event_id="evt-42", gateway=other)
    assert Decision.objects.filter(event_id="evt-42").count() == 2


def test_tiers_are_ordered_cheapest_first_by_rank(db):
    Tier.objects.create(name="large", rank=2)
    Tier.objects.create(name="small", rank=0)
    Tier.objects.create(name="medium", rank=1)
    small, medium, large = Tier.objects.all()
    assert [small.name, medium.name, large.name] == ["small", "medium", "large"]
    assert small.is_cheaper_than(large)
    assert not large.is_cheaper_than(medium)


def test_two_tiers_cannot_share_a_rank(db):
    Tier.objects.create(name="small", rank=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tier.objects.create(name="tiny", rank=0)


def test_issued_key_authenticates_and_its_secret_is_not_stored(gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    assert plaintext.startswith(f"rr_{key.prefix}_")
    secret = plaintext.split("_", 2)[2]
    stored = ApiKey.objects.values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert ApiKey.authenticate(plaintext) == key


def test_issuing_and_checking_a_key_never_sends_the_secret_to_the_database(gateway):
    with CaptureQueriesContext(connection) as queries:
        key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
        assert ApiKey.authenticate(plaintext) == key
    secret = plaintext.split("_", 2)[2]
    assert queries.captured_queries
    assert all(secret not in query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize(
    "presented",
    ["", "rr_", "rr_deadbeef_wrong", "Bearer rr_x", "sk-1234", "rr_deadbeef"],
)
def test_malformed_or_unknown_keys_are_refused(gateway, presented):
    ApiKey.issue(gateway=gateway, scopes=["ingest"])
    assert ApiKey.authenticate(presented) is None


def test_a_wrong_secret_with_a_real_prefix_is_refused(gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    assert ApiKey.authenticate(f"rr_{key.prefix}_not-the-secret") is None
    assert ApiKey.authenticate(plaintext + "x") is None


def test_a_person_token_and_a_gateway_key_never_stand_in_for_each_other(gateway, admin_user):
    key, key_text = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    token, token_text = UserToken.issue(user=admin_user)
    assert token_text.startswith(f"rru_{token.prefix}_") and str(token).startswith("rru_")
    assert UserToken.authenticate(token_text) == token
    assert UserToken.authenticate(key_text) is None
    assert ApiKey.authenticate(token_text) is None
    token.revoke()
    assert UserToken.authenticate(token_text) is None
    assert ApiKey.authenticate(key_text) == key


def test_use_is_noted_at_most_once_a_minute(gateway):
    key = ApiKey.issue(gateway=gateway, scopes=["ingest"])[0]
    key.note_use()
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        ApiKey.objects.get().note_use()  # within the minute: no write
    assert [q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"]] == []
    ApiKey.objects.update(last_used_at=first - LAST_USED_RESOLUTION * 2)
    ApiKey.objects.get().note_use()
    assert ApiKey.objects.get().last_used_at > first


def test_revoked_key_no_longer_authenticates_or_has_scopes(gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest", "policy:read"])
    assert key.has_scope(Scope.POLICY_READ)
    key.revoke()
    assert ApiKey.authenticate(plaintext) is None
    assert not key.has_scope(Scope.INGEST)


def test_unknown_scope_is_refused_by_name(gateway):
    with pytest.raises(ValidationError) as error:
        ApiKey.issue(gateway=gateway, scopes=["ingest", "admin:all"])
    assert "admin:all" in str(error.value)
    assert not ApiKey.objects.exists()


def test_a_key_needs_at_least_one_scope(gateway):
    with pytest.raises(ValidationError, match="at least one scope"):
        ApiKey.issue(gateway=gateway, scopes=[])


def test_cost_is_list_price_per_million_tokens(tiers):
    model = CatalogModel.objects.get(name="gpt-4o-mini")  # $0.15 in, $0.60 out
    assert model.cost_of(input_tokens=1_000_000, output_tokens=0) == Decimal("0.15")
    assert model.cost_of(input_tokens=2000, output_tokens=500) == Decimal("0.0006")


def test_an_unpriced_model_has_no_cost(db):
    model = CatalogModel.objects.create(name="in-house-7b")
    assert model.is_unclassified
    assert model.cost_of(input_tokens=10, output_tokens=10) is None


def test_judge_score_must_lie_between_zero_and_one(make_decision):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_decision(judge_score=1.5)


def test_error_type_is_only_set_on_errors(make_decision):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_decision(status=Decision.Status.SUCCESS, error_type=Decision.ErrorType.TIMEOUT)
    failed = make_decision(status=Decision.Status.ERROR, error_type=Decision.ErrorType.TIMEOUT)
    assert failed.failed_for_infrastructure


def test_quality_errors_are_not_infrastructure_failures(make_decision):
    failed = make_decision(
        status=Decision.Status.ERROR, error_type=Decision.ErrorType.CONTEXT_WINDOW
    )
    assert not failed.failed_for_infrastructure


def test_a_reviewer_labels_a_decision_once(make_decision, reviewer, tiers):
    decision = make_decision()
    Label.objects.create(
        decision=decision,
        reviewer=reviewer,
        verdict=Verdict.SHOULD_BE_STRONGER,
        right_tier=tiers["large"],
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(decision=decision, reviewer=reviewer, verdict=Verdict.CORRECT)
