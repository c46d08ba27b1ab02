import hmac
import secrets
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from review import tasks
from review.forms import IssueKeyForm
from review.models import (
    ApiKey,
    CatalogModel,
    Decision,
    DetectorSettings,
    Flag,
    Gateway,
    Label,
    ModelAlias,
    Tier,
    UserToken,
)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("__str__", "name", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are issued through the "Issue API key" page, which shows them once


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "created_at", "issue_key_link")
    search_fields = ("name",)
    inlines = [ApiKeyInline]

    def get_urls(self) -> list[URLPattern]:
        issue = path(
            "<int:gateway_id>/issue-key/",
            self.admin_site.admin_view(self.issue_key_view),
            name="review_gateway_issue_key",
        )
        return [issue, *super().get_urls()]

    @admin.display(description="API key")
    def issue_key_link(self, gateway: Gateway) -> str:
        url = reverse("admin:review_gateway_issue_key", args=[gateway.pk])
        return format_html('<a href="{}">Issue API key</a>', url)

    def issue_key_view(self, request: HttpRequest, gateway_id: int) -> HttpResponse:
        gateway = get_object_or_404(Gateway, pk=gateway_id)
        if not request.user.has_perm("review.add_apikey"):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "gateway": gateway, "opts": self.opts}
        template = "admin/review/gateway/issue_key.html"
        nonce_key = f"issue-key-nonce-{gateway.pk}"
        if request.method == "POST":
            form = IssueKeyForm(request.POST)
            if not form.is_valid():
                return render(request, template, {**context, "form": form})
            expected = request.session.pop(nonce_key, "")
            if expected and hmac.compare_digest(expected, form.cleaned_data["nonce"]):
                return self._issue_key(request, gateway, form, context)
            context["notice"] = (
                "That form was already used to issue a key, which cannot be shown again. "
                "Issue another one here if you need it."
            )
        nonce = secrets.token_urlsafe(16)
        request.session[nonce_key] = nonce
        form = IssueKeyForm(initial={"nonce": nonce})
        return render(request, template, {**context, "form": form})

    def _issue_key(
        self, request: HttpRequest, gateway: Gateway, form: IssueKeyForm, context: dict[str, Any]
    ) -> HttpResponse:
        user = request.user if request.user.is_authenticated else None
        key, plaintext = ApiKey.issue(
            gateway=gateway,
            scopes=form.cleaned_data["scopes"],
            name=form.cleaned_data["name"],
            created_by=user,
        )
        # The log names the key by its prefix only (``rr_<prefix>_…``).
        self.log_addition(request, key, [{"added": {"object": str(key)}}])
        # Rendered straight into this response and never stored: it cannot be shown again.
        response = render(
            request,
            "admin/review/gateway/key_issued.html",
            {**context, "key": key, "plaintext": plaintext},
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "gateway",
        "name",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("gateway", ("revoked_at", admin.EmptyFieldListFilter))
    # Only the name may change; a revoked key stays revoked.
    readonly_fields = (
        "gateway",
        "prefix",
        "scopes",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    fields = (
        "gateway",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps who had access, and until when

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            key.revoke()
            self.log_change(request, key, "Revoked.")
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("name", "rank", "description")
    ordering = ("rank",)


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 1


class UnclassifiedFilter(admin.SimpleListFilter):
    title = "classification"
    parameter_name = "classified"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Unclassified"), ("yes", "Has a tier")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(tier__isnull=self.value() == "no")
        return queryset


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "provider",
        "tier",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "source",
    )
    list_editable = ("tier", "input_price_per_mtok", "output_price_per_mtok")
    list_filter = (UnclassifiedFilter, "tier", "provider", "source")
    search_fields = ("name", "aliases__alias")
    inlines = [ModelAliasInline]

    def save_model(self, request: HttpRequest, obj: CatalogModel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"tier", "input_price_per_mtok", "output_price_per_mtok"} & set(
            form.changed_data
        ):
            # Earlier traffic gets the new tier and prices in the background, not in this request.
            transaction.on_commit(partial(tasks.sweep_catalog.delay, model_id=obj.pk))


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are what gateways said happened."""

    list_display = (
        "occurred_at",
        "gateway",
        "served_model",
        "served_tier",
        "router_category",
        "cost_usd",
        "latency_ms",
        "status",
    )
    list_filter = (
        "served_tier",
        "status",
        "error_type",
        "gateway",
        # Decisions the pipeline gave up on, with processing_error saying why.
        ("processing_failed_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("gateway", "served_model", "served_tier")
    search_fields = ("=event_id", "=trace_id")  # exact: a substring scan of the table is slow
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # a count(*) per page load is slow on a large table

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("decision", "reviewer", "verdict", "right_tier", "created_at")
    list_filter = ("verdict", "right_tier", "reviewer")
    raw_id_fields = ("decision",)
    readonly_fields = ("reviewer", "created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Label, form: Any, change: bool) -> None:
        if not change:
            obj.reviewer = request.user  # type: ignore[assignment]  # a label is its author's
        super().save_model(request, obj, form, change)


@admin.register(DetectorSettings)
class DetectorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tier_boundaries", "min_confidence", "router_weight", "updated_at")
    readonly_fields = ("revision", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DetectorSettings.objects.exists()  # one row

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: DetectorSettings, form: Any, change: bool
    ) -> None:
        if change and form.changed_data:
            # New thresholds make a new detector version; earlier flags keep naming theirs.
            obj.revision += 1
        super().save_model(request, obj, form, change)


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    """Read-only: flags are what the detector said."""

    list_display = ("decision", "kind", "confidence", "dollars", "detector_version", "created_at")
    list_filter = ("kind", "detector_version")
    list_select_related = ("decision",)
    raw_id_fields = ("decision",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    """Personal access tokens are issued with ``manage.py create_user_token`` (shown once); here
    they are listed and revoked. The secret's hash is never shown."""

    list_display = ("__str__", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("=prefix", "user__username")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    # Only the name may change; a revoked token stays revoked.
    readonly_fields = ("user", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps who had access, and until when

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[UserToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            token.revoke()
            self.log_change(request, token, "Revoked.")
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)
