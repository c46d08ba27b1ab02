"""Celery tasks: thin wrappers that call the domain. Retries and limits are declared here."""

from celery import shared_task
from django.db import OperationalError, transaction

from review import catalog, learning, pipeline, proposals, replay, rollups, rounds
from review.exports import jobs as export_jobs

SWEEP_CHUNK = 1000


@shared_task(time_limit=15 * 60, soft_time_limit=14 * 60)
def sweep_catalog(model_id: int | None = None) -> dict[str, int]:
    """Bring decisions up to date with the catalog: tiers for models classified since, costs
    from list prices where the gateway logged none. One model, or all of them."""
    return {
        "tiered": catalog.backfill_tiers(model_id=model_id),
        "priced": catalog.price_unpriced_decisions(model_id=model_id),
    }


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=4 * 60,
    time_limit=5 * 60,
)
def process_decisions(decision_ids: list[int]) -> int:
    return pipeline.process_decisions(decision_ids=decision_ids)


@shared_task(time_limit=5 * 60)
def sweep_pending_decisions(limit: int = 50_000) -> int:
    """Re-send decisions whose processing trigger was lost. Returns how many were re-sent."""
    ids = list(pipeline.stale_pending(limit=limit))
    for start in range(0, len(ids), SWEEP_CHUNK):
        process_decisions.delay(ids[start : start + SWEEP_CHUNK])
    return len(ids)


@shared_task(time_limit=30 * 60, soft_time_limit=29 * 60)
def train_detector() -> str:
    return learning.train().message


@shared_task(time_limit=10 * 60, soft_time_limit=9 * 60)
def open_weekly_round() -> str:
    """Close the rounds before, open last week's, and fit a policy proposal on the labels the
    closed rounds gave."""
    review_round, created = rounds.open_round()
    closed = rounds.close_rounds_before(review_round)
    if closed:
        transaction.on_commit(lambda: propose_policy.delay())
    return f"{'opened' if created else 'already open'} {review_round}; closed {closed}"


@shared_task(time_limit=20 * 60, soft_time_limit=19 * 60)
def propose_policy(max_should_be_stronger: float = proposals.DEFAULT_MAX_STRONGER) -> int:
    """Fit a proposal on every label; returns the new draft's number."""
    return proposals.propose(by=None, max_should_be_stronger=max_should_be_stronger).number


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=29 * 60,
    time_limit=30 * 60,
)
def run_replay(replay_id: int) -> str:
    return replay.run(replay_id).status


# Exports: an hour is ample for millions of rows (bench/export.py); the soft limit lets the job
# record why it stopped. The sweep re-sends lost triggers, and the claim makes a redelivered
# message (acks_late, or the sweep racing a slow start) a no-op.
@shared_task(soft_time_limit=60 * 60, time_limit=61 * 60)
def run_export(export_id: int) -> str:
    return export_jobs.run_export(export_id=export_id)


@shared_task(time_limit=10 * 60)
def expire_exports() -> int:
    return export_jobs.expire()


@shared_task(time_limit=5 * 60)
def sweep_exports() -> dict[str, int]:
    return export_jobs.sweep()


# Dashboard rollups: a refresh rebuilds every day with noted changes; writers schedule one after
# their commit and the beat entry catches lost ones. Days are claimed with SKIP LOCKED, so two
# refreshes share the work rather than repeat it.
@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=9 * 60,
    time_limit=10 * 60,
)
def refresh_rollups() -> int:
    return rollups.refresh_changed()
