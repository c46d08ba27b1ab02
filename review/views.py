"""Pages for people. Thin: query, render."""

from datetime import timedelta
from decimal import Decimal

from django.db import DatabaseError, connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from review import cases, explorer, labels
from review.access import person, requires
from review.forms import LabelForm
from review.models import CatalogModel, Decision, Tier


@requires("review.view_decision")
def home(request: HttpRequest) -> HttpResponse:
    latest = Decision.objects.order_by("-occurred_at", "-id").first()
    window_end = latest.occurred_at if latest else timezone.now()
    window = Decision.objects.filter(occurred_at__gt=window_end - timedelta(days=7))
    calls: dict[int | None, int] = {}
    costs: dict[int | None, Decimal] = {}
    for row in window.values("served_tier").annotate(n=Count("id"), cost=Sum("cost_usd")):
        calls[row["served_tier"]] = row["n"]
        costs[row["served_tier"]] = row["cost"] or Decimal(0)
    tiers = [
        {
            "tier": tier,
            "calls": calls.get(tier.pk, 0),
            "cost": costs.get(tier.pk, Decimal(0)),
            "models": tier.models.all(),
        }
        for tier in Tier.objects.prefetch_related("models")
    ]
    context = {
        "total_calls": sum(calls.values()),
        "total_cost": sum(costs.values(), Decimal(0)),
        "unclassified_calls": calls.get(None, 0),
        "window_end": window_end,
        "tiers": tiers,
        "unclassified_models": CatalogModel.objects.filter(tier__isnull=True),
        "recent": Decision.objects.select_related("served_model", "served_tier", "gateway")[:15],
    }
    return render(request, "review/home.html", context)


@requires("review.view_decision")
def decisions(request: HttpRequest) -> HttpResponse:
    """The explorer: filters from the query string, one keyset page at a time."""
    form = explorer.FilterForm(request.GET)
    page = explorer.page(form.cleaned_data) if form.is_valid() else None
    data = form.cleaned_data if form.is_valid() else {}
    if page:
        blind = labels.blind_decision_ids(d.pk for d in page.decisions)
        for decision in page.decisions:
            shown = labels.visible_labels(decision, request.user, blind_ids=blind)
            decision.shown_labels = shown.labels  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        "filters": explorer.query_string(data),
        "next_query": explorer.query_string(data, after=page.next_cursor)
        if page and page.next_cursor
        else None,
        "first_page": not request.GET.get("after"),
    }
    return render(request, "review/decisions.html", context)


@requires("review.view_decision")
def decision_case(request: HttpRequest, pk: int) -> HttpResponse:
    """One decision with all its evidence, outside a round; reviewers can label it here too."""
    decision = get_object_or_404(
        Decision.objects.select_related("gateway", "served_model", "served_tier"), pk=pk
    )
    case = cases.gather(decision, viewer=person(request))
    return render(
        request,
        "review/case.html",
        {
            "case": case,
            "form": label_form_for(case),
            "label_action": reverse("decision-label", args=[decision.pk]),
        },
    )


def label_form_for(case: cases.Case) -> LabelForm:
    own = case.own_label
    if own is None:
        return LabelForm()
    return LabelForm(
        initial={"verdict": own.verdict, "right_tier": own.right_tier, "note": own.note}
    )


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and compose healthchecks: 200 when the database answers."""
    try:
        # A query, not just a connection check: a kept-alive connection can outlive the server.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
