"""Celery tasks: thin wrappers that call the domain. Retries and limits are declared here."""

from celery import shared_task

from review import catalog


@shared_task(time_limit=15 * 60, soft_time_limit=14 * 60)
def sweep_catalog(model_id: int | None = None) -> dict[str, int]:
    """Bring decisions up to date with the catalog: tiers for models classified since, costs
    from list prices where the gateway logged none. One model, or all of them."""
    return {
        "tiered": catalog.backfill_tiers(model_id=model_id),
        "priced": catalog.price_unpriced_decisions(model_id=model_id),
    }
