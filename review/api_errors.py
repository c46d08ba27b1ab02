"""The API's errors, in one JSON shape:

    {"error": {"code": "body_too_large", "message": "the body is … bytes; the limit is …"}}

Database outages answer 503 with ``Retry-After``, so gateways retry rather than drop.
"""

import logging
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

DATABASE_RETRY_AFTER_SECONDS = 5
logger = logging.getLogger(__name__)


class BadBody(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_body"


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


class UnsupportedEncoding(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_encoding"


class TooManyRecords(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_many_records"


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        return Response(
            {"error": {"code": "database_unavailable", "message": "the database is unreachable"}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    response = exception_handler(exc, context)
    if response is None:
        # Anything unforeseen still answers in the API's one shape; the traceback goes to the log.
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        return Response(
            {"error": {"code": "server_error", "message": "an unexpected error; it was logged"}},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if not isinstance(exc, exceptions.APIException):
        return response
    detail = exc.detail
    error: dict[str, Any] = {"code": _code(exc)}
    if isinstance(detail, dict):
        error["message"] = "some fields are invalid"
        error["fields"] = detail
    elif isinstance(detail, list):
        error["message"] = "; ".join(str(item) for item in detail)
    else:
        error["message"] = str(detail)
    response.data = {"error": error}
    return response


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code
