from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from review import catalog
from review.models import CatalogModel, Decision, ModelAlias, Tier


def _snapshot() -> list[dict]:
    rows = [row for model in (Tier, CatalogModel, ModelAlias) for row in model.objects.values()]
    return sorted(rows, key=repr)


def test_loading_the_catalog_twice_changes_nothing(db):
    data = catalog.read_catalog_file()
    first = catalog.load_catalog(data=data)
    assert first.created["tiers"] == len(data["tiers"])
    assert first.created["models"] == len(data["models"])
    before = _snapshot()
    second = catalog.load_catalog(data=data)
    assert not second.changed_anything
    assert _snapshot() == before


def test_the_command_reports_what_it_created(db):
    out = StringIO()
    call_command("load_catalog", stdout=out)
    call_command("load_catalog", stdout=out)
    first, second = out.getvalue().splitlines()[:2]
    assert "created 4 tiers" in first
    assert "created 0 tiers, 0 models, 0 aliases; 0 prices updated" in second


def test_prices_edited_in_the_admin_survive_a_reload_unless_asked(tiers):
    model = CatalogModel.objects.get(name="gpt-4o")
    model.input_price_per_mtok = Decimal("1.99")
    model.save()
    catalog.load_catalog(data=catalog.read_catalog_file())
    model.refresh_from_db()
    assert model.input_price_per_mtok == Decimal("1.99")
    report = catalog.load_catalog(data=catalog.read_catalog_file(), update_prices=True)
    model.refresh_from_db()
    assert model.input_price_per_mtok == Decimal("2.50")
    assert report.prices_updated == ["gpt-4o"]


def test_names_resolve_by_name_alias_and_without_provider_prefix(tiers):
    assert catalog.resolve_model("gpt-4o-mini").name == "gpt-4o-mini"
    assert catalog.resolve_model("claude-sonnet-4-5-20250929").name == "claude-sonnet-4-5"
    assert catalog.resolve_model("openrouter/gpt-4.1").name == "gpt-4.1"
    assert catalog.resolve_model("azure/gpt-4o").tier == tiers["large"]


def test_an_unknown_model_is_created_unclassified(tiers):
    model = catalog.resolve_model("acme-internal-13b")
    assert model.is_unclassified
    assert model.source == CatalogModel.Source.INGEST
    assert catalog.resolve_model("acme-internal-13b") == model


def test_classifying_a_model_gives_its_earlier_decisions_the_tier(make_decision, tiers):
    decision = make_decision("acme-internal-13b")
    assert decision.served_tier is None
    updated = catalog.classify(model=decision.served_model, tier=tiers["small"])
    decision.refresh_from_db()
    assert updated == 1
    assert decision.served_tier == tiers["small"]


def test_the_catalog_classifies_a_model_first_seen_in_logs(make_decision, tiers):
    CatalogModel.objects.filter(name="o3").delete()
    decision = make_decision("o3")
    assert decision.served_model.is_unclassified
    report = catalog.load_catalog(data=catalog.read_catalog_file())
    decision.refresh_from_db()
    assert report.classified == ["o3"]
    assert decision.served_tier == tiers["reasoning"]
    assert decision.served_model.input_price_per_mtok == Decimal("2.00")


def test_unpriced_decisions_are_priced_from_the_catalog(make_decision):
    logged = make_decision(cost_usd=Decimal("0.5"), cost_source=Decision.CostSource.LOGGED)
    unpriced = make_decision("gpt-4o", input_tokens=10_000, output_tokens=1_000)
    unknown = make_decision("acme-internal-13b")
    assert catalog.price_unpriced_decisions() == 1
    for row in (logged, unpriced, unknown):
        row.refresh_from_db()
    assert unpriced.cost_usd == Decimal("0.035")  # 10k × $2.50/M + 1k × $10/M
    assert unpriced.cost_source == Decision.CostSource.CATALOG
    assert logged.cost_usd == Decimal("0.5")
    assert unknown.cost_usd is None


def test_a_name_seen_in_logs_before_the_catalog_knew_it_joins_its_model(make_decision, tiers):
    ModelAlias.objects.filter(alias="gpt-4o-mini-2024-07-18").delete()
    logged_first = make_decision("gpt-4o-mini-2024-07-18")
    assert logged_first.served_model.name == "gpt-4o-mini-2024-07-18"
    report = catalog.load_catalog(data=catalog.read_catalog_file())
    logged_first.refresh_from_db()
    assert report.merged == ["gpt-4o-mini-2024-07-18"]
    assert logged_first.served_model.name == "gpt-4o-mini"
    assert logged_first.served_tier == tiers["small"]
    assert catalog.resolve_model("gpt-4o-mini-2024-07-18").name == "gpt-4o-mini"


def test_decisions_stored_without_a_tier_get_their_models_tier(make_decision, tiers):
    # Resolved while the model was unclassified, inserted after it was classified.
    decision = make_decision("gpt-4.1", served_tier=None)
    assert catalog.backfill_tiers() == 1
    decision.refresh_from_db()
    assert decision.served_tier == tiers["large"]
    assert catalog.backfill_tiers() == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ('{"tiers": []}', "needs the keys prices_as_of, tiers and models"),
        (
            '{"prices_as_of": "x", "tiers": [{"name": "small", "rank": 0}], "models": '
            '[{"name": "m", "provider": "p", "tier": "huge", "input_price_per_mtok": "1", '
            '"output_price_per_mtok": "1", "aliases": []}]}',
            "model 'm': unknown tier 'huge'",
        ),
    ],
)
def test_a_bad_catalog_file_is_a_clear_error(db, tmp_path: Path, content, reason):
    path = tmp_path / "catalog.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CommandError, match=f"--file: .*{reason}"):
        call_command("load_catalog", "--file", str(path), stdout=StringIO())
    assert not Tier.objects.exists()
