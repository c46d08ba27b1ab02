from decimal import Decimal

import pytest
from django.urls import reverse

from review.models import ApiKey, CatalogModel


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    "name",
    [
        "admin:review_gateway_changelist",
        "admin:review_apikey_changelist",
        "admin:review_tier_changelist",
        "admin:review_catalogmodel_changelist",
        "admin:review_decision_changelist",
        "admin:review_label_changelist",
    ],
)
def test_admin_lists_open(admin_client, make_decision, name):
    make_decision()
    assert admin_client.get(reverse(name)).status_code == 200


def test_issuing_a_key_in_the_admin_shows_it_once(admin_client, gateway):
    url = reverse("admin:review_gateway_issue_key", args=[gateway.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"name": "prod", "scopes": ["ingest", "policy:read"]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    assert ApiKey.authenticate(plaintext).scopes == ["ingest", "policy:read"]
    change_page = admin_client.get(reverse("admin:review_gateway_change", args=[gateway.pk]))
    key_list = admin_client.get(reverse("admin:review_apikey_changelist"))
    secret = plaintext.split("_", 2)[2]
    assert secret not in change_page.content.decode()
    assert secret not in key_list.content.decode()


def test_issuing_a_key_without_a_scope_is_refused_with_the_field_named(admin_client, gateway):
    url = reverse("admin:review_gateway_issue_key", args=[gateway.pk])
    response = admin_client.post(url, {"name": "prod"})
    assert response.status_code == 200
    assert "scopes" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_revoking_keys_from_the_admin(admin_client, gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    admin_client.post(
        reverse("admin:review_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert ApiKey.authenticate(plaintext) is None


def test_decisions_are_read_only_in_the_admin(admin_client, make_decision):
    decision = make_decision()
    page = admin_client.get(reverse("admin:review_decision_change", args=[decision.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.get(reverse("admin:review_decision_add")).status_code == 403


def test_prices_are_edited_in_the_catalog_list(admin_client, tiers):
    model = CatalogModel.objects.get(name="gpt-4o-mini")
    changelist = reverse("admin:review_catalogmodel_changelist")
    rows = list(CatalogModel.objects.order_by("tier__rank", "name"))
    form = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "_save": "Save",
    }
    for i, row in enumerate(rows):
        form[f"form-{i}-id"] = str(row.pk)
        form[f"form-{i}-tier"] = str(row.tier_id or "")
        form[f"form-{i}-input_price_per_mtok"] = str(row.input_price_per_mtok)
        form[f"form-{i}-output_price_per_mtok"] = str(row.output_price_per_mtok)
        if row == model:
            form[f"form-{i}-input_price_per_mtok"] = "0.1200"
    response = admin_client.post(changelist, form)
    assert response.status_code == 302, response.context["cl"].formset.errors
    model.refresh_from_db()
    assert model.input_price_per_mtok == Decimal("0.12")


def test_assigning_a_tier_in_the_admin_classifies_earlier_traffic(
    admin_client, make_decision, tiers
):
    decision = make_decision("acme-internal-13b")
    model = decision.served_model
    url = reverse("admin:review_catalogmodel_change", args=[model.pk])
    response = admin_client.post(
        url,
        {
            "name": model.name,
            "provider": "acme",
            "tier": tiers["medium"].pk,
            "input_price_per_mtok": "0.2",
            "output_price_per_mtok": "0.4",
            "source": "ingest",
            "aliases-TOTAL_FORMS": "0",
            "aliases-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    decision.refresh_from_db()
    assert decision.served_tier == tiers["medium"]
