"""Who may open which page: a login first, then the role's permission, else 403.

Pages use the session only; a gateway key in a header opens nothing here.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def requires(*permissions: str) -> Callable[[View], View]:
    """Anonymous visitors go to the login page; signed-in users without every one of
    ``permissions`` get 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perms(permissions):
                raise PermissionDenied(f"needs {', '.join(permissions)}")
            return view(request, *args, **kwargs)

        return login_required(checked)

    return decorate


def person(request: HttpRequest) -> User:
    """The signed-in user of a view behind ``requires``."""
    return cast(User, request.user)
