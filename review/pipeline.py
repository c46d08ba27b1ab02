"""What happens to decisions after they are stored.

Ingestion enqueues ``process_decisions`` once its transaction commits; a decision stays
*pending* (``processed_at`` is null) until that has run, so a lost trigger (a Redis restart, a
killed worker) only delays the work: the periodic sweep finds pending decisions and sends them
again. Processing is idempotent: detection replaces its own version's output.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from review import detection
from review.models import CatalogModel, Decision, DetectorSettings

SWEEP_GRACE = timedelta(minutes=1)
logger = logging.getLogger(__name__)
CHUNK = 1000


def process_decisions(*, decision_ids: list[int]) -> int:
    """Link attempts, fill tiers, run detection and mark the decisions processed.

    The decisions are locked for the length of the work (``FOR UPDATE SKIP LOCKED``): two
    workers handed the same ids never both process one, and a worker that dies releases its
    locks with its connection. A failure is recorded on the decisions; after the detector's
    maximum number of attempts they are marked failed and left for an operator.
    Returns how many decisions were processed.
    """
    ids: list[int] = []
    try:
        with transaction.atomic():
            ids = list(
                pending()
                .filter(pk__in=decision_ids)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            if not ids:
                return 0
            locked = Decision.objects.filter(pk__in=ids)
            link_attempts(locked)
            untiered_models = locked.filter(served_tier__isnull=True).values("served_model")
            for model in CatalogModel.objects.filter(pk__in=untiered_models, tier__isnull=False):
                locked.filter(served_model=model, served_tier__isnull=True).update(
                    served_tier=model.tier_id
                )
            detection.detect(decision_ids=ids)
            locked.update(processed_at=timezone.now(), processing_error="")
    except Exception as error:
        if len(ids) > 1 and not isinstance(error, OperationalError | SoftTimeLimitExceeded):
            # One bad decision must not fail its neighbours: go through them one at a time.
            logger.warning(
                "processing %d decisions failed (%r); retrying one by one", len(ids), error
            )
            return sum(_process_alone(pk) for pk in ids)
        if ids:
            _record_failure(ids, error)
        raise
    return len(ids)


def _process_alone(decision_id: int) -> int:
    try:
        return process_decisions(decision_ids=[decision_id])
    except Exception:
        logger.exception("processing decision %s failed", decision_id)
        return 0


def process_in_chunks(decision_ids: list[int]) -> int:
    return sum(
        process_decisions(decision_ids=decision_ids[start : start + CHUNK])
        for start in range(0, len(decision_ids), CHUNK)
    )


def pending() -> "QuerySet[Decision]":
    """Decisions the pipeline has still to process, and has not given up on."""
    return Decision.objects.filter(processed_at__isnull=True, processing_failed_at__isnull=True)


def _record_failure(ids: list[int], error: Exception) -> None:
    limit = DetectorSettings.current().max_processing_attempts
    failed = Decision.objects.filter(pk__in=ids)
    failed.update(
        processing_attempts=F("processing_attempts") + 1,
        processing_error=f"{type(error).__name__}: {error}"[:1000],
    )
    failed.filter(processing_attempts__gte=limit).update(processing_failed_at=timezone.now())


def stale_pending(*, limit: int) -> "QuerySet[Decision, int]":
    """Ids of decisions still pending well after they arrived: their trigger was lost."""
    cutoff = timezone.now() - SWEEP_GRACE
    return (
        pending()
        .filter(received_at__lt=cutoff)
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
    # The explicit trace_id <> '' lets PostgreSQL use the partial trace index.
    for pk, gateway_id, trace_id, occurred_at, model in (
        Decision.objects.filter(
            gateway_id__in={row[1] for row in unlinked}, trace_id__in={row[2] for row in unlinked}
        )
        .exclude(trace_id="")
        .order_by()
        .values_list("pk", "gateway_id", "trace_id", "occurred_at", "served_model_name")
    ):
        attempts[(gateway_id, trace_id)].append((occurred_at, pk, model))
    linked = 0
    for pk, gateway_id, trace_id, occurred_at, model in unlinked:
        earlier = sorted(a for a in attempts[(gateway_id, trace_id)] if a[:2] < (occurred_at, pk))
        chain = list(dict.fromkeys(m for _, _, m in earlier if m != model))
        if chain:
            Decision.objects.filter(pk=pk).update(fallback_chain=chain)
            linked += 1
    return linked
