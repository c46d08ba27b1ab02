"""The review pages: explorer, case page, rounds, queue, audit, and who may open each."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from review import explorer, roles
from review.detection import Detector
from review.models import (
    ApiKey,
    Decision,
    Flag,
    FlagKind,
    Gateway,
    Label,
    LabelEvent,
    QueueItem,
    ReviewRound,
    Tier,
)
from tests.people import client_for, person


@pytest.fixture
def rita(db: None) -> User:
    return person("rita", roles.REVIEWER)


@pytest.fixture
def rob(db: None) -> User:
    return person("rob", roles.REVIEWER)


@pytest.fixture
def vera(db: None) -> User:
    return person("vera", roles.VIEWER)


@pytest.fixture
def olga(db: None) -> User:
    return person("olga", roles.POLICY_OWNER)


def flag(decision: Decision, kind: str = FlagKind.OVERKILL, confidence: float = 0.8) -> Flag:
    return Flag.objects.create(
        decision=decision,
        kind=kind,
        confidence=confidence,
        dollars="0.0100",
        reasons=["gpt-4o served a 12-token greeting", "no failure signal"],
        detector_version=Detector.current().version,
    )


@pytest.fixture
def review_round(make_decision: Callable[..., Decision]) -> ReviewRound:
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=1)
    for position in range(3):
        decision = make_decision("gpt-4o", prompt_text=f"hello number {position}")
        QueueItem.objects.create(
            round=review_round,
            decision=decision,
            flag=flag(decision),
            source=QueueItem.Source.FLAG,
            position=position,
        )
    return review_round


# --- Who may open what ----------------------------------------------------------------------

PAGES = [
    ("home", {}),
    ("decisions", {}),
    ("decision", {"pk": "decision"}),
    ("rounds", {}),
    ("round", {"round_id": "round"}),
    ("label-audit", {}),
]


def url_of(name: str, args: dict[str, str], review_round: ReviewRound) -> str:
    values = {"decision": review_round.items.first().decision_id, "round": review_round.pk}
    return reverse(name, kwargs={key: values[value] for key, value in args.items()})


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(name, args, review_round):
    url = url_of(name, args, review_round)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_a_gateway_key_opens_no_page(name, args, review_round, gateway):
    key = ApiKey.issue(gateway=gateway, scopes=["ingest", "policy:read", "export:read"])[1]
    url = url_of(name, args, review_round)
    response = Client(headers={"Authorization": f"Bearer {key}"}).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_a_user_without_a_role_is_refused(name, args, review_round):
    nobody = person("nobody", None)
    response = client_for(nobody).get(url_of(name, args, review_round))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_a_viewer_can_read_every_page(name, args, review_round, vera):
    response = client_for(vera).get(url_of(name, args, review_round))
    assert response.status_code == 200


def action_urls(review_round: ReviewRound) -> list[tuple[str, str]]:
    item = review_round.items.first()
    return [
        ("get", reverse("round-next", args=[review_round.pk])),
        ("get", reverse("queue-item", args=[review_round.pk, item.pk])),
        ("post", reverse("queue-item", args=[review_round.pk, item.pk])),
        ("post", reverse("queue-item-skip", args=[review_round.pk, item.pk])),
        ("post", reverse("decision-label", args=[item.decision_id])),
        ("post", reverse("open-round")),
    ]


def test_every_action_sends_anonymous_visitors_to_log_in_and_refuses_users_without_a_role(
    review_round,
):
    nobody = client_for(person("nobody", None))
    for method, url in action_urls(review_round):
        anonymous = getattr(Client(), method)(url, {"verdict": "correct"})
        assert anonymous.status_code == 302, url
        assert anonymous["Location"].startswith(reverse("login")), url
        assert getattr(nobody, method)(url, {"verdict": "correct"}).status_code == 403, url
    assert not Label.objects.exists()
    assert not QueueItem.objects.filter(locked_by__isnull=False).exists()


def test_a_viewer_can_neither_take_queue_items_nor_label(review_round, vera):
    client = client_for(vera)
    assert client.get(reverse("round-next", args=[review_round.pk])).status_code == 403
    item = review_round.items.first()
    post = {"verdict": "correct"}
    assert (
        client.post(reverse("queue-item", args=[review_round.pk, item.pk]), post).status_code == 403
    )
    assert client.post(reverse("decision-label", args=[item.decision_id]), post).status_code == 403
    skip = reverse("queue-item-skip", args=[review_round.pk, item.pk])
    assert client.post(skip).status_code == 403
    assert not Label.objects.exists()
    page = client.get(reverse("decision", args=[item.decision_id])).content.decode()
    assert 'id="label-form"' not in page
    assert "can read but not label" in page


def test_only_a_policy_owner_opens_a_round_by_hand(rita, olga, make_decision):
    decision = make_decision("gpt-4o", occurred_at=datetime(2026, 11, 24, 9, tzinfo=UTC))
    flag(decision)
    form = {
        "week_start": "2026-11-26",
        "size": 10,
        "per_kind_cap": 5,
        "sample_size": 0,
        "labels_per_item": 2,
        "lock_minutes": 10,
    }
    assert client_for(rita).post(reverse("open-round"), form).status_code == 403
    response = client_for(olga).post(reverse("open-round"), form)
    review_round = ReviewRound.objects.get()
    assert response.status_code == 302
    assert review_round.week_start == date(2026, 11, 23)  # the Monday of that week
    assert (review_round.labels_per_item, review_round.lock_minutes) == (2, 10)
    assert list(review_round.items.values_list("decision_id", flat=True)) == [decision.pk]


def test_a_round_form_with_a_bad_value_names_the_field(olga):
    response = client_for(olga).post(
        reverse("open-round"), {"week_start": "not a date", "labels_per_item": 3}
    )
    assert response.status_code == 400
    errors = response.context["open_form"].errors
    assert "week_start" in errors
    assert "labels_per_item" in errors
    assert not ReviewRound.objects.exists()


def test_labelling_posts_need_the_csrf_token(review_round, rita):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita)
    item = review_round.items.first()
    response = client.post(
        reverse("decision-label", args=[item.decision_id]), {"verdict": "correct"}
    )
    assert response.status_code == 403
    assert not Label.objects.exists()


# --- The queue ------------------------------------------------------------------------------


def test_working_through_a_round_labels_each_item_and_ends(review_round, rita):
    client = client_for(rita)
    seen = []
    for verdict in ["correct", "should_be_cheaper", "unsure"]:
        response = client.get(reverse("round-next", args=[review_round.pk]))
        assert response.status_code == 302
        page = client.get(response["Location"])
        item = page.context["item"]
        assert item.locked_by == rita
        seen.append(item.pk)
        saved = client.post(response["Location"], {"verdict": verdict, "note": "checked"})
        assert saved.status_code == 302
        assert saved["Location"] == reverse("round-next", args=[review_round.pk])
    assert seen == list(review_round.items.order_by("position").values_list("pk", flat=True))
    done = client.get(reverse("round-next", args=[review_round.pk]))
    assert "Nothing left for you in this round" in done.content.decode()
    assert Label.objects.filter(reviewer=rita).count() == 3
    assert LabelEvent.objects.filter(reviewer=rita, source="review").count() == 3
    assert not QueueItem.objects.filter(locked_by__isnull=False).exists()  # released on save


def test_a_blank_right_tier_takes_the_one_the_verdict_implies(review_round, rita, tiers):
    client = client_for(rita)
    location = client.get(reverse("round-next", args=[review_round.pk]))["Location"]
    client.post(location, {"verdict": "should_be_cheaper"})
    label = Label.objects.get()
    served = label.decision.served_tier
    assert label.right_tier == Tier.objects.get(rank=served.rank - 1)


def test_two_reviewers_hold_different_items(review_round, rita, rob):
    first = client_for(rita).get(reverse("round-next", args=[review_round.pk]))["Location"]
    second = client_for(rob).get(reverse("round-next", args=[review_round.pk]))["Location"]
    assert first != second
    held = dict(QueueItem.objects.filter(locked_by__isnull=False).values_list("locked_by", "pk"))
    assert set(held) == {rita.pk, rob.pk}


def test_skipping_releases_the_item_and_moves_on(review_round, rita, rob):
    rita_client = client_for(rita)
    first = rita_client.get(reverse("round-next", args=[review_round.pk]))
    item_id = int(first["Location"].rsplit("/", 1)[1])
    page = rita_client.get(first["Location"]).content.decode()
    skip = reverse("queue-item-skip", args=[review_round.pk, item_id])
    assert f'action="{skip}"' in page  # the case page's skip (the j key) posts here
    skipped = rita_client.post(skip)
    assert int(skipped["Location"].rsplit("/", 1)[1]) != item_id
    # The skipped item is free again: the next reviewer gets it.
    rob_location = client_for(rob).get(reverse("round-next", args=[review_round.pk]))["Location"]
    assert int(rob_location.rsplit("/", 1)[1]) == item_id


def test_skipping_takes_a_post_so_no_link_from_elsewhere_can_skip(review_round, rita, rob):
    rita_client = client_for(rita)
    location = rita_client.get(reverse("round-next", args=[review_round.pk]))["Location"]
    item_id = int(location.rsplit("/", 1)[1])
    skip = reverse("queue-item-skip", args=[review_round.pk, item_id])
    assert rita_client.get(skip).status_code == 405
    # The old query string does nothing either: the item stays Rita's.
    again = rita_client.get(reverse("round-next", args=[review_round.pk]) + f"?skip={item_id}")
    assert again["Location"] == location
    # Someone else's skip does not free an item Rita holds.
    rob_next = client_for(rob).post(skip)
    assert int(rob_next["Location"].rsplit("/", 1)[1]) != item_id
    assert QueueItem.objects.get(pk=item_id).locked_by == rita


def test_changing_a_label_on_the_pages_needs_the_change_permission(review_round):
    """Like the API: a role that may add labels but not change them keeps its first verdict."""
    adder = User.objects.create_user("adam", password="x")
    adder.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_label", "view_decision", "view_reviewround", "view_flag"]
        )
    )
    client = client_for(User.objects.get(pk=adder.pk))
    item = review_round.items.first()
    case_label = reverse("decision-label", args=[item.decision_id])
    assert client.post(case_label, {"verdict": "correct"}).status_code == 302
    for url in (case_label, reverse("queue-item", args=[review_round.pk, item.pk])):
        refused = client.post(url, {"verdict": "should_be_cheaper"})
        assert refused.status_code == 403, url
        assert "may give labels but not change them" in refused.content.decode()
    assert client.post(case_label, {"verdict": "correct"}).status_code == 302  # unchanged: fine
    assert Label.objects.get().verdict == "correct"
    assert LabelEvent.objects.count() == 1


def test_a_label_on_an_item_someone_else_holds_is_refused(review_round, rita, rob):
    location = client_for(rita).get(reverse("round-next", args=[review_round.pk]))["Location"]
    response = client_for(rob).post(location, {"verdict": "correct"})
    assert response.status_code == 400
    assert "holds this item" in response.content.decode()
    assert not Label.objects.exists()


def test_an_expired_lock_lets_another_reviewer_label(review_round, rita, rob):
    location = client_for(rita).get(reverse("round-next", args=[review_round.pk]))["Location"]
    QueueItem.objects.update(locked_until=timezone.now() - timedelta(minutes=1))
    response = client_for(rob).post(location, {"verdict": "correct"})
    assert response.status_code == 302
    assert Label.objects.get().reviewer == rob


def test_going_back_shows_the_saved_label_and_a_change_is_audited(review_round, rita):
    client = client_for(rita)
    first = client.get(reverse("round-next", args=[review_round.pk]))["Location"]
    client.post(first, {"verdict": "correct", "note": "fine"})
    second = client.get(reverse("round-next", args=[review_round.pk]))["Location"]
    page = client.get(second)
    assert page.context["previous"].pk == int(first.rsplit("/", 1)[1])
    back = client.get(first)
    assert back.context["form"].initial["verdict"] == "correct"
    client.post(first, {"verdict": "should_be_stronger", "note": "on second look"})
    events = list(LabelEvent.objects.filter(reviewer=rita).order_by("at", "id"))
    assert [e.action for e in events] == ["created", "changed"]
    assert events[1].previous == {"verdict": "correct", "right_tier": "small", "note": "fine"} or (
        events[1].previous["verdict"] == "correct" and events[1].previous["note"] == "fine"
    )
    assert Label.objects.get().verdict == "should_be_stronger"


def test_a_second_reviewer_does_not_see_the_first_label_before_giving_theirs(
    make_decision, rita, rob
):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    decision = make_decision("gpt-4o")
    item = QueueItem.objects.create(
        round=review_round, decision=decision, source=QueueItem.Source.SAMPLE, position=0
    )
    rita_client = client_for(rita)
    rita_client.get(reverse("round-next", args=[review_round.pk]))
    rita_client.post(
        reverse("queue-item", args=[review_round.pk, item.pk]),
        {"verdict": "should_be_cheaper", "note": "rita-was-here"},
    )
    rob_client = client_for(rob)
    location = rob_client.get(reverse("round-next", args=[review_round.pk]))["Location"]
    assert location == reverse("queue-item", args=[review_round.pk, item.pk])
    for url in [location, reverse("decision", args=[decision.pk]), reverse("decisions")]:
        page = rob_client.get(url).content.decode()
        assert "rita-was-here" not in page
        assert "should_be_cheaper" not in page.split('id="label-form"')[0].split("<main>")[-1] or (
            "Should be cheaper</strong>" not in page
        )
    rob_client.post(location, {"verdict": "correct"})
    page = rob_client.get(reverse("decision", args=[decision.pk])).content.decode()
    assert "rita-was-here" in page


# --- Progress -------------------------------------------------------------------------------


def test_the_round_page_shows_progress_per_reviewer_and_agreement(make_decision, rita, rob):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    verdicts = [("correct", "correct"), ("should_be_cheaper", "correct"), ("unsure", "unsure")]
    for position, (rita_says, rob_says) in enumerate(verdicts):
        decision = make_decision("gpt-4o")
        QueueItem.objects.create(
            round=review_round, decision=decision, source=QueueItem.Source.FLAG, position=position
        )
        Label.objects.create(decision=decision, reviewer=rita, verdict=rita_says)
        Label.objects.create(decision=decision, reviewer=rob, verdict=rob_says)
    QueueItem.objects.create(
        round=review_round,
        decision=make_decision("gpt-4o"),
        source=QueueItem.Source.SAMPLE,
        position=3,
        locked_by=rita,
        locked_until=timezone.now() + timedelta(minutes=5),
    )
    response = client_for(rita).get(reverse("round", args=[review_round.pk]))
    progress = response.context["progress"]
    assert (progress.items, progress.done, progress.held) == (4, 3, 1)
    assert (progress.flagged, progress.sampled) == (3, 1)
    by_name = {row.reviewer: row for row in progress.reviewers}
    assert by_name["rita"].labelled == 3
    assert by_name["rita"].holding == 1
    assert by_name["rob"].verdicts == {"correct": 2, "unsure": 1}
    assert progress.agreement.items == 3
    assert progress.agreement.kappa is not None and 0 < progress.agreement.kappa < 1
    page = response.content.decode()
    assert "3 / 4" in page
    assert f"{progress.agreement.kappa:.2f}" in page


def test_the_audit_page_lists_every_change_and_filters_by_reviewer(review_round, rita, rob, olga):
    item = review_round.items.first()
    rita_client = client_for(rita)
    for verdict in ["correct", "should_be_cheaper"]:
        rita_client.post(reverse("decision-label", args=[item.decision_id]), {"verdict": verdict})
    client_for(rob).post(reverse("decision-label", args=[item.decision_id]), {"verdict": "unsure"})
    response = client_for(olga).get(reverse("label-audit"))
    events = list(response.context["events"])
    assert [(e.reviewer.username, e.action, e.verdict) for e in events] == [
        ("rob", "created", "unsure"),
        ("rita", "changed", "should_be_cheaper"),
        ("rita", "created", "correct"),
    ]
    assert "(was correct)" in response.content.decode()
    only_rita = client_for(olga).get(reverse("label-audit") + "?reviewer=rita")
    assert {e.reviewer.username for e in only_rita.context["events"]} == {"rita"}


# --- The explorer ---------------------------------------------------------------------------


@pytest.fixture
def traffic(make_decision, tiers) -> list[Decision]:
    other = Gateway.objects.create(name="batch-jobs")
    start = datetime(2026, 11, 30, tzinfo=UTC)
    made = []
    for n in range(30):
        made.append(
            make_decision(
                ["gpt-4o-mini", "gpt-4o", "o3"][n % 3],
                occurred_at=start + timedelta(hours=n),
                gateway=other if n % 5 == 0 else Gateway.objects.get(name="prod-proxy"),
                router_category="math" if n % 4 == 0 else "chat",
                status="error" if n % 7 == 0 else "success",
                error_type="bad_request" if n % 7 == 0 else "",
                prompt_text=f"prompt {n} " + ("integral of x" if n % 6 == 0 else "hello"),
                input_tokens=100 + n * 10,
                cost_usd=Decimal(n % 9) / 1000,
            )
        )
    for decision in made[::3]:
        flag(decision, confidence=0.5 + decision.pk % 10 / 20)
    return made


def walk(client: Client, query: str) -> list[int]:
    """Every decision id the explorer lists for a query, following its next-page links."""
    ids: list[int] = []
    url = reverse("decisions") + "?" + query
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.context["form"].errors
        ids += [d.pk for d in response.context["page"].decisions]
        following = response.context["next_query"]
        url = reverse("decisions") + "?" + following if following else None
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", lambda ds: ds),
        ("gateway=batch-jobs", lambda ds: [d for d in ds if d.gateway.name == "batch-jobs"]),
        ("model=o3", lambda ds: [d for d in ds if d.served_model.name == "o3"]),
        ("tier=small", lambda ds: [d for d in ds if d.served_tier.name == "small"]),
        ("category=math", lambda ds: [d for d in ds if d.router_category == "math"]),
        ("status=error", lambda ds: [d for d in ds if d.status == "error"]),
        ("q=INTEGRAL", lambda ds: [d for d in ds if "integral" in d.prompt_text]),
        ("flag=overkill", lambda ds: [d for d in ds if d.flags.exists()]),
        ("flag=none", lambda ds: [d for d in ds if not d.flags.exists()]),
        (
            "since=2026-11-30T05:00:00&until=2026-11-30T10:00:00",
            lambda ds: [d for d in ds if 5 <= d.occurred_at.hour < 10 and d.occurred_at.day == 30],
        ),
    ],
)
def test_each_filter_selects_what_it_says_across_pages(traffic, vera, query, expected):
    ids = walk(client_for(vera), query + "&limit=4")
    want = sorted(expected(traffic), key=lambda d: (d.occurred_at, d.pk), reverse=True)
    assert ids == [d.pk for d in want]


def test_the_label_filter_and_labels_in_rows(traffic, vera, rita):
    Label.objects.create(decision=traffic[2], reviewer=rita, verdict="should_be_cheaper")
    Label.objects.create(decision=traffic[5], reviewer=rita, verdict="correct")
    client = client_for(vera)
    assert walk(client, "label=should_be_cheaper") == [traffic[2].pk]
    assert walk(client, "label=any") == [traffic[5].pk, traffic[2].pk]
    assert len(walk(client, "label=none")) == len(traffic) - 2


def test_sorting_by_cost_pages_through_every_priced_decision_in_order(traffic, vera):
    Decision.objects.filter(pk=traffic[0].pk).update(cost_usd=None)
    Decision.objects.filter(pk__in=[traffic[1].pk, traffic[2].pk]).update(cost_usd="0.5")
    client = client_for(vera)
    ids = walk(client, "sort=cost&limit=4")
    priced = Decision.objects.filter(cost_usd__isnull=False)
    assert ids == list(priced.order_by("-cost_usd", "-pk").values_list("pk", flat=True))
    ascending = walk(client, "sort=cost&order=asc&limit=7")
    assert ascending == list(priced.order_by("cost_usd", "pk").values_list("pk", flat=True))


def test_sorting_by_confidence_lists_flagged_decisions_most_confident_first(traffic, vera):
    ids = walk(client_for(vera), "sort=confidence&limit=3")
    flags = Flag.objects.order_by("-confidence", "-decision_id")
    assert ids == list(flags.values_list("decision_id", flat=True))


def test_the_filters_travel_in_the_url(traffic, vera):
    response = client_for(vera).get(
        reverse("decisions") + "?gateway=prod-proxy&category=chat&sort=cost&limit=2"
    )
    next_query = response.context["next_query"]
    assert "gateway=prod-proxy" in next_query
    assert "category=chat" in next_query
    assert "sort=cost" in next_query
    assert "after=" in next_query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("since=2026-12-02T00:00:00&until=2026-12-01T00:00:00", "until"),
        ("gateway=nowhere", "gateway"),
        ("flag=maybe", "flag"),
        ("sort=colour", "sort"),
        ("after=!!!", "after"),
        ("limit=100000", "limit"),
    ],
)
def test_a_bad_filter_is_named_and_lists_nothing(traffic, vera, query, field):
    response = client_for(vera).get(reverse("decisions") + "?" + query)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["page"] is None


def test_a_cursor_from_another_sort_order_is_refused(traffic, vera):
    client = client_for(vera)
    by_cost = client.get(reverse("decisions") + "?sort=cost&limit=2").context["page"]
    response = client.get(reverse("decisions") + f"?sort=time&after={by_cost.next_cursor}")
    assert "after" in response.context["form"].errors


def test_explorer_rows_link_to_the_case_page(traffic, vera):
    page = client_for(vera).get(reverse("decisions")).content.decode()
    assert reverse("decision", args=[traffic[-1].pk]) in page


def test_explorer_page_function_and_view_agree(traffic):
    form = explorer.FilterForm({"category": "math", "limit": "100"})
    assert form.is_valid()
    rows = explorer.page(form.cleaned_data).decisions
    assert [d.pk for d in rows] == [
        d.pk
        for d in sorted(traffic, key=lambda d: (d.occurred_at, d.pk), reverse=True)
        if d.router_category == "math"
    ]


# --- The case page --------------------------------------------------------------------------


def test_the_case_page_shows_the_evidence(review_round, rita, make_decision):
    item = review_round.items.first()
    decision = item.decision
    Decision.objects.filter(pk=decision.pk).update(
        router_score=0.91, router_cause="complexity above 0.8", latency_ms=1234, judge_score=0.9
    )
    make_decision("gpt-4o-mini", prompt_text="hello number 7")  # similar prompt
    page = client_for(rita).get(reverse("decision", args=[decision.pk])).content.decode()
    for text in [
        "hello number 0",
        "gpt-4o",
        "0.910",
        "complexity above 0.8",
        "1,234 ms",
        "gpt-4o served a 12-token greeting",
        "$0.0100 at stake",
        "hello number 7",
        "gpt-4o-mini",  # the cheaper tier's model with its price for this call
        'id="shortcuts"',
    ]:
        assert text in page, text


def test_a_long_prompt_starts_collapsed(make_decision, vera):
    decision = make_decision(prompt_text="word " * 1000)
    page = client_for(vera).get(reverse("decision", args=[decision.pk])).content.decode()
    assert '<details class="long-text">' in page
    assert "5,000 characters" in page


def test_untrusted_text_is_escaped_on_every_page(make_decision, review_round, rita):
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:x">y</a>'
    decision = make_decision(prompt_text=payload, response_excerpt=payload, router_cause=payload)
    item = QueueItem.objects.create(
        round=review_round, decision=decision, source=QueueItem.Source.SAMPLE, position=9
    )
    client = client_for(rita)
    Label.objects.create(decision=decision, reviewer=rita, verdict="unsure", note=payload)
    LabelEvent.objects.create(
        decision=decision,
        reviewer=rita,
        action="created",
        source="review",
        verdict="unsure",
        note=payload,
    )
    for url in [
        reverse("decision", args=[decision.pk]),
        reverse("queue-item", args=[review_round.pk, item.pk]),
        reverse("decisions") + "?q=script",
        reverse("round", args=[review_round.pk]),
        reverse("label-audit"),
    ]:
        page = client.get(url).content.decode()
        assert "<script>alert" not in page, url
        assert "<img src=x" not in page, url
        assert 'href="javascript:' not in page, url
        assert "&lt;script&gt;" in page or "&lt;script&gt;alert(1)&lt;/scr…" in page, url


def test_the_audit_trail_keeps_a_blind_label_hidden_from_the_other_reviewer(
    make_decision, rita, rob, olga
):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    decision = make_decision("gpt-4o")
    QueueItem.objects.create(
        round=review_round, decision=decision, source=QueueItem.Source.FLAG, position=0
    )
    client_for(rita).post(reverse("decision-label", args=[decision.pk]), {"verdict": "unsure"})
    rob_sees = client_for(rob).get(reverse("label-audit")).context["events"]
    assert list(rob_sees) == []
    # A policy owner may label too, so the label is hidden from them as well until they do.
    assert list(client_for(olga).get(reverse("label-audit")).context["events"]) == []
    client_for(rob).post(reverse("decision-label", args=[decision.pk]), {"verdict": "correct"})
    rob_sees = client_for(rob).get(reverse("label-audit")).context["events"]
    assert sorted(e.verdict for e in rob_sees) == ["correct", "unsure"]


def test_a_label_filter_does_not_tell_a_blind_verdict(make_decision, rita, rob, vera):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    decision = make_decision("gpt-4o")
    QueueItem.objects.create(
        round=review_round, decision=decision, source=QueueItem.Source.FLAG, position=0
    )
    client_for(rita).post(
        reverse("decision-label", args=[decision.pk]), {"verdict": "should_be_cheaper"}
    )
    query = reverse("decisions") + "?label=should_be_cheaper"
    assert walk(client_for(rob), "label=should_be_cheaper") == []
    assert walk(client_for(rob), "label=none") == []  # absent from "none" would tell as much
    assert walk(client_for(vera), "label=should_be_cheaper") == [decision.pk]  # cannot label
    assert client_for(rob).get(query).status_code == 200
    client_for(rob).post(reverse("decision-label", args=[decision.pk]), {"verdict": "correct"})
    assert walk(client_for(rob), "label=should_be_cheaper") == [decision.pk]
