"""The exports API: make an export from the explorer's filters, list exports, read one's status,
download its file, cancel it. One view per operation, each validating and calling
``review.exports.jobs``.

People authenticate as for the review API (a personal token ``rru_…`` or the session) and act
with their role. A gateway key (``rr_…``) with the ``export:read`` scope may read an export's
status and download its file, and nothing else: that is what a training pipeline needs.
"""

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from review.api import ERROR_SCHEMA
from review.api_auth import GatewayKeyAuthentication, GatewayKeyThrottle, carries_gateway_key
from review.api_people import (
    UserTokenAuthentication,
    field_errors,
    has_permissions,
    keyset_page,
    next_url,
    query_filters,
    refuse_unknown,
)
from review.exports import formats, jobs
from review.exports.records import InvalidExport
from review.models import ApiKey, Export, Scope

KEY_REFUSED = (
    "a gateway key may only read an export's status and download its file; use a personal "
    "token (manage.py create_user_token USERNAME) for the rest"
)
PAGE_SIZE = 50

ERRORS = {
    400: OpenApiResponse(ERROR_SCHEMA, description="A field is invalid; each is named."),
    401: OpenApiResponse(ERROR_SCHEMA, description="No credentials, or an unknown/revoked one."),
    403: OpenApiResponse(
        ERROR_SCHEMA, description="The role lacks the permission, or the key the scope."
    ),
}


# --- Authentication and permissions -------------------------------------------------------------


class PersonOrGatewayKey(BaseAuthentication):
    """A personal token, or a gateway key: whichever the request carries. The permission then
    decides what each may do here."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if carries_gateway_key(request):
            return GatewayKeyAuthentication().authenticate(request)
        return UserTokenAuthentication().authenticate(request)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="routing-review"'


def allowed(*permissions: str, key_scope: str | None = None) -> type[BasePermission]:
    """A person holding every one of ``permissions``; or, if ``key_scope`` is given, a gateway
    key with that scope."""

    class Allowed(has_permissions(*permissions)):  # type: ignore[misc]  # made per call
        def has_permission(self, request: Request, view: Any) -> bool:
            if isinstance(request.auth, ApiKey):
                if key_scope is None:
                    self.message = KEY_REFUSED
                    return False
                self.message = f"this API key lacks the {key_scope!r} scope"
                return request.auth.has_scope(key_scope)
            return bool(super().has_permission(request, view))

    return Allowed


class ExportApiView(APIView):
    authentication_classes = [PersonOrGatewayKey, SessionAuthentication]
    # Counts gateway keys' requests only (people are not throttled elsewhere either).
    throttle_classes = [GatewayKeyThrottle]
    permissions: tuple[str, ...] = ("review.view_export",)
    key_scope: str | None = None

    def get_permissions(self) -> list[Any]:
        return [allowed(*self.permissions, key_scope=self.key_scope)()]


class PersonOrGatewayKeyScheme(OpenApiAuthenticationExtension):
    target_class = PersonOrGatewayKey
    name = "personalTokenOrGatewayKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token `rru_…`; on an export's status and download "
            "also a gateway key `rr_…` with the `export:read` scope.",
        }


# --- Output -------------------------------------------------------------------------------------


class ExportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    format = serializers.CharField()
    status = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField())
    detector_version = serializers.CharField()
    test_percent = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Decisions selected.")
    done = serializers.IntegerField(help_text="Decisions read so far.")
    percent = serializers.IntegerField()
    row_count = serializers.IntegerField(allow_null=True, help_text="Rows in the file.")
    checksum = serializers.CharField(help_text="SHA-256 of the file, hex.")
    size_bytes = serializers.IntegerField(allow_null=True)
    summary = serializers.JSONField()
    error = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    download = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Export"  # the schema's component name

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, export: Export) -> str | None:
        return export.created_by.get_username() if export.created_by else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, export: Export) -> str | None:
        if export.status != Export.Status.DONE:
            return None
        request = self.context["request"]
        return str(request.build_absolute_uri(reverse("api-export-download", args=[export.pk])))


def _output(export: Export, request: Request) -> Any:
    return ExportOutput(export, context={"request": request}).data


# --- Views --------------------------------------------------------------------------------------


class ExportsApi(ExportApiView):
    """``GET``: the exports, newest first. ``POST``: a new export of the explorer's rows."""

    parser_classes = [JSONParser]

    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [allowed("review.add_export", "review.view_decision")()]
        return [allowed("review.view_export")()]

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(
            choices=Export.Format.choices,
            error_messages={"invalid_choice": f"must be one of {', '.join(Export.Format.values)}"},
        )
        filters = serializers.DictField(
            child=serializers.CharField(allow_blank=True),
            required=False,
            default=dict,
            help_text="The explorer's query parameters (since, until, gateway, model, tier, "
            "category, flag, label, status, q, sort, order), as strings.",
        )
        test_percent = serializers.IntegerField(
            required=False,
            default=0,
            min_value=0,
            max_value=99,
            help_text="Share of decisions in the test split (by a hash of the event id); 0: none.",
        )

        class Meta:
            ref_name = "ExportInput"  # the schema's component name

    class FilterSerializer(serializers.Serializer):
        after = serializers.IntegerField(
            required=False, min_value=1, help_text="The id from the previous page's `next`."
        )
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500)
        status = serializers.ChoiceField(choices=Export.Status.choices, required=False)

    @extend_schema(
        operation_id="list_exports",
        summary="Exports, newest first, one keyset page at a time",
        parameters=[FilterSerializer],
        responses={
            200: keyset_page("ExportPage", ExportOutput(many=True)),
            **ERRORS,
        },
        tags=["exports"],
    )
    def get(self, request: Request) -> Response:
        data = query_filters(request, self.FilterSerializer)
        limit = data.get("limit") or PAGE_SIZE
        found = Export.objects.select_related("created_by").order_by("-pk")
        if data.get("after"):
            found = found.filter(pk__lt=data["after"])
        if data.get("status"):
            found = found.filter(status=data["status"])
        rows = list(found[: limit + 1])
        following = None
        if len(rows) > limit:
            rows = rows[:limit]
            query = request.query_params.copy()
            query["after"] = str(rows[-1].pk)
            following = next_url(request, query.urlencode())
        return Response(
            {
                "results": ExportOutput(rows, many=True, context={"request": request}).data,
                "next": following,
            }
        )

    @extend_schema(
        operation_id="create_export",
        summary="Export the explorer's rows for some filters",
        description=(
            "Queues a job that writes every row the decisions explorer shows for `filters` (every "
            "page, in the explorer's order) in `format`. Poll `GET /api/v1/exports/{id}` until "
            "`status` is `done`, then fetch `download`. Where Celery runs in-process (the "
            "embedded default) the export is done when this answers."
        ),
        request=InputSerializer,
        responses={201: ExportOutput, **ERRORS},
        tags=["exports"],
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.data, dict):
            # A misspelt field would silently be left out of the export; name it instead.
            refuse_unknown(request.data, set(self.InputSerializer().fields))
        given = self.InputSerializer(data=request.data)
        if not given.is_valid():
            raise exceptions.ValidationError(field_errors(given.errors))
        data = given.validated_data
        user = request.user
        try:
            export = jobs.create_export(
                export_format=data["format"],
                filters=data["filters"],
                test_percent=data["test_percent"],
                created_by=user if user.is_authenticated else None,
            )
        except InvalidExport as invalid:
            raise exceptions.ValidationError(invalid.fields) from None
        export.refresh_from_db()  # an in-process (eager) run has finished by now
        return Response(_output(export, request), status=status.HTTP_201_CREATED)


class ExportStatusApi(ExportApiView):
    permissions = ("review.view_export",)
    key_scope = str(Scope.EXPORT_READ.value)

    @extend_schema(
        operation_id="get_export",
        summary="One export: status, progress, row count, checksum",
        responses={200: ExportOutput, **ERRORS, 404: ERROR_SCHEMA},
        tags=["exports"],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_output(_export(pk), request))


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "gone"


def _export(pk: int) -> Export:
    export = Export.objects.select_related("created_by").filter(pk=pk).first()
    if export is None:
        raise exceptions.NotFound(f"no export has id {pk}")
    return export


class ExportDownloadApi(ExportApiView):
    permissions = ("review.download_export",)
    key_scope = str(Scope.EXPORT_READ.value)

    @extend_schema(
        operation_id="download_export",
        summary="An export's file",
        description=(
            "The file, as an attachment, with its SHA-256 in `X-Checksum-SHA256`. 409 while the "
            "export is queued or running; 410 once it failed, was cancelled or expired."
        ),
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **ERRORS,
            404: ERROR_SCHEMA,
            409: ERROR_SCHEMA,
            410: ERROR_SCHEMA,
        },
        tags=["exports"],
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        export = _export(pk)
        if export.is_active:
            raise NotReady(
                f"export {pk} is {export.status}: {export.done:,} of {export.total:,} decisions "
                "read; try again when its status is done"
            )
        path = jobs.file_of(export)
        if path is None:
            reason = f": {export.error}" if export.error else ""
            raise Gone(f"export {pk} has no file: it is {export.status}{reason}")
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=jobs.download_name(export),
            content_type=formats.writer_for(export.format).content_type,
        )
        response["X-Checksum-SHA256"] = export.checksum
        return response


class ExportCancelApi(ExportApiView):
    permissions = ("review.view_export",)

    @extend_schema(
        operation_id="cancel_export",
        summary="Stop a queued or running export",
        description=(
            "Whoever made the export may cancel it; others need `review.change_export`. A "
            "running job stops at its next chunk and leaves no file. 409 if it had finished."
        ),
        request=None,
        responses={200: ExportOutput, **ERRORS, 404: ERROR_SCHEMA, 409: ERROR_SCHEMA},
        tags=["exports"],
    )
    def post(self, request: Request, pk: int) -> Response:
        export = _export(pk)
        if not export.is_active:
            raise NotReady(f"export {pk} had already finished: it is {export.status}")
        if not jobs.may_cancel(export, request.user):
            raise exceptions.PermissionDenied(
                "only whoever made an export may cancel it, or a role with review.change_export"
            )
        if not jobs.cancel_export(export=export):
            export.refresh_from_db()
            raise NotReady(f"export {pk} finished before it could be cancelled: {export.status}")
        export.refresh_from_db()
        return Response(_output(export, request))
