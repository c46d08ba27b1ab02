"""The Celery application. Its beat schedule lives in settings (``CELERY_BEAT_SCHEDULE``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routing_app.settings")

app = Celery("routing_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
