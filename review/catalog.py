"""The model catalog: loading the shipped list, resolving logged names, pricing calls."""

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypedDict, cast

from django.db import IntegrityError, transaction

from review import rollups
from review.models import CatalogModel, Decision, ModelAlias, Tier

CATALOG_FILE = Path(__file__).resolve().parent / "data" / "catalog.json"


class TierEntry(TypedDict):
    name: str
    rank: int
    description: str


class ModelEntry(TypedDict):
    name: str
    provider: str
    tier: str
    input_price_per_mtok: str
    output_price_per_mtok: str
    aliases: list[str]


class CatalogFile(TypedDict):
    prices_as_of: str
    tiers: list[TierEntry]
    models: list[ModelEntry]


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=lambda: {"tiers": 0, "models": 0, "aliases": 0})
    classified: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    prices_updated: list[str] = field(default_factory=list)
    alias_conflicts: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(
            any(self.created.values()) or self.classified or self.prices_updated or self.merged
        )


def read_catalog_file(path: Path = CATALOG_FILE) -> CatalogFile:
    """The catalog file's content; ``ValueError`` names what is missing or malformed."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from error
    if not isinstance(data, dict) or not all(
        k in data for k in ("prices_as_of", "tiers", "models")
    ):
        raise ValueError(f"{path} needs the keys prices_as_of, tiers and models")
    tier_names = {tier.get("name") for tier in data["tiers"]}
    for index, model in enumerate(data["models"]):
        missing = [key for key in ModelEntry.__annotations__ if key not in model]
        if missing:
            raise ValueError(f"models[{index}] lacks {', '.join(missing)}")
        if model["tier"] not in tier_names:
            raise ValueError(f"model {model['name']!r}: unknown tier {model['tier']!r}")
    return cast(CatalogFile, data)


@transaction.atomic
def load_catalog(*, data: CatalogFile, update_prices: bool = False) -> LoadReport:
    """Create the catalog's tiers, models and aliases that are missing.

    Existing rows keep their prices (they may have been edited in the admin) unless
    ``update_prices``; models that arrived in logs as unclassified get the catalog's tier.
    Running it again with the same data changes nothing.
    """
    report = LoadReport()
    tiers: dict[str, Tier] = {}
    for entry in data["tiers"]:
        tier, created = Tier.objects.get_or_create(
            name=entry["name"],
            defaults={"rank": entry["rank"], "description": entry.get("description", "")},
        )
        tiers[tier.name] = tier
        report.created["tiers"] += int(created)

    for model_entry in data["models"]:
        tier = tiers[model_entry["tier"]]
        input_price = Decimal(model_entry["input_price_per_mtok"])
        output_price = Decimal(model_entry["output_price_per_mtok"])
        model, created = CatalogModel.objects.get_or_create(
            name=model_entry["name"],
            defaults={
                "provider": model_entry["provider"],
                "tier": tier,
                "input_price_per_mtok": input_price,
                "output_price_per_mtok": output_price,
                "source": CatalogModel.Source.CATALOG,
            },
        )
        report.created["models"] += int(created)
        if not created:
            if model.is_unclassified:
                classify(model=model, tier=tier)
                report.classified.append(model.name)
            if not model.is_priced or (
                update_prices
                and (model.input_price_per_mtok, model.output_price_per_mtok)
                != (input_price, output_price)
            ):
                model.input_price_per_mtok = input_price
                model.output_price_per_mtok = output_price
                model.save(update_fields=["input_price_per_mtok", "output_price_per_mtok"])
                report.prices_updated.append(model.name)
        for alias in model_entry.get("aliases", []):
            _add_alias(alias=alias, model=model, report=report)
    return report


def _add_alias(*, alias: str, model: CatalogModel, report: LoadReport) -> None:
    same_name = CatalogModel.objects.filter(name=alias).first()
    if same_name is not None and same_name.source == CatalogModel.Source.INGEST:
        # Logged before the catalog knew the alias: its traffic belongs to this model.
        merge_into(source=same_name, target=model)
        report.merged.append(alias)
    elif same_name is not None:
        report.alias_conflicts.append(alias)  # a model of that name was made on purpose
        return
    existing = ModelAlias.objects.filter(alias=alias).first()
    if existing is None:
        ModelAlias.objects.create(alias=alias, model=model)
        report.created["aliases"] += 1
    elif existing.model_id != model.pk:
        report.alias_conflicts.append(alias)


def resolve_model(name: str) -> CatalogModel:
    """The catalog entry for a model name as logged: by name, then alias, then without the
    provider prefix (``openai/gpt-4o`` → ``gpt-4o``). Unknown names become unclassified models."""
    name = name.strip()
    found = _lookup(name)
    if found is None and "/" in name:
        found = _lookup(name.rsplit("/", 1)[1])
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return CatalogModel.objects.create(name=name, source=CatalogModel.Source.INGEST)
    except IntegrityError:
        # Another request created it between our lookup and insert.
        return CatalogModel.objects.get(name=name)


def _lookup(name: str) -> CatalogModel | None:
    model = CatalogModel.objects.select_related("tier").filter(name=name).first()
    if model is not None:
        return model
    alias = ModelAlias.objects.select_related("model__tier").filter(alias=name).first()
    return alias.model if alias is not None else None


def classify(*, model: CatalogModel, tier: Tier) -> int:
    """Give an unclassified model its tier, and its earlier decisions too. Returns how many
    decisions were updated."""
    model.tier = tier
    model.save(update_fields=["tier", "updated_at"])
    return backfill_tiers(model_id=model.pk)


def merge_into(*, source: CatalogModel, target: CatalogModel) -> int:
    """Move ``source``'s decisions to ``target`` (with its tier) and delete ``source``."""
    moving = Decision.objects.filter(served_model=source)
    rollups.note_queryset(moving)  # the dashboard's rollups of those days are rebuilt
    moved = moving.update(served_model=target, served_tier=target.tier)
    source.delete()
    return moved


def backfill_tiers(*, model_id: int | None = None) -> int:
    """Give decisions stored without a tier the tier their model has now.

    A decision whose model was classified between its lookup and its insert is caught here too.
    Returns how many decisions were updated.
    """
    models = CatalogModel.objects.filter(tier__isnull=False)
    if model_id is not None:
        models = models.filter(pk=model_id)
    updated = 0
    for model in models.filter(
        pk__in=Decision.objects.filter(served_tier__isnull=True).values("served_model")
    ):
        untiered = Decision.objects.filter(served_model=model, served_tier__isnull=True)
        rollups.note_queryset(untiered)  # the dashboard's rollups of those days are rebuilt
        updated += untiered.update(served_tier=model.tier_id)
    return updated


def price_unpriced_decisions(*, model_id: int | None = None, batch_size: int = 5000) -> int:
    """Fill in the cost of decisions logged without one, from catalog prices and their tokens.

    Returns how many decisions were priced. Decisions of unpriced models or without token counts
    stay unpriced until that changes.
    """
    priced = 0
    models = CatalogModel.objects.filter(
        input_price_per_mtok__isnull=False, output_price_per_mtok__isnull=False
    )
    if model_id is not None:
        models = models.filter(pk=model_id)
    for model in models:
        while True:
            batch = list(
                Decision.objects.filter(
                    served_model=model,
                    cost_usd__isnull=True,
                    input_tokens__isnull=False,
                    output_tokens__isnull=False,
                ).only("pk", "occurred_at", "input_tokens", "output_tokens")[:batch_size]
            )
            if not batch:
                break
            for decision in batch:
                decision.cost_usd = model.cost_of(
                    input_tokens=decision.input_tokens or 0,
                    output_tokens=decision.output_tokens or 0,
                )
                decision.cost_source = Decision.CostSource.CATALOG
            Decision.objects.bulk_update(batch, ["cost_usd", "cost_source"])
            rollups.note_days(rollups.utc_day(decision.occurred_at) for decision in batch)
            priced += len(batch)
    return priced
