FROM python:3.12-slim

# PYTHONPATH: the project is installed into site-packages too; putting the source tree first
# means gunicorn, celery and manage.py all import the same copy, so BASE_DIR is /app and the
# top-level templates/ and static/ folders are found.
# DATA_DIR: only used when DATABASE_URL is unset (embedded SQLite); it must be writable.
# /data/exports (EXPORT_DIR's default there) is created owned by the app, so the named volume
# mounted on it in docker-compose.yml starts with that owner.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATA_DIR=/data

WORKDIR /app

RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent app \
    && mkdir -p /data/exports && chown -R app:app /data

COPY . .
# pip builds in-tree, so drop its build/ and egg-info leftovers from the image.
RUN pip install --no-cache-dir . && rm -rf build ./*.egg-info

# Whitenoise's manifest storage needs the hashed files at start-up. Settings refuse to load
# without SECRET_KEY, so this one line gets a throwaway key that is not kept in the image.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

# Code and static files stay root-owned: the app only reads them.
USER app

EXPOSE 8000
CMD ["gunicorn", "routing_app.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
