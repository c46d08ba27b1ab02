"""The dashboard (the home page) and the weekly report: who may open them, the filters in the
URL, every chart's link into the explorer listing exactly what the chart counts, bad filters
named, untrusted names escaped, and the report as a page and as a PDF."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import plotly.graph_objects as go
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from review import charts, labels, metrics, pipeline, roles, rollups
from review.models import (
    ApiKey,
    CatalogModel,
    Decision,
    Flag,
    FlagKind,
    Gateway,
    LabelEvent,
    PolicyVersion,
    QueueItem,
    ReviewRound,
)

from .people import client_for, person
from .test_rollups import FIRST, LAST, assert_board_matches, reference, rob, traffic  # noqa: F401

RANGE = f"since={FIRST.isoformat()}&until={LAST.isoformat()}"


@pytest.fixture
def vera(db: None) -> User:
    return person("vera", roles.VIEWER)


@pytest.fixture
def review_round(traffic) -> ReviewRound:  # noqa: F811
    return ReviewRound.objects.get(week_start=FIRST)


def explorer_rows(client: Client, url: str) -> list[Decision]:
    """The decisions the explorer lists at ``url``, every page of them."""
    found: list[Decision] = []
    query = f"{url}&limit=500"
    while True:
        response = client.get(query)
        assert response.status_code == 200, response.context["form"].errors
        page = response.context["page"]
        assert page is not None, response.context["form"].errors
        found += page.decisions
        if page.next_cursor is None:
            return found
        query = f"{url}&limit=500&after={page.next_cursor}"


# --- Who may open the pages ---------------------------------------------------------------------


def page_urls(review_round: ReviewRound) -> list[str]:
    return [
        reverse("home"),
        reverse("home") + "?days=90&tier=large",
        reverse("round-report", args=[review_round.pk]),
        reverse("round-report-pdf", args=[review_round.pk]),
    ]


def test_anonymous_visitors_and_gateway_keys_are_sent_to_log_in(review_round, gateway):
    key = ApiKey.issue(gateway=gateway, scopes=["ingest", "policy:read", "export:read"])[1]
    for client in (Client(), Client(headers={"Authorization": f"Bearer {key}"})):
        for url in page_urls(review_round):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("login")), url


def test_a_user_without_a_role_is_refused(review_round):
    nobody = client_for(person("nobody", None))
    for url in page_urls(review_round):
        assert nobody.get(url).status_code == 403, url


def test_a_viewer_reads_the_dashboard_and_the_report(review_round, vera):
    client = client_for(vera)
    for url in page_urls(review_round)[:3]:
        assert client.get(url).status_code == 200, url


# --- The dashboard --------------------------------------------------------------------------------


def test_the_dashboard_shows_each_kpi_and_chart_for_the_range(traffic, vera):  # noqa: F811
    response = client_for(vera).get(f"/?{RANGE}")
    assert response.status_code == 200
    board = response.context["board"]
    expected = reference(board.selection, board.detector_version)
    body = response.content.decode()
    kpis = {kpi.key: kpi for kpi in response.context["kpis"]}
    assert 'data-kpi="decisions"' in body and kpis["decisions"].shown == "260"
    assert kpis["decisions"].value == expected.decisions == 260
    for key in ("cost", "cost_per_1k", "overkill_dollars", "cheap_failure_rate", "miss_rate"):
        assert f'data-kpi="{key}"' in body
        assert kpis[key].shown in body
    # The previous ten days had no traffic: each figure says so rather than inventing a change.
    assert kpis["decisions"].change == "new"
    island = json.loads(
        re.search(
            r'<script id="dashboard-charts" type="application/json">(.*?)</script>', body, re.S
        ).group(1)
    )
    keys = [
        "cost",
        "calls",
        "flags",
        "confusion",
        "difficulty",
        "waste_model",
        "waste_category",
        "latency",
    ]
    assert sorted(island) == sorted(keys)
    for key in keys:
        assert f'data-chart="{key}"' in body
        assert island[key]["data"], key
    assert "vendor/plotly/plotly-3.7.0.min.js" in body and "js/dashboard.js" in body
    # Plotly's own schema accepts every figure (a misspelt attribute raises).
    for key in keys:
        go.Figure(island[key])


def test_the_numbers_change_against_the_previous_range(traffic, vera):  # noqa: F811
    second_half = f"since={(LAST - timedelta(days=4)).isoformat()}&until={LAST.isoformat()}"
    response = client_for(vera).get(f"/?{second_half}")
    board = response.context["board"]
    assert_board_matches(board.selection)
    kpi = next(k for k in response.context["kpis"] if k.key == "decisions")
    assert kpi.previous == board.previous.decisions > 0
    change = (kpi.value - kpi.previous) / kpi.previous * 100
    assert kpi.change == f"{change:+.1f}%"


def test_each_chart_links_to_the_explorer_listing_what_it_counts(traffic, vera):  # noqa: F811
    client = client_for(vera)
    prod = Gateway.objects.get(name="prod-proxy")
    response = client.get(f"/?{RANGE}&gateway=prod-proxy")
    board = response.context["board"]
    drawn = {chart.key: chart for chart in response.context["charts"]}
    in_range = [d for d in traffic if d.gateway_id == prod.pk]

    # The whole chart: every decision of the selection.
    everything = explorer_rows(client, drawn["calls"].explore)
    assert sorted(d.pk for d in everything) == sorted(d.pk for d in in_range)

    # Each bar of calls per day: that tier on that day.
    for trace in drawn["calls"].figure["data"]:
        if trace["name"] == "unclassified":
            continue  # the explorer cannot select "no tier"; its link lists the whole day
        for count, url in zip(trace["y"], trace["customdata"], strict=True):
            if count:
                listed = explorer_rows(client, url)
                assert len(listed) == count, url
                assert {d.served_tier.name for d in listed} == {trace["name"]}
                assert {d.gateway_id for d in listed} == {prod.pk}

    # Each week's flags of a kind.
    for trace in drawn["flags"].figure["data"]:
        if trace["type"] != "bar":
            continue
        kind = "overkill" if trace["name"].startswith("Overkill") else "underpowered"
        for count, url in zip(trace["y"], trace["customdata"], strict=True):
            assert parse_qs(urlsplit(url).query)["flag"] == [kind]
            assert len(explorer_rows(client, url)) == count, url

    # The top models and categories by waste: their overkill-flagged decisions.
    for key in ("waste_model", "waste_category"):
        bars = drawn[key].figure["data"][0]
        for text, url in zip(bars["text"], bars["customdata"], strict=True):
            if url is None:
                continue  # calls without a category: the explorer cannot select them
            flags = int(text.split()[0].replace(",", ""))
            assert len(explorer_rows(client, url)) == flags, url

    # A KPI links too: the decisions it counts.
    kpi = next(k for k in response.context["kpis"] if k.key == "decisions")
    assert len(explorer_rows(client, kpi.href)) == kpi.value == len(in_range)
    assert board.selection.gateway == prod


def test_filters_travel_in_the_url_and_presets_keep_them(traffic, vera):  # noqa: F811
    client = client_for(vera)
    url = f"/?{RANGE}&gateway=prod-proxy&tier=large&category=code&model=claude-sonnet-4-5"
    response = client.get(url)
    assert response.status_code == 200
    selection = response.context["selection"]
    assert selection.gateway.name == "prod-proxy" and selection.tier.name == "large"
    assert selection.category == "code" and selection.model.name == "claude-sonnet-4-5"
    assert (selection.first, selection.last) == (FIRST, LAST)
    assert_board_matches(selection)
    presets = response.context["presets"]
    assert [days for days, _, _ in presets] == [7, 30, 90]
    for days, query, current in presets:
        assert not current  # custom days are shown
        params = parse_qs(query)
        assert params["days"] == [str(days)] and params["gateway"] == ["prod-proxy"]
        assert "since" not in params
    explore = parse_qs(urlsplit(response.context["charts"][0].explore).query)
    assert explore["gateway"] == ["prod-proxy"] and explore["tier"] == ["large"]
    assert explore["category"] == ["code"] and explore["model"] == ["claude-sonnet-4-5"]
    assert explore["since"] == ["2026-11-23T00:00:00"] and explore["until"] == [
        "2026-12-03T00:00:00"
    ]


def test_presets_count_back_from_today(db, vera):
    today = timezone.now().astimezone(UTC).date()
    for query, days in (("", 30), ("?days=7", 7), ("?days=90", 90)):
        response = client_for(vera).get(f"/{query}")
        assert response.status_code == 200
        selection = response.context["selection"]
        assert selection.last == today and selection.length == days
        assert [current for d, _, current in response.context["presets"] if d == days] == [True]
    # An empty dashboard draws nothing and says so.
    body = client_for(vera).get("/").content.decode()
    assert "Nothing to show for these filters yet." in body


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("since=2026-12-02&until=2026-11-23", "until", "must not be before"),
        ("since=yesterday", "since", "Enter a valid date"),
        ("days=13", "days", "Select a valid choice"),
        ("gateway=nowhere", "gateway", "Select a valid choice"),
        ("tier=huge", "tier", "Select a valid choice"),
        ("model=gpt-9-ultra", "model", "no model named 'gpt-9-ultra'"),
        ("since=2020-01-01&until=2026-01-01", "since", "at most 731 days"),
        ("policy=99", "policy", "Select a valid choice"),
    ],
)
def test_a_bad_filter_is_named_with_its_reason(db, vera, query, field, reason):
    response = client_for(vera).get(f"/?{query}")
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and reason in " ".join(errors[field])
    body = response.content.decode()
    assert "These filters cannot be shown." in body and f"<code>{field}</code>" in body
    assert "dashboard-charts" not in body


def test_a_policy_version_selects_the_days_it_was_active(traffic, vera):  # noqa: F811
    base = {
        "tiers": ["small", "medium", "large", "reasoning"],
        "score_boundaries": [0.3, 0.55, 0.8],
        "default_tier": "medium",
    }
    activated = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    retired = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    old = PolicyVersion.objects.create(
        number=1, rules=base, status="retired", activated_at=activated, retired_at=retired
    )
    PolicyVersion.objects.create(number=2, rules=base, status="active", activated_at=retired)
    PolicyVersion.objects.create(number=3, rules=base)  # a draft never ran: not offered
    client = client_for(vera)
    response = client.get("/?policy=1")
    selection = response.context["selection"]
    assert (selection.first, selection.last) == (date(2026, 11, 25), date(2026, 11, 29))
    assert selection.policy == old
    assert_board_matches(selection)
    assert "the days policy v1 was active" in response.content.decode()
    # Intersected with days given, and refused when they do not meet.
    response = client.get("/?policy=1&since=2026-11-27&until=2026-12-10")
    assert (response.context["selection"].first, response.context["selection"].last) == (
        date(2026, 11, 27),
        date(2026, 11, 29),
    )
    response = client.get("/?policy=1&since=2026-12-01&until=2026-12-02")
    assert response.status_code == 400
    assert "v1 was active from 2026-11-25 to 2026-11-29" in " ".join(
        response.context["form"].errors["policy"]
    )
    assert client.get("/?policy=3").status_code == 400
    today = timezone.now().astimezone(UTC).date()
    assert client.get("/?policy=2").context["selection"].last == max(today, date(2026, 11, 29))


def test_unclassified_models_are_still_a_warning(traffic, vera):  # noqa: F811
    body = client_for(vera).get(f"/?{RANGE}").content.decode()
    assert "Unclassified models" in body and "acme-internal-13b" in body
    model = CatalogModel.objects.get(name="acme-internal-13b")
    assert reverse("admin:review_catalogmodel_change", args=[model.pk]) in body


def test_names_from_gateways_are_escaped_on_the_page_and_in_the_charts(make_decision, vera):
    evil = '<img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a>'
    made = [
        make_decision(
            "claude-opus-4-5",
            router_category=evil[:60],
            prompt_text="hi!",
            occurred_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        )
        for _ in range(3)
    ]
    pipeline.process_in_chunks([d.pk for d in made])
    rollups.refresh_changed()
    response = client_for(vera).get("/?since=2026-11-30&until=2026-11-30")
    body = response.content.decode()
    assert "<img src=x" not in body and '<a href="javascript' not in body
    assert "&lt;img src=x" in body  # the category offered in the filter's list, as text
    figures = response.context["figures"]
    if "waste_category" in figures:
        names = figures["waste_category"]["data"][0]["y"]
        assert names == [charts.plain(evil[:60])]
        assert "<" not in names[0]


# --- The weekly report ---------------------------------------------------------------------------


def test_the_weekly_report_sums_up_the_round(review_round, vera, reviewer):
    round_page = client_for(vera).get(reverse("round", args=[review_round.pk]))
    assert reverse("round-report", args=[review_round.pk]) in round_page.content.decode()
    response = client_for(vera).get(reverse("round-report", args=[review_round.pk]))
    assert response.status_code == 200
    report = response.context["report"]
    items = list(review_round.items.all())
    assert report.progress.items == len(items) == 25
    assert (
        report.sample_reviewed
        + sum(1 for label in first_labels(items).values() if label.verdict == "unsure")
        == 20
    )
    week = metrics.Selection(first=FIRST, last=FIRST + timedelta(days=6))
    assert report.week.decisions == reference(week, metrics.detector_version()).decisions
    body = response.content.decode()
    assert "Weekly routing review, 2026-W48" in body
    assert (
        "estimated miss rate" in body
        and reverse("round-report-pdf", args=[review_round.pk]) in body
    )


def first_labels(items):
    from review.models import Label

    found = {}
    for label in Label.objects.filter(decision_id__in=[i.decision_id for i in items]).order_by(
        "created_at", "pk"
    ):
        found.setdefault(label.decision_id, label)
    return found


def test_the_report_counts_the_rounds_flags_and_lists_confirmed_misroutes(
    make_decision, vera, reviewer
):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30))
    made = [
        make_decision(
            "claude-opus-4-5",
            prompt_text=f"hi number {n}",
            occurred_at=datetime(2026, 12, 1, 9, n, tzinfo=UTC),
        )
        for n in range(4)
    ]
    verdicts = ["should_be_cheaper", "should_be_cheaper", "correct", "unsure"]
    for position, (decision, verdict) in enumerate(zip(made, verdicts, strict=True)):
        flag = Flag.objects.create(
            decision=decision,
            kind=FlagKind.OVERKILL,
            confidence=0.9,
            dollars=Decimal("0.05") * (position + 1),
            reasons=[],
            detector_version=metrics.detector_version(),
        )
        QueueItem.objects.create(
            round=review_round, decision=decision, flag=flag, source="flag", position=position
        )
        labels.record_label(
            decision=decision,
            reviewer=reviewer,
            verdict=verdict,
            right_tier=None,
            note="",
            source=LabelEvent.Source.REVIEW,
        )
    response = client_for(vera).get(reverse("round-report", args=[review_round.pk]))
    report = response.context["report"]
    overkill = next(p for p in report.precision if p.kind == "overkill")
    assert (overkill.flagged, overkill.reviewed, overkill.confirmed) == (4, 3, 2)
    assert [m.decision.pk for m in report.misroutes] == [
        made[1].pk,
        made[0].pk,
    ]  # most at stake first
    body = response.content.decode()
    assert "2 of 3 reviewed flags confirmed" in body
    assert f"#{made[1].pk}" in body and "hi number 1" in body


def test_the_report_keeps_blind_labels_from_a_reviewer_who_has_not_labelled(
    make_decision, reviewer
):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    decision = make_decision(
        "claude-opus-4-5",
        prompt_text="hello there",
        occurred_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
    )
    QueueItem.objects.create(round=review_round, decision=decision, source="sample", position=0)
    labels.record_label(
        decision=decision,
        reviewer=reviewer,
        verdict="should_be_cheaper",
        right_tier=None,
        note="",
        source=LabelEvent.Source.REVIEW,
    )
    other = person("otto", roles.REVIEWER)
    mine = (
        client_for(reviewer).get(reverse("round-report", args=[review_round.pk])).context["report"]
    )
    theirs = (
        client_for(other).get(reverse("round-report", args=[review_round.pk])).context["report"]
    )
    assert [m.decision.pk for m in mine.misroutes] == [decision.pk]
    assert theirs.misroutes == [] and theirs.hidden_misroutes == 1


def test_the_report_prints_to_pdf(review_round, vera):
    response = client_for(vera).get(reverse("round-report-pdf", args=[review_round.pk]))
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="routing-review-2026-W48.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF-") and len(response.content) > 5000
    assert b"/Type /Page" in response.content or b"/Type/Page" in response.content


def test_without_chromium_the_pdf_says_why(review_round, vera, settings):
    settings.CHROMIUM_BINARY = "/nonexistent/chromium"
    response = client_for(vera).get(reverse("round-report-pdf", args=[review_round.pk]))
    assert response.status_code == 503
    assert b"Chromium was not found at /nonexistent/chromium" in response.content


# --- Small pieces ---------------------------------------------------------------------------------


def test_custom_days_and_a_preset_combine(db, vera):
    client = client_for(vera)
    selection = client.get("/?until=2026-12-02&days=7").context["selection"]
    assert (selection.first, selection.last) == (date(2026, 11, 26), date(2026, 12, 2))
    today = timezone.now().astimezone(UTC).date()
    selection = client.get("/?since=2026-11-01").context["selection"]
    assert (selection.first, selection.last) == (date(2026, 11, 1), max(today, date(2026, 11, 1)))
    previous = selection.previous()
    assert previous.last == date(2026, 10, 31) and previous.length == selection.length


@pytest.mark.parametrize(
    ("value", "previous", "kind", "better", "change", "direction"),
    [
        (120, 100, "count", "", "+20.0%", ""),
        (Decimal("80"), Decimal("100"), "money", "down", "-20.0%", "good"),
        (Decimal("5"), Decimal("0"), "money", "down", "new", ""),
        (0.25, 0.20, "rate", "down", "+5.0 pt", "bad"),
        (0.6, 0.5, "kappa", "up", "+0.10", "good"),
        (0.5, None, "rate", "up", "no previous figure", ""),
        (None, 0.5, "rate", "up", "", ""),
        (100, 100, "count", "", "no change", ""),
    ],
)
def test_a_kpi_says_how_it_changed(value, previous, kind, better, change, direction):
    kpi = metrics.Kpi("k", "label", value, previous, kind, better=better)
    assert kpi.change == change
    assert kpi.direction == direction
