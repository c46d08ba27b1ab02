from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from review import tasks
from review.models import ApiKey, CatalogModel, Label


def _staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="correct horse battery", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def _issue_page(client, gateway):
    url = reverse("admin:review_gateway_issue_key", args=[gateway.pk])
    return url, client.get(url).context["form"].initial["nonce"]


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
    url, nonce = _issue_page(admin_client, gateway)
    form = {"name": "prod", "scopes": ["ingest", "policy:read"], "nonce": nonce}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    assert ApiKey.authenticate(plaintext).scopes == ["ingest", "policy:read"]
    secret = plaintext.split("_", 2)[2]
    for page in ("admin:review_apikey_changelist", "admin:review_gateway_changelist"):
        assert secret not in admin_client.get(reverse(page)).content.decode()
    change_page = admin_client.get(reverse("admin:review_gateway_change", args=[gateway.pk]))
    assert secret not in change_page.content.decode()
    entry = LogEntry.objects.get()
    assert entry.object_repr.startswith("rr_") and secret not in str(vars(entry))


def test_reloading_the_issued_key_page_does_not_issue_a_second_key(admin_client, gateway):
    url, nonce = _issue_page(admin_client, gateway)
    form = {"name": "prod", "scopes": ["ingest"], "nonce": nonce}
    admin_client.post(url, form)
    again = admin_client.post(url, form)
    assert "already used to issue a key" in again.content.decode()
    assert ApiKey.objects.count() == 1


def test_issuing_a_key_without_a_scope_is_refused_with_the_field_named(admin_client, gateway):
    url, nonce = _issue_page(admin_client, gateway)
    response = admin_client.post(url, {"name": "prod", "nonce": nonce})
    assert response.status_code == 200
    assert "scopes" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_editing_a_gateway_is_not_enough_to_issue_keys(client, gateway):
    client.force_login(_staff("gary", "view_gateway", "change_gateway"))
    url = reverse("admin:review_gateway_issue_key", args=[gateway.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "x", "scopes": ["ingest"], "nonce": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_revoking_keys_from_the_admin(admin_client, gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    admin_client.post(
        reverse("admin:review_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert ApiKey.authenticate(plaintext) is None


def test_viewing_keys_is_not_enough_to_revoke_them(client, gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    client.force_login(_staff("vera", "view_apikey"))
    client.post(
        reverse("admin:review_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert ApiKey.authenticate(plaintext) == key


def test_a_revoked_key_cannot_be_switched_back_on_in_the_admin(admin_client, gateway):
    key, plaintext = ApiKey.issue(gateway=gateway, scopes=["ingest"])
    key.revoke()
    url = reverse("admin:review_apikey_change", args=[key.pk])
    admin_client.post(url, {"name": "renamed", "revoked_at_0": "", "revoked_at_1": ""})
    key.refresh_from_db()
    assert key.name == "renamed"
    assert key.revoked_at is not None
    assert ApiKey.authenticate(plaintext) is None
    assert admin_client.get(reverse("admin:review_apikey_delete", args=[key.pk])).status_code == 403


def test_a_label_added_in_the_admin_is_its_authors(
    admin_client, admin_user, reviewer, make_decision
):
    decision = make_decision()
    response = admin_client.post(
        reverse("admin:review_label_add"),
        {"decision": decision.pk, "reviewer": reviewer.pk, "verdict": "correct", "note": ""},
    )
    assert response.status_code == 302
    assert Label.objects.get().reviewer == admin_user


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
    admin_client, make_decision, tiers, django_capture_on_commit_callbacks
):
    decision = make_decision("acme-internal-13b")
    model = decision.served_model
    url = reverse("admin:review_catalogmodel_change", args=[model.pk])
    form = {
        "name": model.name,
        "provider": "acme",
        "tier": tiers["medium"].pk,
        "input_price_per_mtok": "0.2",
        "output_price_per_mtok": "0.4",
        "source": "ingest",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        assert admin_client.post(url, form).status_code == 302
    # The request only enqueues; the task (called here as the worker would) does the update.
    assert [c.keywords for c in callbacks] == [{"model_id": model.pk}]
    assert tasks.sweep_catalog(model_id=model.pk) == {"tiered": 1, "priced": 1}
    decision.refresh_from_db()
    assert decision.served_tier == tiers["medium"]
    assert decision.cost_usd == Decimal("0.00028")  # 1000 × $0.2/M + 200 × $0.4/M
