from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from review import api, views

# Machine endpoints answer with or without a trailing slash: a redirect would lose a POST body.
api_patterns = [
    re_path(r"^api/v1/decisions/?$", api.DecisionIngestApi.as_view(), name="api-decisions"),
    re_path(r"^api/v1/outcomes/?$", api.OutcomeIngestApi.as_view(), name="api-outcomes"),
    re_path(r"^api/v1/ingest/litellm/?$", api.LiteLLMIngestApi.as_view(), name="api-litellm"),
    # OTLP/HTTP's standard path, so an exporter needs only this server's base URL.
    re_path(r"^v1/traces/?$", api.OtlpTracesApi.as_view(), name="otlp-traces"),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

urlpatterns = [
    *api_patterns,
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
