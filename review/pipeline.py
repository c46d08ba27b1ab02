"""What happens to decisions after they are stored.

Ingestion enqueues ``process_decisions`` once its transaction commits; a decision stays
*pending* (``processed_at`` is null) until that has run, so a lost trigger (a Redis restart, a
killed worker) only delays the work: the periodic sweep finds pending decisions and sends them
again. Processing is idempotent.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from review.models import CatalogModel, Decision

SWEEP_GRACE = timedelta(minutes=5)


def process_decisions(*, decision_ids: list[int]) -> int:
    """Bring new decisions up to date with the catalog and mark them processed.

    Returns how many were pending. A decision whose model was classified between its lookup and
    its insert gets the model's tier here.
    """
    pending = Decision.objects.filter(pk__in=decision_ids, processed_at__isnull=True)
    link_attempts(pending)
    untiered_models = pending.filter(served_tier__isnull=True).values("served_model")
    for model in CatalogModel.objects.filter(pk__in=untiered_models, tier__isnull=False):
        pending.filter(served_model=model, served_tier__isnull=True).update(
            served_tier=model.tier_id
        )
    return pending.update(processed_at=timezone.now())


def stale_pending(*, limit: int) -> "QuerySet[Decision, int]":
    """Ids of decisions still pending well after they arrived: their trigger was lost."""
    cutoff = timezone.now() - SWEEP_GRACE
    return (
        Decision.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )


def link_attempts(decisions: "QuerySet[Decision]") -> int:
    """Fill the fallback chain of decisions from the earlier attempts of their request.

    Gateways such as LiteLLM log each attempt separately under one trace id; the chain lists
    the other models tried before this one, in order. Returns how many chains were filled.
    """
    unlinked = list(
        decisions.exclude(trace_id="")
        .filter(fallback_chain=[])
        .values_list("pk", "gateway_id", "trace_id", "occurred_at", "served_model_name")
    )
    if not unlinked:
        return 0
    attempts: dict[tuple[int, str], list[tuple[datetime, int, str]]] = defaultdict(list)
    for pk, gateway_id, trace_id, occurred_at, model in Decision.objects.filter(
        gateway_id__in={row[1] for row in unlinked}, trace_id__in={row[2] for row in unlinked}
    ).values_list("pk", "gateway_id", "trace_id", "occurred_at", "served_model_name"):
        attempts[(gateway_id, trace_id)].append((occurred_at, pk, model))
    linked = 0
    for pk, gateway_id, trace_id, occurred_at, model in unlinked:
        earlier = sorted(a for a in attempts[(gateway_id, trace_id)] if a[:2] < (occurred_at, pk))
        chain = list(dict.fromkeys(m for _, _, m in earlier if m != model))
        if chain:
            Decision.objects.filter(pk=pk).update(fallback_chain=chain)
            linked += 1
    return linked
