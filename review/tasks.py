"""Celery tasks: thin wrappers that call the domain. Retries and limits are declared here."""

from celery import shared_task

from review import catalog


@shared_task(time_limit=15 * 60, soft_time_limit=14 * 60)
def price_unpriced_decisions() -> int:
    return catalog.price_unpriced_decisions()
