from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from review import api, api_exports, api_people, policy_api, views

# Machine endpoints answer with or without a trailing slash: a redirect would lose a POST body.
api_patterns = [
    re_path(r"^api/v1/decisions/?$", api.DecisionIngestApi.as_view(), name="api-decisions"),
    re_path(r"^api/v1/outcomes/?$", api.OutcomeIngestApi.as_view(), name="api-outcomes"),
    re_path(r"^api/v1/ingest/litellm/?$", api.LiteLLMIngestApi.as_view(), name="api-litellm"),
    # OTLP/HTTP's standard path, so an exporter needs only this server's base URL.
    re_path(r"^v1/traces/?$", api.OtlpTracesApi.as_view(), name="otlp-traces"),
    re_path(r"^api/v1/policy/?$", policy_api.PolicyApi.as_view(), name="api-policy"),
    # The read/label API for people: personal tokens or the session, never gateway keys.
    re_path(
        r"^api/v1/review/decisions/?$",
        api_people.DecisionListApi.as_view(),
        name="api-review-decisions",
    ),
    re_path(
        r"^api/v1/review/decisions/(?P<pk>[0-9]+)/?$",
        api_people.DecisionDetailApi.as_view(),
        name="api-review-decision",
    ),
    re_path(r"^api/v1/review/flags/?$", api_people.FlagListApi.as_view(), name="api-review-flags"),
    re_path(r"^api/v1/review/labels/?$", api_people.LabelApi.as_view(), name="api-review-labels"),
    # Exports: people with the role make, list and cancel them; status and download also take
    # a gateway key with the export:read scope (a training pipeline's credential).
    re_path(r"^api/v1/exports/?$", api_exports.ExportsApi.as_view(), name="api-exports"),
    re_path(
        r"^api/v1/exports/(?P<pk>[0-9]+)/?$",
        api_exports.ExportStatusApi.as_view(),
        name="api-export",
    ),
    re_path(
        r"^api/v1/exports/(?P<pk>[0-9]+)/download/?$",
        api_exports.ExportDownloadApi.as_view(),
        name="api-export-download",
    ),
    re_path(
        r"^api/v1/exports/(?P<pk>[0-9]+)/cancel/?$",
        api_exports.ExportCancelApi.as_view(),
        name="api-export-cancel",
    ),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

urlpatterns = [
    *api_patterns,
    path("", include("review.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
