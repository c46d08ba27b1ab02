from django.conf import settings
from django.http import HttpRequest


def deployment(request: HttpRequest) -> dict[str, bool]:
    """How this process runs, for the banner in the page frame: no mode goes unsaid."""
    return {
        "embedded_mode": settings.EMBEDDED,
        "tasks_inline": settings.CELERY_TASK_ALWAYS_EAGER,
    }
