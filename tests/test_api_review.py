"""The read/label API for people: personal tokens, roles, the explorer's rows, blind labelling.

Personas: Vera (viewer), Rita (reviewer, from conftest), Rob (a second reviewer), Nora (signed
up, no role yet); the prod proxy's gateway key from conftest.
"""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from review import explorer, labels, roles
from review.detection import Detector
from review.models import Flag, Label, LabelEvent, QueueItem, ReviewRound, UserToken

DECISIONS = "/api/v1/review/decisions"
FLAGS = "/api/v1/review/flags"
LABELS = "/api/v1/review/labels"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def with_role(user: User, role: str) -> User:
    roles.ensure_roles()
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per instance


def token_client(user: User, **options) -> Client:
    _, plaintext = UserToken.issue(user=user, name="notebook")
    return Client(headers={"Authorization": f"Bearer {plaintext}"}, **options)


def post_label(client: Client, **body):
    return client.post(LABELS, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def vera(db) -> User:
    return with_role(User.objects.create_user("vera", "vera@example.com"), roles.VIEWER)


@pytest.fixture
def rita(reviewer) -> User:
    return with_role(reviewer, roles.REVIEWER)


@pytest.fixture
def rob(db) -> User:
    return with_role(User.objects.create_user("rob", "rob@example.com"), roles.REVIEWER)


@pytest.fixture
def version(tiers) -> str:
    return Detector.current().version


@pytest.fixture
def flag(version):
    def build(decision, kind="overkill", confidence=0.8, dollars="0.01", detector_version=None):
        return Flag.objects.create(
            decision=decision,
            kind=kind,
            confidence=confidence,
            dollars=Decimal(dollars),
            reasons=[f"{kind} reason"],
            detector_version=detector_version or version,
        )

    return build


@pytest.fixture
def decision(make_decision, flag):
    made = make_decision(router_name="routellm", router_score=0.2, router_tier="large")
    flag(made)
    return made


def endpoints(decision_id: int) -> list[tuple[str, str]]:
    return [
        ("get", DECISIONS),
        ("get", f"{DECISIONS}/{decision_id}"),
        ("get", FLAGS),
        ("post", LABELS),
    ]


def call(client: Client, method: str, url: str, decision_id: int):
    if method == "post":
        return post_label(client, decision=decision_id, verdict="correct")
    return client.get(url)


# --- Who may call ------------------------------------------------------------------------------


def test_anonymous_callers_get_401_on_every_endpoint(client, decision):
    for method, url in endpoints(decision.pk):
        response = call(client, method, url, decision.pk)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_gateway_keys_are_refused_on_every_endpoint_with_a_clear_message(
    decision, ingest_key, header
):
    value = f"Bearer {ingest_key}" if header == "Authorization" else ingest_key
    client = Client(headers={header: value})
    for method, url in endpoints(decision.pk):
        response = call(client, method, url, decision.pk)
        assert response.status_code == 403, url
        error = response.json()["error"]
        assert error["code"] == "gateway_key_refused"
        assert error["message"].startswith(
            "gateway keys cannot read or label decisions; use a personal token"
        )
    assert not Label.objects.exists()


def test_the_gateway_key_still_posts_decisions_on_the_ingestion_endpoint(gateway_client):
    record = {
        "event_id": "still-works",
        "occurred_at": "2026-11-30T12:00:00Z",
        "served_model": "gpt-4o-mini",
    }
    response = gateway_client.post(
        "/api/v1/decisions", data=json.dumps([record]), content_type="application/json"
    )
    assert (response.status_code, response.json()["accepted"]) == (200, 1)


def test_unknown_malformed_and_revoked_tokens_get_401(rita, decision):
    token, plaintext = UserToken.issue(user=rita)
    prefix = plaintext.split("_")[1]
    token.revoke()
    for presented in (plaintext, f"rru_{prefix}_wrong-secret", "rru_nothing", "not-a-token"):
        client = Client(headers={"Authorization": f"Bearer {presented}"})
        for method, url in endpoints(decision.pk):
            response = call(client, method, url, decision.pk)
            assert response.status_code == 401, (presented, url)
            assert response.json()["error"]["code"] == "authentication_failed"


def test_a_deactivated_users_token_gets_401(rita, decision):
    client = token_client(rita)
    User.objects.filter(pk=rita.pk).update(is_active=False)
    assert client.get(DECISIONS).status_code == 401


def test_a_token_in_the_query_string_is_refused(rita, decision):
    _, plaintext = UserToken.issue(user=rita)
    for query in (f"token={plaintext}", f"q={plaintext}"):
        response = Client().get(f"{DECISIONS}?{query}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "key_in_query_string"


def test_a_user_without_a_role_can_read_nothing(db, decision):
    nora = User.objects.create_user("nora")
    client = token_client(nora)
    for method, url in endpoints(decision.pk):
        response = call(client, method, url, decision.pk)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_viewer_reads_everything_but_cannot_label(vera, decision):
    client = token_client(vera)
    assert client.get(DECISIONS).status_code == 200
    assert client.get(f"{DECISIONS}/{decision.pk}").status_code == 200
    assert client.get(FLAGS).status_code == 200
    response = post_label(client, decision=decision.pk, verdict="correct")
    assert response.status_code == 403
    assert "review.add_label" in response.json()["error"]["message"]
    assert not Label.objects.exists()


def test_a_reviewer_reads_and_labels(rita, decision):
    client = token_client(rita)
    for url in (DECISIONS, f"{DECISIONS}/{decision.pk}", FLAGS):
        assert client.get(url).status_code == 200, url
    response = post_label(client, decision=decision.pk, verdict="should_be_cheaper")
    assert response.status_code == 201
    assert Label.objects.get().reviewer == rita


def test_changing_a_label_needs_the_change_permission(db, decision):
    adder = User.objects.create_user("adam")
    adder.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_label", "view_decision", "view_flag"])
    )
    client = token_client(adder)
    assert post_label(client, decision=decision.pk, verdict="correct").status_code == 201
    response = post_label(client, decision=decision.pk, verdict="unsure")
    assert response.status_code == 403
    assert "review.change_label" in response.json()["error"]["message"]
    assert Label.objects.get().verdict == "correct"


def test_the_session_works_too_with_csrf_enforced_on_posts(rita, decision):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita)
    assert client.get(DECISIONS).status_code == 200  # reading needs no CSRF token
    refused = post_label(client, decision=decision.pk, verdict="correct")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert not Label.objects.exists()
    client.get("/accounts/login/")  # the login page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        LABELS,
        data=json.dumps({"decision": decision.pk, "verdict": "correct"}),
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 201


def test_token_posts_need_no_csrf_token(rita, decision):
    client = token_client(rita, enforce_csrf_checks=True)
    assert post_label(client, decision=decision.pk, verdict="correct").status_code == 201


def test_a_token_notes_when_it_was_last_used(rita, decision):
    client = token_client(rita)
    assert UserToken.objects.get().last_used_at is None
    client.get(DECISIONS)
    assert UserToken.objects.get().last_used_at is not None


# --- Tokens --------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(rita):
    token, plaintext = UserToken.issue(user=rita, name="notebook")
    scheme, prefix, secret = plaintext.split("_", 2)
    assert (scheme, prefix) == ("rru", token.prefix)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = UserToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert secret not in str(token)
    assert UserToken.authenticate(plaintext) == token
    assert UserToken.authenticate(f"rr_{prefix}_{secret}") is None  # not a gateway key


def test_create_user_token_prints_the_token_alone_on_the_last_line(rita):
    out = StringIO()
    call_command("create_user_token", "rita", "--name", "notebook", stdout=out)
    plaintext = out.getvalue().strip().splitlines()[-1]
    token = UserToken.authenticate(plaintext)
    assert token is not None and (token.user, token.name) == (rita, "notebook")
    assert plaintext.startswith("rru_")


def test_create_user_token_names_an_unknown_user(db):
    with pytest.raises(CommandError, match="USERNAME: no user 'ghost'"):
        call_command("create_user_token", "ghost", stdout=StringIO())


def test_the_admin_lists_and_revokes_tokens_without_showing_the_hash(admin_client, rita):
    token, _ = UserToken.issue(user=rita, name="notebook")
    listing = admin_client.get("/admin/review/usertoken/")
    assert listing.status_code == 200
    assert str(token) in listing.content.decode()
    page = admin_client.get(f"/admin/review/usertoken/{token.pk}/change/").content.decode()
    assert token.secret_hash not in page and "secret_hash" not in page
    admin_client.post(
        "/admin/review/usertoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


# --- Decisions ---------------------------------------------------------------------------------


def test_a_decision_reads_with_its_current_flags_and_labels(rita, make_decision, flag, version):
    made = make_decision(
        router_name="routellm",
        router_score=0.25,
        router_category="faq",
        router_cause="score under threshold",
        router_tier="small",
        requested_model="auto",
        latency_ms=800,
        judge_score=0.9,
        response_excerpt="We are open 9 to 5.",
    )
    flag(made, confidence=0.7, dollars="0.0123")
    flag(made, kind="underpowered", detector_version="heuristic-r0")  # an older detector's
    Label.objects.create(decision=made, reviewer=rita, verdict="correct")
    body = token_client(rita).get(DECISIONS).json()
    assert body["next"] is None
    [item] = body["results"]
    assert {k: item[k] for k in ("id", "event_id", "gateway", "served_model", "served_tier")} == {
        "id": made.pk,
        "event_id": made.event_id,
        "gateway": "prod-proxy",
        "served_model": "gpt-4o-mini",
        "served_tier": "small",
    }
    assert item["occurred_at"] == "2026-11-30T12:00:00Z"
    assert (item["router_name"], item["router_score"], item["router_cause"]) == (
        "routellm",
        0.25,
        "score under threshold",
    )
    assert (item["input_tokens"], item["output_tokens"]) == (1000, 200)
    assert item["cost_usd"] is None or isinstance(item["cost_usd"], str)
    assert (item["judge_score"], item["retried"], item["user_feedback"]) == (0.9, None, None)
    assert item["prompt_text"] == "What are your support hours?"
    assert item["flags"] == [
        {
            "kind": "overkill",
            "confidence": 0.7,
            "dollars": "0.01230000",
            "reasons": ["overkill reason"],
            "detector_version": version,
        }
    ]
    assert [(x["reviewer"], x["verdict"]) for x in item["labels"]] == [("rita", "correct")]
    assert item["labels_hidden"] is False


def test_cost_is_a_decimal_string(rita, make_decision):
    make_decision(cost_usd=Decimal("0.00027"))
    [item] = token_client(rita).get(DECISIONS).json()["results"]
    assert item["cost_usd"] == "0.00027000"


def test_one_decision_has_the_flags_of_every_detector_version(vera, make_decision, flag):
    made = make_decision()
    flag(made)
    flag(made, kind="underpowered", detector_version="heuristic-r0")
    body = token_client(vera).get(f"{DECISIONS}/{made.pk}").json()
    assert [f["kind"] for f in body["flags"]] == ["overkill"]
    assert sorted(f["detector_version"] for f in body["all_flags"]) == sorted(
        ["heuristic-r0", Detector.current().version]
    )


def test_an_unknown_decision_is_404_in_the_error_shape(vera, db, tiers):
    response = token_client(vera).get(f"{DECISIONS}/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture
def traffic(make_decision, flag, rob):
    """Eight decisions over two days, at two prices, some flagged, some labelled."""
    made = []
    for i in range(8):
        decision = make_decision(
            "gpt-4o" if i % 2 else "gpt-4o-mini",
            occurred_at=T0 + timedelta(hours=6 * (i // 2)),  # pairs at the same time
            cost_usd=Decimal("0.01") * (i % 3) if i != 5 else None,
            router_category="faq" if i % 3 else "code",
            prompt_text="reset my password" if i < 4 else "write a parser",
        )
        if i % 2 == 0:
            flag(decision, kind="overkill" if i % 4 == 0 else "underpowered", confidence=i / 10)
        if i in (1, 2):
            Label.objects.create(decision=decision, reviewer=rob, verdict="correct")
        made.append(decision)
    return made


def walk_api(client: Client, query: str) -> list[int]:
    ids: list[int] = []
    url: str | None = f"{DECISIONS}?{query}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [item["id"] for item in body["results"]]
        url = body["next"]
        if url:
            assert url.startswith("http://testserver/api/v1/review/decisions?")
    return ids


def walk_explorer(query: str) -> list[int]:
    params = QueryDict(query, mutable=True)
    ids: list[int] = []
    while True:
        form = explorer.FilterForm(params)
        assert form.is_valid(), form.errors
        page = explorer.page(form.cleaned_data)
        ids += [d.pk for d in page.decisions]
        if not page.next_cursor:
            return ids
        params["after"] = page.next_cursor


@pytest.mark.parametrize(
    "query",
    [
        "limit=3",
        "order=asc&limit=2",
        "sort=cost&limit=2",
        "sort=cost&order=asc&limit=3",
        "sort=confidence&limit=1",
        "flag=any&limit=2",
        "flag=none",
        "flag=underpowered",
        "label=none&limit=2",
        "label=correct",
        "tier=large&limit=1",
        "model=gpt-4o-mini&category=faq",
        "q=password&limit=1",
        "gateway=prod-proxy&status=success&since=2026-11-30T18:00:00Z&until=2026-12-01T12:00:00Z",
    ],
)
def test_filters_and_pages_select_the_same_rows_as_the_explorer(vera, traffic, query):
    from_api = walk_api(token_client(vera), query)
    assert from_api == walk_explorer(query)
    assert from_api  # each query selects something, so the comparison means something


def test_a_page_costs_the_same_queries_however_long_it_is(rita, traffic, blind):
    client = token_client(rita)
    client.get(f"{DECISIONS}?limit=1")  # the token's last use is written once, not counted
    with CaptureQueriesContext(connection) as short:
        client.get(f"{DECISIONS}?limit=1")
    with CaptureQueriesContext(connection) as long:
        assert len(client.get(f"{DECISIONS}?limit=9").json()["results"]) == 9
    assert len(long) == len(short)


def test_the_next_link_keeps_the_filters_and_the_limit(vera, traffic):
    body = token_client(vera).get(f"{DECISIONS}?tier=large&sort=cost&limit=1").json()
    params = parse_qs(urlsplit(body["next"]).query)
    assert (params["tier"], params["sort"], params["limit"]) == (["large"], ["cost"], ["1"])
    assert params["after"]


def test_bad_parameters_are_400_naming_each_field(vera, traffic):
    query = (
        "since=yesterday&tier=gigantic&sort=price&limit=0&after=not-a-cursor&flag=maybe&gatway=x"
    )
    response = token_client(vera).get(f"{DECISIONS}?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"gatway"}  # a misspelt filter is named first
    assert "is not a parameter of this endpoint" in error["fields"]["gatway"]
    response = token_client(vera).get(f"{DECISIONS}?{query.removesuffix('&gatway=x')}")
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"since", "tier", "sort", "limit", "after", "flag"}
    assert all(isinstance(reason, str) and reason for reason in fields.values())
    assert "valid" in fields["tier"] and "greater than or equal to 1" in fields["limit"]


def test_until_must_be_after_since(vera, traffic):
    response = token_client(vera).get(
        f"{DECISIONS}?since=2026-12-01T00:00Z&until=2026-11-30T00:00Z"
    )
    assert response.json()["error"]["fields"] == {"until": "must be later than since"}


# --- Flags ----------------------------------------------------------------------------------------


def test_flags_list_the_current_version_newest_first_in_pages(vera, traffic, flag, version):
    old = flag(traffic[1], detector_version="heuristic-r0")
    client = token_client(vera)
    current = list(
        Flag.objects.filter(detector_version=version).order_by("-pk").values_list("pk", flat=True)
    )
    ids, url = [], f"{FLAGS}?limit=3"
    while url:
        body = client.get(url).json()
        ids += [f["id"] for f in body["results"]]
        url = body["next"]
    assert ids == current and old.pk not in ids
    first = client.get(FLAGS).json()["results"][0]
    assert set(first) >= {"id", "decision", "event_id", "gateway", "occurred_at", "kind"}
    assert isinstance(first["dollars"], str)
    older = client.get(f"{FLAGS}?detector_version=heuristic-r0").json()["results"]
    assert [f["id"] for f in older] == [old.pk]


def test_flags_filter_by_kind_and_by_the_decisions_time(vera, traffic, version):
    client = token_client(vera)
    under = client.get(f"{FLAGS}?kind=underpowered").json()["results"]
    assert {f["kind"] for f in under} == {"underpowered"} and under
    since = "2026-12-01T00:00:00Z"
    late = client.get(f"{FLAGS}?since={since}").json()["results"]
    expected = Flag.objects.filter(detector_version=version, decision__occurred_at__gte=since)
    assert {f["id"] for f in late} == set(expected.values_list("pk", flat=True))
    early = client.get(f"{FLAGS}?until={since}").json()["results"]
    assert {f["id"] for f in early}.isdisjoint({f["id"] for f in late})


def test_bad_flag_parameters_are_named(vera, db, tiers):
    response = token_client(vera).get(f"{FLAGS}?kind=odd&limit=9999&after=x&since=soon")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"kind", "limit", "after", "since"}
    response = token_client(vera).get(f"{FLAGS}?sort=cost")
    assert set(response.json()["error"]["fields"]) == {"sort"}


# --- Labels -------------------------------------------------------------------------------------


def test_a_new_label_is_201_with_one_audit_row(rita, decision, tiers):
    response = post_label(
        token_client(rita),
        decision=decision.pk,
        verdict="should_be_cheaper",
        right_tier="small",
        note="a FAQ",
    )
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("decision", "reviewer", "verdict", "right_tier", "note")} == {
        "decision": decision.pk,
        "reviewer": "rita",
        "verdict": "should_be_cheaper",
        "right_tier": "small",
        "note": "a FAQ",
    }
    event = LabelEvent.objects.get()
    assert (event.action, event.source, event.previous) == ("created", "api", None)


def test_changing_ones_label_is_200_with_a_second_audit_row(rita, decision):
    client = token_client(rita)
    post_label(client, decision=decision.pk, verdict="should_be_cheaper", right_tier="small")
    response = post_label(client, decision=decision.pk, verdict="correct", right_tier=None)
    assert response.status_code == 200
    assert (response.json()["verdict"], response.json()["right_tier"]) == ("correct", None)
    assert Label.objects.count() == 1
    changed = LabelEvent.objects.filter(action="changed").get()
    assert changed.source == "api"
    assert changed.previous == {"verdict": "should_be_cheaper", "right_tier": "small", "note": ""}
    assert LabelEvent.objects.count() == 2


def test_reviewers_label_the_same_decision_each_on_their_own(rita, rob, decision):
    assert (
        post_label(token_client(rita), decision=decision.pk, verdict="correct").status_code == 201
    )
    assert post_label(token_client(rob), decision=decision.pk, verdict="unsure").status_code == 201
    assert dict(Label.objects.values_list("reviewer__username", "verdict")) == {
        "rita": "correct",
        "rob": "unsure",
    }


def test_bad_label_fields_are_named(rita, decision):
    client = token_client(rita)
    response = post_label(client, decision=999999, verdict="great", right_tier="gigantic")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["decision"] == "no decision has id 999999"
    assert fields["verdict"].startswith("must be one of correct, should_be_cheaper")
    assert fields["right_tier"].startswith("must be a tier name (")
    missing = post_label(client).json()["error"]["fields"]
    assert set(missing) == {"decision", "verdict"}
    assert not LabelEvent.objects.exists()


def test_a_body_that_is_not_json_is_refused(rita, decision):
    response = token_client(rita).post(LABELS, data="verdict=correct", content_type="text/plain")
    assert response.status_code == 415


# --- Blind labelling ----------------------------------------------------------------------------


@pytest.fixture
def blind(decision, rob):
    """The decision queued in an open round that wants two labels; Rob has labelled it."""
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 23), labels_per_item=2)
    QueueItem.objects.create(round=review_round, decision=decision, source="flag", position=0)
    Label.objects.create(decision=decision, reviewer=rob, verdict="should_be_cheaper")
    return review_round


def labels_seen(client: Client, decision_id: int) -> tuple[list[str], bool]:
    one = client.get(f"{DECISIONS}/{decision_id}").json()
    [listed] = [d for d in client.get(DECISIONS).json()["results"] if d["id"] == decision_id]
    assert (listed["labels"], listed["labels_hidden"]) == (one["labels"], one["labels_hidden"])
    return [label["reviewer"] for label in one["labels"]], one["labels_hidden"]


def test_a_reviewer_does_not_see_the_other_label_before_giving_theirs(blind, rita, decision):
    client = token_client(rita)
    assert labels_seen(client, decision.pk) == ([], True)
    post_label(client, decision=decision.pk, verdict="correct")
    assert sorted(labels_seen(client, decision.pk)[0]) == ["rita", "rob"]


def test_everyone_sees_their_own_label_and_viewers_see_all(blind, rob, vera, decision):
    assert labels_seen(token_client(rob), decision.pk) == (["rob"], False)
    assert labels_seen(token_client(vera), decision.pk) == (["rob"], False)


def test_labels_are_hidden_even_before_anyone_has_labelled(rita, rob, decision):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 23), labels_per_item=2)
    QueueItem.objects.create(round=review_round, decision=decision, source="flag", position=0)
    # Whether someone has labelled is not given away either.
    assert labels_seen(token_client(rita), decision.pk) == ([], True)


def test_labels_show_once_the_round_closes_or_when_one_label_is_wanted(blind, rita, decision):
    client = token_client(rita)
    blind.closed_at = T0
    blind.save()
    assert labels_seen(client, decision.pk) == (["rob"], False)
    blind.closed_at = None
    blind.labels_per_item = 1
    blind.save()
    assert labels_seen(client, decision.pk) == (["rob"], False)


def test_labels_show_once_the_item_has_both_labels(blind, rita, decision):
    third = with_role(User.objects.create_user("tess"), roles.REVIEWER)
    Label.objects.create(decision=decision, reviewer=third, verdict="correct")
    assert sorted(labels_seen(token_client(rita), decision.pk)[0]) == ["rob", "tess"]


def test_visible_labels_is_the_rule_the_pages_can_use(blind, rita, rob, vera, decision):
    assert labels.visible_labels(decision, rita) == labels.VisibleLabels(labels=[], hidden=True)
    assert [x.reviewer for x in labels.visible_labels(decision, rob).labels] == [rob]
    assert not labels.visible_labels(decision, vera).hidden


# --- Schema ---------------------------------------------------------------------------------------


def test_the_schema_describes_the_review_endpoints_and_the_token(client, db):
    schema = client.get("/api/schema", headers={"Accept": "application/json"}).content.decode()
    for path in (DECISIONS, f"{DECISIONS}/{{id}}", FLAGS, LABELS):
        assert path in schema, path
    assert "personalToken" in schema
