"""Pages for people. Thin: query, render."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from review.models import CatalogModel, Decision, Tier


@login_required
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
