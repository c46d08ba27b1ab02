from django.conf import settings
from django.http import HttpRequest


def deployment(request: HttpRequest) -> dict[str, bool]:
    """Whether this process runs embedded (SQLite, tasks in-process), shown in the page frame."""
    return {"embedded_mode": settings.EMBEDDED}
