"""The read/label API for people (notebooks, scripts): the same rows as the explorer, with the
same roles as the pages. One view per operation, each validating and calling the domain.

People sign in with a personal access token (``Authorization: Bearer rru_…``) or the browser
session (CSRF enforced on writes). Gateway keys (``rr_…``) are refused here: a gateway's
credential does not stand in for a person.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Prefetch
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from review import explorer, labels
from review.api import ERROR_SCHEMA
from review.api_auth import (
    KEY_QUERY_PARAMETERS,
    KeyInQueryString,
    bearer_token,
    carries_gateway_key,
)
from review.detection import Detector
from review.labels import VisibleLabels
from review.models import (
    Decision,
    Flag,
    FlagKind,
    Label,
    LabelEvent,
    Tier,
    UserToken,
    Verdict,
)

# What a credential looks like, to refuse one pasted into a URL without refusing a search for
# text that merely starts with "rr_".
CREDENTIAL_PATTERN = re.compile(r"^rru?_[0-9a-f]{8}_")
GATEWAY_KEY_REFUSED = (
    "gateway keys cannot read or label decisions; use a personal token "
    "(manage.py create_user_token USERNAME)"
)

ERRORS = {
    400: OpenApiResponse(ERROR_SCHEMA, description="A parameter or field is invalid; each named."),
    401: OpenApiResponse(ERROR_SCHEMA, description="No credentials, or an unknown/revoked token."),
    403: OpenApiResponse(
        ERROR_SCHEMA, description="A gateway key, or the user lacks the permission."
    ),
}


# --- Authentication and permissions -------------------------------------------------------------


class GatewayKeyRefused(exceptions.PermissionDenied):
    default_detail = GATEWAY_KEY_REFUSED
    default_code = "gateway_key_refused"


class UserTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer rru_…``: a person's token, acting with that person's
    permissions. Never the query string; never a gateway key."""

    def authenticate(self, request: Request) -> tuple[Any, UserToken] | None:
        for name in request.query_params:
            value = str(request.query_params.get(name, ""))
            if name.lower() in KEY_QUERY_PARAMETERS or CREDENTIAL_PATTERN.match(value):
                raise KeyInQueryString(
                    "tokens are refused in the query string (it ends up in logs); send "
                    "Authorization: Bearer <token>. Revoke the exposed token."
                )
        if carries_gateway_key(request):
            raise GatewayKeyRefused()
        presented = bearer_token(request)
        if not presented:
            return None
        token = UserToken.authenticate(presented)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("the token is unknown or revoked")
        token.note_use()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="routing-review"'


def has_permissions(*permissions: str) -> type[BasePermission]:
    """A permission class: the signed-in user holds every one of ``permissions``."""

    class HasPermissions(BasePermission):
        message = f"your role lacks {', '.join(permissions)}"

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            return bool(user is not None and user.is_authenticated and user.has_perms(permissions))

    return HasPermissions


class PeopleApiView(APIView):
    """Authenticated as a person, by token or session; allowed by the user's permissions."""

    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    required_permissions: tuple[str, ...] = ()

    def get_permissions(self) -> list[Any]:
        return [has_permissions(*self.required_permissions)()]

    def person(self, request: Request) -> User:
        if not isinstance(request.user, User):  # the permission has refused it already
            raise exceptions.NotAuthenticated()
        return request.user


class UserTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the personal access token."""

    target_class = UserTokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token `rru_…` (manage.py create_user_token). "
            "Gateway keys `rr_…` are refused.",
        }


# --- Output -------------------------------------------------------------------------------------


class FlagOutput(serializers.Serializer):
    kind = serializers.CharField()
    confidence = serializers.FloatField()
    dollars = serializers.DecimalField(max_digits=14, decimal_places=8)
    reasons = serializers.JSONField()
    detector_version = serializers.CharField()

    class Meta:
        ref_name = "Flag"  # the schema's component name


class LabelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    decision = serializers.IntegerField(source="decision_id")
    reviewer = serializers.CharField(source="reviewer.username")
    verdict = serializers.CharField()
    right_tier = serializers.CharField(source="right_tier.name", allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Label"  # the schema's component name


class DecisionOutput(serializers.Serializer):
    """A decision with its current flags and the labels the caller may see. Field names are
    those gateways post with."""

    id = serializers.IntegerField()
    event_id = serializers.CharField()
    gateway = serializers.CharField(source="gateway.name")
    occurred_at = serializers.DateTimeField()
    served_model = serializers.CharField(source="served_model.name")
    served_tier = serializers.CharField(source="served_tier.name", allow_null=True)
    requested_model = serializers.CharField()
    router_name = serializers.CharField()
    router_score = serializers.FloatField(allow_null=True)
    router_category = serializers.CharField()
    router_cause = serializers.CharField()
    router_tier = serializers.CharField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8, allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    error_type = serializers.CharField()
    user_feedback = serializers.IntegerField(allow_null=True)
    judge_score = serializers.FloatField(allow_null=True)
    retried = serializers.BooleanField(allow_null=True)
    escalated = serializers.BooleanField(allow_null=True)
    prompt_text = serializers.CharField()
    response_excerpt = serializers.CharField()
    flags = FlagOutput(source="current_flags", many=True)
    labels = serializers.SerializerMethodField()
    labels_hidden = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Decision"  # the schema's component name

    @extend_schema_field(LabelOutput(many=True))
    def get_labels(self, decision: Decision) -> Any:
        return LabelOutput(self._visible(decision).labels, many=True).data

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_labels_hidden(self, decision: Decision) -> bool:
        return self._visible(decision).hidden

    def _visible(self, decision: Decision) -> VisibleLabels:
        visible: dict[int, VisibleLabels] = self.context["visible"]
        return visible[decision.pk]


def visible_labels_of(decisions: list[Decision], user: Any) -> dict[int, VisibleLabels]:
    """Each decision's labels as ``user`` may see them, asking about review rounds once."""
    blind = (
        labels.blind_decision_ids(d.pk for d in decisions)
        if user.has_perm("review.add_label")
        else set()
    )
    return {d.pk: labels.visible_labels(d, user, blind_ids=blind) for d in decisions}


def field_errors(errors: Mapping[str, Any]) -> dict[str, str]:
    """Form or serializer errors as the API's ``fields``: one sentence per field."""
    return {
        name: "; ".join(str(message) for message in messages)
        if isinstance(messages, list)
        else str(messages)
        for name, messages in errors.items()
    }


def refuse_unknown(params: Mapping[str, Any], known: set[str]) -> None:
    """A misspelt filter would silently select everything; name it instead."""
    unknown = sorted(set(params) - known)
    if unknown:
        allowed = ", ".join(sorted(known))
        raise exceptions.ValidationError(
            {name: f"is not a parameter of this endpoint; use {allowed}" for name in unknown}
        )


def query_filters(request: Request, serializer: type[serializers.Serializer]) -> dict[str, Any]:
    """The query string's filters, checked by ``serializer``: an unknown or invalid parameter
    is refused by name."""
    refuse_unknown(request.query_params, set(serializer().fields))
    given = serializer(data=request.query_params)
    if not given.is_valid():
        raise exceptions.ValidationError(field_errors(given.errors))
    return dict(given.validated_data)


def keyset_page(name: str, results: serializers.Serializer) -> Any:
    """The schema of one keyset page: ``results``, and the URL of the ``next`` page or null."""
    return inline_serializer(
        name, {"results": results, "next": serializers.URLField(allow_null=True)}
    )


def next_url(request: Request, query: str) -> str:
    return request.build_absolute_uri(f"{request.path}?{query}")


# --- Decisions ----------------------------------------------------------------------------------


def _filter_parameters() -> list[OpenApiParameter]:
    parameters = []
    for name, form_field in explorer.FilterForm.base_fields.items():
        # A model choice field's choices are a query: none at import time (the tables may not
        # exist yet, as during the first migrate).
        fixed_choices = (
            [] if hasattr(form_field, "queryset") else getattr(form_field, "choices", [])
        )
        choices = [str(value) for value, _ in fixed_choices if value]
        description = str(form_field.help_text or form_field.label or name)
        if choices:
            description = f"{description} One of: {', '.join(choices)}."
        if name == "after":
            description = "The cursor from the previous page's `next`."
        kind = OpenApiTypes.INT if name == "limit" else OpenApiTypes.STR
        if name in ("since", "until"):
            kind = OpenApiTypes.DATETIME
        parameters.append(OpenApiParameter(name, kind, description=description))
    return parameters


class DecisionListApi(PeopleApiView):
    required_permissions = ("review.view_decision", "review.view_flag")

    @extend_schema(
        operation_id="list_decisions",
        summary="Decisions, filtered as in the explorer, one keyset page at a time",
        description=(
            "The explorer's query parameters select the same rows as the explorer page does, in "
            "the same order. `next` is the URL of the following page, or null on the last. "
            "Flags are the current detector version's. Under blind labelling (an open round "
            "with two labels per item), a reviewer who has not labelled a decision gets "
            "`labels: []` and `labels_hidden: true`."
        ),
        parameters=_filter_parameters(),
        responses={
            200: keyset_page("DecisionPage", DecisionOutput(many=True)),
            **ERRORS,
        },
        tags=["review"],
    )
    def get(self, request: Request) -> Response:
        refuse_unknown(request.query_params, set(explorer.FilterForm.base_fields))
        form = explorer.FilterForm(request.query_params)
        if not form.is_valid():
            raise exceptions.ValidationError(field_errors(form.errors))
        data = form.cleaned_data
        page = explorer.page(
            data,
            detector_version=Detector.current().version,
            blind=labels.blind_to(self.person(request)),
        )
        context = {"visible": visible_labels_of(page.decisions, request.user)}
        following = None
        if page.next_cursor:
            query = explorer.query_string(data, after=page.next_cursor, limit=data.get("limit"))
            following = next_url(request, query)
        return Response(
            {
                "results": DecisionOutput(page.decisions, many=True, context=context).data,
                "next": following,
            }
        )


class DecisionDetailApi(PeopleApiView):
    required_permissions = ("review.view_decision", "review.view_flag")

    class OutputSerializer(DecisionOutput):
        all_flags = FlagOutput(source="flags", many=True)

        class Meta:
            ref_name = "DecisionWithAllFlags"  # the schema's component name

    @extend_schema(
        operation_id="get_decision",
        summary="One decision, with its flags of every detector version",
        description=(
            "As in the list, plus `all_flags`: the flags of every detector version, newest "
            "first. Labels follow the same blind labelling rule."
        ),
        responses={200: OutputSerializer, **ERRORS, 404: ERROR_SCHEMA},
        tags=["review"],
    )
    def get(self, request: Request, pk: int) -> Response:
        version = Detector.current().version
        decision = (
            Decision.objects.select_related("gateway", "served_model", "served_tier")
            .prefetch_related(
                Prefetch(
                    "flags",
                    queryset=Flag.objects.filter(detector_version=version),
                    to_attr="current_flags",
                ),
                Prefetch("flags", queryset=Flag.objects.order_by("-created_at", "-pk")),
                Prefetch("labels", queryset=Label.objects.select_related("reviewer", "right_tier")),
            )
            .filter(pk=pk)
            .first()
        )
        if decision is None:
            raise exceptions.NotFound(f"no decision has id {pk}")
        context = {"visible": visible_labels_of([decision], request.user)}
        return Response(self.OutputSerializer(decision, context=context).data)


# --- Flags --------------------------------------------------------------------------------------


def flag_page(
    *,
    detector_version: str,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = explorer.PAGE_SIZE,
) -> tuple[list[Flag], int | None]:
    """One page of flags, newest id first, after the id ``after``; and the id to continue from,
    or None on the last page. ``since``/``until`` are on the decision's time."""
    found = Flag.objects.filter(detector_version=detector_version)
    if kind:
        found = found.filter(kind=kind)
    if since:
        found = found.filter(decision__occurred_at__gte=since)
    if until:
        found = found.filter(decision__occurred_at__lt=until)
    if after:
        found = found.filter(pk__lt=after)
    rows = list(found.select_related("decision__gateway").order_by("-pk")[: limit + 1])
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].pk
    return rows, None


class FlagListApi(PeopleApiView):
    required_permissions = ("review.view_flag",)

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=FlagKind.choices,
            required=False,
            error_messages={"invalid_choice": f"must be one of {', '.join(FlagKind.values)}"},
        )
        detector_version = serializers.CharField(
            required=False, max_length=40, help_text="Default: the current detector's version."
        )
        since = serializers.DateTimeField(required=False, help_text="Decisions from this time.")
        until = serializers.DateTimeField(required=False, help_text="Decisions before this time.")
        after = serializers.IntegerField(
            required=False, min_value=1, help_text="The flag id from the previous page's `next`."
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=explorer.MAX_PAGE_SIZE
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            since, until = attrs.get("since"), attrs.get("until")
            if since and until and since >= until:
                raise serializers.ValidationError({"until": "must be later than since"})
            return attrs

    class OutputSerializer(FlagOutput):
        id = serializers.IntegerField()
        decision = serializers.IntegerField(source="decision_id")
        event_id = serializers.CharField(source="decision.event_id")
        gateway = serializers.CharField(source="decision.gateway.name")
        occurred_at = serializers.DateTimeField(source="decision.occurred_at")
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "FlagOfDecision"  # the schema's component name

    @extend_schema(
        operation_id="list_flags",
        summary="Flags of one detector version, newest first, one keyset page at a time",
        parameters=[FilterSerializer],
        responses={
            200: keyset_page("FlagPage", OutputSerializer(many=True)),
            **ERRORS,
        },
        tags=["review"],
    )
    def get(self, request: Request) -> Response:
        data = query_filters(request, self.FilterSerializer)
        data.setdefault("detector_version", Detector.current().version)
        flags, last_id = flag_page(**data)
        following = None
        if last_id is not None:
            query = {**request.query_params.dict(), "after": str(last_id)}
            following = next_url(request, urlencode(query))
        return Response(
            {"results": self.OutputSerializer(flags, many=True).data, "next": following}
        )


# --- Labels -------------------------------------------------------------------------------------


class LabelApi(PeopleApiView):
    required_permissions = ("review.add_label",)
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        decision = serializers.PrimaryKeyRelatedField(
            queryset=Decision.objects.all(),
            error_messages={
                "does_not_exist": "no decision has id {pk_value}",
                "incorrect_type": "must be a decision id (an integer)",
            },
        )
        verdict = serializers.ChoiceField(
            choices=Verdict.choices,
            error_messages={"invalid_choice": f"must be one of {', '.join(Verdict.values)}"},
        )
        right_tier = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        note = serializers.CharField(required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "LabelInput"  # the schema's component name

        def validate_right_tier(self, value: str | None) -> Tier | None:
            if not value:
                return None
            tier = Tier.objects.filter(name=value).first()
            if tier is None:
                names = ", ".join(Tier.objects.values_list("name", flat=True))
                raise serializers.ValidationError(f"must be a tier name ({names}) or null")
            return tier

    @extend_schema(
        operation_id="label_decision",
        summary="Give or change your own label on a decision",
        description=(
            "Creates your label (201) or changes it (200; needs `review.change_label`). Every "
            "label given or changed is recorded in the audit trail with source `api`."
        ),
        request=InputSerializer,
        responses={201: LabelOutput, 200: LabelOutput, **ERRORS},
        tags=["review"],
    )
    def post(self, request: Request) -> Response:
        given = self.InputSerializer(data=request.data)
        if not given.is_valid():
            raise exceptions.ValidationError(field_errors(given.errors))
        data = given.validated_data
        user = self.person(request)
        try:
            label, created = labels.record_label(
                decision=data["decision"],
                reviewer=user,
                verdict=data["verdict"],
                right_tier=data.get("right_tier"),
                note=data.get("note") or "",
                source=LabelEvent.Source.API,
                may_change=user.has_perm("review.change_label"),
            )
        except labels.ChangeRefused:
            raise exceptions.PermissionDenied("your role lacks review.change_label") from None
        return Response(LabelOutput(label).data, status=201 if created else 200)
