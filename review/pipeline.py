"""What happens to decisions after they are stored.

Ingestion enqueues ``process_decisions`` once its transaction commits; a decision stays
*pending* (``processed_at`` is null) until that has run, so a lost trigger (a Redis restart, a
killed worker) only delays the work: the periodic sweep finds pending decisions and sends them
again. Processing is idempotent.
"""

from datetime import timedelta

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
