"""An export as a job: created from the explorer's filters, run by a Celery task that streams
the rows into a file with progress, cancellable, kept EXPORT_RETENTION_DAYS, then deleted.

The Export row is the job's state; Celery only carries the trigger. Running claims the row with
a conditional update (queued → running, one more attempt), every chunk's progress is another
conditional update (running, the same attempt), so a cancellation, which moves the row out of
running, or a later attempt stops the job at its next chunk. A lost trigger or a dead worker is
found by ``sweep``. ``write_export`` is the same streaming for the command line, without a row.
"""

import hashlib
import logging
import re
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from review.detection import Detector
from review.exports import formats, records
from review.exports.records import InvalidExport
from review.models import Export

logger = logging.getLogger(__name__)
# A queued export not started after this long lost its trigger (broker restart); a running one
# whose heartbeat (written every chunk, each well under a second) is this old lost its worker.
LOST_AFTER = timedelta(minutes=5)
STALLED_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 3
PARTIAL = ".partial"
STOPPED = "stopped: cancelled, or taken over by a later attempt"

Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """The export left the running state while it was being written."""


@dataclass(frozen=True)
class Written:
    rows: int
    decisions: int
    summary: dict[str, Any]


# --- Streaming --------------------------------------------------------------------------------


def write_export(
    path: Path,
    *,
    export_format: str,
    selection: records.Selection,
    test_percent: int = 0,
    title: str = "Routing Review export",
    filters: dict[str, str] | None = None,
    chunk_rows: int | None = None,
    on_progress: Progress | None = None,
) -> Written:
    """Write the selection's rows to ``path`` (a folder for ``hf_dataset``) in the format, a
    chunk at a time; ``on_progress(done, total)`` after each chunk (it may raise to stop)."""
    size = chunk_rows or settings.EXPORT_CHUNK_ROWS
    total = selection.count()
    if on_progress:
        on_progress(0, total)
    tiers = records.Tiers()
    context = formats.Context(
        title=title,
        filters=filters if filters is not None else records.filters_of(selection.data),
        detector_version=selection.detector_version,
        test_percent=test_percent,
        created_at=timezone.now(),
        tiers=tiers,
    )
    writer = formats.writer_for(export_format)(path, context=context)
    try:
        done = 0
        for chunk in selection.chunks(size=size):
            writer.write(
                records.build(
                    chunk,
                    tiers=tiers,
                    test_percent=test_percent,
                    detector_version=selection.detector_version,
                )
            )
            done += len(chunk)
            if on_progress:
                on_progress(done, max(total, done))
    finally:
        writer.close()
    return Written(rows=writer.tally.rows, decisions=done, summary=writer.tally.as_dict())


# Hashing or zipping a large file takes seconds to minutes with no chunk written; the job's
# heartbeat goes on meanwhile (every BEAT_BYTES read, every file zipped).
BEAT_BYTES = 64 * 1024 * 1024
BLOCK_BYTES = 1024 * 1024


def file_digest(
    path: Path, *, on_block: Callable[[], None] | None = None, beat_bytes: int = BEAT_BYTES
) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in blocks; ``on_block()`` every ``beat_bytes``."""
    digest = hashlib.sha256()
    size = since_beat = 0
    with path.open("rb") as file:
        while block := file.read(BLOCK_BYTES):
            digest.update(block)
            size += len(block)
            since_beat += len(block)
            if on_block and since_beat >= beat_bytes:
                on_block()
                since_beat = 0
    return digest.hexdigest(), size


def zip_folder(
    folder: Path, target: Path, *, root: str, on_file: Callable[[], None] | None = None
) -> None:
    """Zip ``folder`` into ``target`` under the folder name ``root``, file by file from disk,
    calling ``on_file()`` after each. Parquet is compressed already, so entries are stored."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{root}/{path.relative_to(folder).as_posix()}")
                if on_file:
                    on_file()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- The job ----------------------------------------------------------------------------------


def export_dir() -> Path:
    return Path(settings.EXPORT_DIR)


def file_name(export: Export) -> str:
    return f"export-{export.pk}.{formats.writer_for(export.format).extension}"


def download_name(export: Export) -> str:
    return f"routing-review-{file_name(export)}"


def file_of(export: Export) -> Path | None:
    """The finished file of a done export, if it is still on disk."""
    if export.status != Export.Status.DONE or not export.file_name:
        return None
    path = export_dir() / export.file_name
    return path if path.is_file() else None


def create_export(
    *,
    export_format: str,
    filters: Mapping[str, Any],
    test_percent: int = 0,
    created_by: User | None = None,
) -> Export:
    """Validate, store and queue an export of the explorer's rows for ``filters``. Raises
    ``InvalidExport`` naming each bad field. The job starts after the commit; where Celery runs
    eagerly (the embedded default) it has finished when this returns outside a transaction."""
    errors: dict[str, str] = {}
    if export_format not in Export.Format.values:
        errors["format"] = f"must be one of {', '.join(Export.Format.values)}"
    if not isinstance(test_percent, int) or isinstance(test_percent, bool):
        errors["test_percent"] = "must be a whole number of percent, 0 to 99"
    elif not 0 <= test_percent <= 99:
        errors["test_percent"] = "must be between 0 (no split) and 99"
    try:
        data = records.clean_filters(filters)
    except InvalidExport as invalid:
        errors.update(invalid.fields)
    if errors:
        raise InvalidExport(errors)
    export = Export.objects.create(
        format=export_format,
        filters=records.filters_of(data),
        detector_version=Detector.current().version,
        test_percent=test_percent,
        created_by=created_by,
    )
    _enqueue(export.pk)
    return export


def _enqueue(export_id: int) -> None:
    from review import tasks  # tasks import this module

    # robust: with the broker down the export stays queued and the sweep sends it later.
    transaction.on_commit(partial(tasks.run_export.delay, export_id), robust=True)


def run_export(*, export_id: int) -> str:
    """Claim a queued export and write its file; says what happened. Failures are recorded on
    the row (and logged), not raised: a retry would only fail the same way."""
    attempt = Attempt.claim(export_id)
    if attempt is None:
        return "not queued (running elsewhere, cancelled or finished)"
    return attempt.run()


class Attempt:
    """One worker's claim on a running export. The sweep may give a job it believes stalled to
    another worker while the first is still alive (a long zip, a paused machine), so everything
    an attempt writes is tied to its number: each row update requires ``attempts`` to be still
    this one, and its partial file and folder carry the number, so two attempts never share a
    file and the one that lost its claim stops at its next chunk and touches nothing else."""

    def __init__(self, export: Export) -> None:
        self.export = export
        self.number = export.attempts
        directory = export_dir()
        self.final = directory / file_name(export)
        stem = f"export-{export.pk}.try{self.number}"
        self.partial = directory / f"{stem}.{formats.writer_for(export.format).extension}{PARTIAL}"
        self.folder = directory / f"{stem}.hf{PARTIAL}"

    @classmethod
    def claim(cls, export_id: int) -> "Attempt | None":
        """Move a queued export to running as a new attempt; None if it was not queued."""
        now = timezone.now()
        claimed = Export.objects.filter(pk=export_id, status=Export.Status.QUEUED).update(
            status=Export.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            done=0,
            error="",
        )
        if claimed != 1:
            return None
        return cls(Export.objects.get(pk=export_id))

    def mine(self) -> Any:
        """The export's row, while it is running under this attempt."""
        return Export.objects.filter(
            pk=self.export.pk, status=Export.Status.RUNNING, attempts=self.number
        )

    def beat(self, **fields: Any) -> None:
        """Record progress (and that this worker is alive); raise ``Cancelled`` if the export
        was cancelled or taken over by a later attempt."""
        if self.mine().update(heartbeat_at=timezone.now(), **fields) != 1:
            raise Cancelled

    def run(self) -> str:
        try:
            written = self._write()
            checksum, size = file_digest(self.partial, on_block=self.beat)
            return self._finish(written, checksum=checksum, size=size)
        except Cancelled:
            return STOPPED
        except Exception as error:
            failed = self.mine().update(
                status=Export.Status.FAILED, error=_reason(error), finished_at=timezone.now()
            )
            if not failed:  # no longer its export: the error came of being stopped, not a fault
                logger.info("export %s attempt %s stopped: %s", self.export.pk, self.number, error)
                return STOPPED
            logger.exception("export %s failed", self.export.pk)
            return "failed"
        finally:
            _remove(self.partial)
            _remove(self.folder)

    def _write(self) -> Written:
        export = self.export
        self.final.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = records.clean_filters(export.filters)
        except InvalidExport as invalid:
            # A gateway or tier named in the filters was renamed or removed since.
            raise ValueError(f"its filters no longer apply: {invalid}") from None
        options: dict[str, Any] = {
            "export_format": export.format,
            "selection": records.Selection(data=data, detector_version=export.detector_version),
            "test_percent": export.test_percent,
            "title": f"Routing Review export {export.pk}",
            "filters": export.filters,
            "on_progress": lambda done, total: self.beat(done=done, total=total),
        }
        if export.format != Export.Format.HF_DATASET:
            return write_export(self.partial, **options)
        written = write_export(self.folder, **options)
        zip_folder(
            self.folder,
            self.partial,
            root=f"routing-review-export-{export.pk}",
            on_file=self.beat,
        )
        return written

    def _finish(self, written: Written, *, checksum: str, size: int) -> str:
        # The row stays locked from the check to the update, so the file under the final name
        # is always the one whose checksum the row records: a stale attempt, or a cancel,
        # finds the row changed and leaves the final name alone.
        with transaction.atomic():
            if not list(self.mine().select_for_update().values_list("pk", flat=True)):
                raise Cancelled
            self.partial.replace(self.final)
            try:
                self._store_done(written, checksum=checksum, size=size)
            except BaseException:
                # Rolled back (a lost connection, the time limit): no row will name the file.
                self.final.unlink(missing_ok=True)
                raise
        return f"done: {written.rows} rows"

    def _store_done(self, written: Written, *, checksum: str, size: int) -> None:
        finished = timezone.now()
        stored = self.mine().update(
            status=Export.Status.DONE,
            done=written.decisions,
            total=written.decisions,
            row_count=written.rows,
            summary=written.summary,
            checksum=checksum,
            size_bytes=size,
            file_name=self.final.name,
            heartbeat_at=finished,
            finished_at=finished,
            expires_at=finished + timedelta(days=settings.EXPORT_RETENTION_DAYS),
        )
        if stored != 1:  # the lock is a no-op on SQLite; the update's condition still holds
            raise Cancelled


def _reason(error: Exception) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(error, SoftTimeLimitExceeded):
        return "it ran longer than the export task's time limit; export fewer rows at once"
    return (str(error) or type(error).__name__)[:2000]


def cancel_export(*, export: Export) -> bool:
    """Stop a queued or running export; False if it had already finished. A running job sees
    it at its next chunk, removes its partial file and stops."""
    return (
        Export.objects.filter(
            pk=export.pk, status__in=[Export.Status.QUEUED, Export.Status.RUNNING]
        ).update(status=Export.Status.CANCELLED, finished_at=timezone.now())
        == 1
    )


def may_cancel(export: Export, user: Any) -> bool:
    """Whoever made an export may cancel it; others need the change permission."""
    if not export.is_active:
        return False
    return bool(
        (export.created_by_id is not None and export.created_by_id == user.pk)
        or user.has_perm("review.change_export")
    )


# --- Upkeep -----------------------------------------------------------------------------------


def expire(*, now: datetime | None = None) -> int:
    """Delete the files of exports past their retention (the rows stay, marked expired), and
    partial files no running export owns. Returns how many exports expired."""
    now = now or timezone.now()
    expired = 0
    for export in Export.objects.filter(status=Export.Status.DONE, expires_at__lte=now):
        if Export.objects.filter(pk=export.pk, status=Export.Status.DONE).update(
            status=Export.Status.EXPIRED, file_name=""
        ):
            if export.file_name:
                (export_dir() / export.file_name).unlink(missing_ok=True)
            expired += 1
    _remove_orphans()
    return expired


def _remove_orphans() -> None:
    """Remove partial files and folders that no running attempt is writing: those of finished
    exports, and those of an earlier attempt of an export that was started again."""
    directory = export_dir()
    if not directory.is_dir():
        return
    # Listed before the running attempts are read: a file seen here was made by an attempt
    # that had claimed its row already, so a job starting meanwhile does not lose its file.
    partials = list(directory.glob(f"export-*{PARTIAL}"))
    running = dict(
        Export.objects.filter(status=Export.Status.RUNNING).values_list("pk", "attempts")
    )
    for path in partials:
        if not _written_by_running_attempt(path.name, running):
            _remove(path)


# export-<pk>.try<attempt>.<ext>.partial; files of workers from before attempts were numbered
# have no try part, and are kept while their export runs (a deploy does not fail their jobs).
_PARTIAL_NAME = re.compile(r"export-(\d+)\.(?:try(\d+)\.)?")


def _written_by_running_attempt(name: str, running: dict[int, int]) -> bool:
    match = _PARTIAL_NAME.match(name)
    if match is None or int(match[1]) not in running:
        return False
    return match[2] is None or int(match[2]) == running[int(match[1])]


def triggers_waiting() -> int:
    """How many export messages wait in the broker, undelivered; 0 if that cannot be known
    (tasks run in-process, the broker is down, or the queue was never declared)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return 0
    from routing_app import celery_app

    try:
        with celery_app.connection_for_read() as connection:
            channel: Any = connection.default_channel  # kombu's stubs omit queue_declare
            declared = channel.queue_declare(queue=settings.EXPORT_QUEUE, passive=True)
        return int(declared.message_count)
    except Exception:  # the sweep then re-sends, as it would without the count
        logger.info("export queue length unknown", exc_info=True)
        return 0


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Send again the exports whose trigger was lost, and those whose worker died (their
    heartbeat stopped); after MAX_ATTEMPTS starts, a stalled export fails instead."""
    now = now or timezone.now()
    resent = failed = 0
    lost = Export.objects.filter(status=Export.Status.QUEUED, created_at__lt=now - LOST_AFTER)
    lost = lost.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - LOST_AFTER))
    lost_ids = list(lost.values_list("pk", flat=True))
    queued = Export.objects.filter(status=Export.Status.QUEUED).count()
    if lost_ids and triggers_waiting() >= queued:
        # Every queued export still has its message in the broker: they wait behind a long
        # export on the export worker, and nothing was lost.
        lost_ids = []
    for export_id in lost_ids:
        # The heartbeat marks the re-send, so a broker that stays down gets one per interval.
        if Export.objects.filter(pk=export_id, status=Export.Status.QUEUED).update(
            heartbeat_at=now
        ):
            _enqueue(export_id)
            resent += 1
    stalled = Export.objects.filter(
        status=Export.Status.RUNNING, heartbeat_at__lt=now - STALLED_AFTER
    )
    for export in list(stalled):
        running = Export.objects.filter(
            pk=export.pk, status=Export.Status.RUNNING, heartbeat_at=export.heartbeat_at
        )
        if export.attempts >= MAX_ATTEMPTS:
            failed += running.update(
                status=Export.Status.FAILED,
                error=f"its worker stopped {export.attempts} times before it finished",
                finished_at=now,
            )
        elif running.update(status=Export.Status.QUEUED, heartbeat_at=now):
            _enqueue(export.pk)
            resent += 1
    return {"resent": resent, "failed": failed}
