"""``GET /api/v1/policy``: the active routing policy, for gateways with the ``policy:read`` scope.

Gateways poll it; the ETag lets them do so for free (``If-None-Match`` → 304)."""

import hashlib
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from review import policy, policy_render
from review.api import ERROR_SCHEMA
from review.api_auth import GatewayKeyAuthentication, GatewayKeyThrottle, has_scope
from review.models import Scope

FORMATS = ("json", "litellm", "routellm")


class NoActivePolicy(exceptions.NotFound):
    default_detail = "no policy version is active yet"
    default_code = "no_active_policy"


class PolicyApi(APIView):
    authentication_classes = [GatewayKeyAuthentication]
    permission_classes = [has_scope(Scope.POLICY_READ)]
    throttle_classes = [GatewayKeyThrottle]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``format`` names the policy's rendering here, not a DRF renderer: always JSON out
        # (the YAML rendering is returned as a plain response).
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        summary="The active routing policy",
        description=(
            "`format=json` (default): the rules and the model of each tier. `format=litellm`: a "
            "LiteLLM proxy config fragment (YAML) for its complexity router; `model.<tier>=<name>` "
            "overrides a tier's model. `format=routellm`: the RouteLLM threshold between `weak` "
            "and `strong` tiers (default: the two cheapest), for `router` (default `mf`). Send "
            "the ETag back as If-None-Match: 304 while nothing changed."
        ),
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS)),
            OpenApiParameter("router", OpenApiTypes.STR),
            OpenApiParameter("weak", OpenApiTypes.STR),
            OpenApiParameter("strong", OpenApiTypes.STR),
        ],
        responses={
            200: OpenApiResponse(description="The policy in the asked format."),
            304: OpenApiResponse(description="Unchanged since the ETag sent."),
            400: OpenApiResponse(ERROR_SCHEMA, description="An unknown format or tier."),
            401: OpenApiResponse(ERROR_SCHEMA, description="No key, or an unknown one."),
            403: OpenApiResponse(ERROR_SCHEMA, description="The key lacks policy:read."),
            404: OpenApiResponse(ERROR_SCHEMA, description="No policy is active yet."),
        },
    )
    def get(self, request: Request) -> Any:
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise exceptions.ValidationError({"format": f"must be one of {', '.join(FORMATS)}"})
        version = policy.active()
        if version is None:
            raise NoActivePolicy()
        models = {
            key.removeprefix("model."): str(value)
            for key, value in request.query_params.items()
            if key.startswith("model.") and value
        }
        try:
            if fmt == "litellm":
                body = policy_render.as_litellm(version, models=models).encode()
                content_type = "application/yaml"
            else:
                payload = (
                    policy_render.as_routellm(
                        version,
                        router=request.query_params.get("router", "mf"),
                        weak=request.query_params.get("weak"),
                        strong=request.query_params.get("strong"),
                        models=models,
                    )
                    if fmt == "routellm"
                    else policy_render.as_json(version)
                )
                body, content_type = JSONRenderer().render(payload), "application/json"
        except policy_render.NotRenderable as error:
            raise exceptions.ValidationError({"format": str(error)}) from error
        # The tag is the rendering's: a tier's model taken from recent traffic can change what
        # a gateway gets without a new version.
        tag = policy.etag(version, variant=hashlib.sha256(body).hexdigest())
        if tag in _tags(request.headers.get("If-None-Match", "")):
            return HttpResponse(status=304, headers={"ETag": tag})
        response = HttpResponse(body, content_type=content_type)
        response["ETag"] = tag
        response["Cache-Control"] = "no-cache"  # revalidate every time; 304 makes it cheap
        return response


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
