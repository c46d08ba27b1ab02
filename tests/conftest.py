"""Personas and builders shared by the tests.

Personas: ``admin_user`` (Ada, superuser), ``reviewer`` (Rita); ``gateway`` is the prod proxy.
``tiers`` loads the shipped catalog, so tests price calls with the real list prices.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client

from review import catalog, roles
from review.models import ApiKey, Decision, Gateway, Tier

_event_numbers = count(1)


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    # The manifest storage needs collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def tiers(db: None) -> dict[str, Tier]:
    catalog.load_catalog(data=catalog.read_catalog_file())
    return {tier.name: tier for tier in Tier.objects.all()}


@pytest.fixture
def gateway(db: None) -> Gateway:
    return Gateway.objects.create(name="prod-proxy", description="LiteLLM proxy")


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_superuser("ada", "ada@example.com", "correct horse battery")


@pytest.fixture
def reviewer(db: None) -> User:
    """Rita, in the reviewer role."""
    roles.ensure_roles()
    rita = User.objects.create_user("rita", "rita@example.com", "correct horse battery")
    rita.groups.add(Group.objects.get(name=roles.REVIEWER))
    return rita


@pytest.fixture
def make_decision(gateway: Gateway, tiers: dict[str, Tier]) -> Callable[..., Decision]:
    """Build and save a decision served by a catalog model; any field can be overridden."""

    def build(model_name: str = "gpt-4o-mini", **fields: Any) -> Decision:
        model = catalog.resolve_model(model_name)
        values: dict[str, Any] = {
            "gateway": gateway,
            "event_id": f"evt-{next(_event_numbers)}",
            "occurred_at": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
            "served_model": model,
            "served_model_name": model_name,
            "served_tier": model.tier,
            "input_tokens": 1000,
            "output_tokens": 200,
            "prompt_text": "What are your support hours?",
        }
        values.update(fields)
        return Decision.objects.create(**values)

    return build


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    # The throttle counts in the shared cache (Redis in tests); each test starts from zero.
    cache.clear()


@pytest.fixture
def ingest_key(gateway: Gateway) -> str:
    """The prod proxy's key with the ingest scope, as the gateway would send it."""
    return ApiKey.issue(gateway=gateway, scopes=["ingest"], name="prod")[1]


@pytest.fixture
def gateway_client(ingest_key: str, tiers: dict[str, Tier]) -> Client:
    """A client that posts as the prod proxy, with CSRF checks on as for a browser."""
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {ingest_key}"})


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup: None, django_db_blocker: Any) -> Any:
    """Threads of the live server and of the concurrency tests keep connections open; end them
    before the test database is dropped, or it cannot be."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
