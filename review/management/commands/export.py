import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import explorer
from review.detection import Detector
from review.exports import jobs, records
from review.exports.formats import WRITERS
from review.exports.records import InvalidExport
from review.models import Export

# Formats written as one text file, which may go to standard output.
STREAMABLE = {
    Export.Format.JSONL,
    Export.Format.CSV,
    Export.Format.ROUTELLM_PAIRS,
    Export.Format.ROUTELLM_EVAL,
}


class Command(BaseCommand):
    help = (
        "Export the decisions explorer's rows for the given filters, in this process, to a "
        "file (a folder for hf_dataset). The same rows, order and fields as an export made in "
        "the app; for scheduled jobs and notebooks. The summary goes to standard error when "
        "the rows go to standard output (--out -)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=list(WRITERS), dest="export_format")
        parser.add_argument(
            "--out",
            required=True,
            help="The file to write (replaced when complete); for hf_dataset a folder that is "
            "new or empty; '-' for standard output (text formats).",
        )
        parser.add_argument(
            "--test-percent",
            type=int,
            default=0,
            help="Mark this share of decisions as test, by a hash of the event id (0: no split).",
        )
        filters = parser.add_argument_group("the explorer's filters")
        for name in records.FILTER_NAMES:
            field = explorer.FilterForm.base_fields[name]
            help_text = str(field.help_text or field.label or name)
            filters.add_argument(f"--{name}", help=help_text)

    def handle(self, *args: Any, **options: Any) -> None:
        export_format = options["export_format"]
        out = options["out"]
        filters = {name: options[name] for name in records.FILTER_NAMES if options[name]}
        errors: dict[str, str] = {}
        if not 0 <= options["test_percent"] <= 99:
            errors["test-percent"] = "must be between 0 (no split) and 99"
        if out == "-" and export_format not in STREAMABLE:
            errors["out"] = f"{export_format} cannot go to standard output; give a path"
        try:
            data = records.clean_filters(filters)
        except InvalidExport as invalid:
            errors.update(invalid.fields)
        if errors:
            raise CommandError("; ".join(f"--{name}: {reason}" for name, reason in errors.items()))
        selection = records.Selection(data=data, detector_version=Detector.current().version)
        options_for_writer: dict[str, Any] = {
            "export_format": export_format,
            "selection": selection,
            "test_percent": options["test_percent"],
            "filters": records.filters_of(data),
        }
        if out == "-":
            self._to_stdout(options_for_writer)
            return
        target = Path(out)
        if export_format == Export.Format.HF_DATASET:
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise CommandError(f"--out: {target} must be a new or empty folder")
            written = jobs.write_export(target, **options_for_writer)
            self.stdout.write(self._summary(written, target, checksum=None))
            return
        # Written beside the target and moved over it when complete: a reader never sees half.
        partial = target.with_name(target.name + jobs.PARTIAL)
        try:
            written = jobs.write_export(partial, **options_for_writer)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        checksum, _ = jobs.file_digest(target)
        self.stdout.write(self._summary(written, target, checksum=checksum))

    def _to_stdout(self, options: dict[str, Any]) -> None:
        # Written to a temporary file first: the writers take a path, and the summary (counts)
        # is known only at the end.
        handle, name = tempfile.mkstemp(suffix=".export")
        os.close(handle)
        path = Path(name)
        try:
            written = jobs.write_export(path, **options)
            with path.open("rb") as file:
                while block := file.read(1024 * 1024):
                    sys.stdout.buffer.write(block)
            sys.stdout.buffer.flush()
        finally:
            path.unlink(missing_ok=True)
        self.stderr.write(self._summary(written, None, checksum=None))

    @staticmethod
    def _summary(written: jobs.Written, target: Path | None, *, checksum: str | None) -> str:
        where = f" to {target}" if target else ""
        line = f"Exported {written.rows:,} rows ({written.decisions:,} decisions){where}"
        return f"{line}; sha256 {checksum}" if checksum else line
