"""Re-evaluates the registry (or some subjects) as a run of chunks over the Celery workers."""
from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError
from tqdm import tqdm

from rules.models import EvaluationRun
from rules.models.runs import RunStatus, Trigger
from rules.services import run_create
from rules.subjects import SubjectError


class Command(BaseCommand):
    help = (
        "Re-evaluate every subject (or --subject ones) under every regime (or --regime ones) as of "
        "--as-of (default today), as chunks spread over the Celery workers; --wait shows a progress "
        "bar until the run finishes. With Celery eager (the embedded default) it runs in this process."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--as-of", help="YYYY-MM-DD; default today.")
        parser.add_argument("--regime", action="append", default=[])
        parser.add_argument("--subject", action="append", default=[])
        parser.add_argument("--chunk-size", type=int, default=500,
                            help="Subjects per chunk (a task of its own); an organisation counts as one plus its models.")
        parser.add_argument("--wait", action="store_true", help="Wait for the run, showing progress.")
        parser.add_argument(
            "--in-process", action="store_true",
            help="Carry the run out in this process instead of the Celery workers, showing progress: on "
                 "PostgreSQL, --readers processes forked from it read and evaluate the next chunks while it "
                 "writes each to the decision log in turn.")
        parser.add_argument(
            "--readers", type=int, default=None,
            help="With --in-process: reader processes (default RUN_READER_PROCESSES, the machine's cores; "
                 "0 reads on a thread of this process).")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds --wait waits at most.")
        parser.add_argument(
            "--anew", action="store_true",
            help="Evaluate every subject and append every determination to the decision log, even one that only "
                 "repeats the subject's current determination (by default that one is confirmed: one record per "
                 "chunk, no row; and where the facts, rule version and engine are those it was made with and the "
                 "date cannot change it, it is confirmed without evaluating the subject again).")

    def handle(self, *args: Any, **options: Any) -> None:
        from rules.tasks import run_start

        try:
            as_of = date.fromisoformat(options["as_of"]) if options["as_of"] else None
        except ValueError:
            raise CommandError(f"--as-of: {options['as_of']!r} is not a date written YYYY-MM-DD") from None
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size: must be at least 1")
        if options["readers"] is not None and (options["readers"] < 0 or not options["in_process"]):
            raise CommandError("--readers: a number of processes, 0 or more, with --in-process")
        try:
            run = run_create(kind=Trigger.MANUAL, as_of=as_of, regimes=options["regime"] or None,
                             subjects=options["subject"] or None, chunk_size=options["chunk_size"],
                             confirms=not options["anew"])
        except (SubjectError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Run {run.pk}: {run.total} subject(s) in {run.chunks_total} chunk(s), as of {run.as_of}")
        if options["in_process"]:
            self._in_process(run, readers=options["readers"])
            return
        try:
            run_start.apply_async(args=[run.pk], retry=False)
        except BrokerError as exc:
            raise CommandError(
                f"the broker cannot be reached ({exc}); run {run.pk} is recorded and the periodic sweep starts it "
                "once the broker is back"
            ) from exc
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        with tqdm(total=run.total, desc=f"Run {run.pk}", unit="subject", file=self.stderr._out) as bar:
            while True:
                try:
                    run = EvaluationRun.objects.get(pk=run.pk)
                except (OperationalError, InterfaceError):
                    # the database restarting: the workers retry their chunks, and this keeps waiting
                    connection.close()
                    bar.set_postfix_str("database unavailable, retrying")
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
                    continue
                bar.set_postfix_str("")
                bar.update(run.done - bar.n)
                if run.status in (RunStatus.FINISHED, RunStatus.FAILED):
                    break
                if time.monotonic() > deadline:
                    raise CommandError(f"run {run.pk} not finished after {options['timeout']:g}s ({run.done}/{run.total})")
                time.sleep(0.5)
        if run.status == RunStatus.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")
        self.stdout.write(f"Run {run.pk} finished: {run.done}/{run.total} subject(s), {run.changes_count} status change(s)")

    def _in_process(self, run: EvaluationRun, *, readers: int | None) -> None:
        from rules.services import run_execute_inline, run_fail

        sizes = {pk: sum(len(ids) for ids in subjects.values()) for pk, subjects in run.chunks.values_list("pk", "subjects")}
        with tqdm(total=run.total, desc=f"Run {run.pk}", unit="subject", file=self.stderr._out) as bar:
            try:
                run = run_execute_inline(run, on_chunk=lambda chunk_id: bar.update(sizes.get(chunk_id, 0)),
                                         readers=readers)
            except Exception as exc:  # the chunks written stay written; starting the run again does the rest
                run_fail(run_id=run.pk, error=f"{type(exc).__name__}: {exc}")
                raise CommandError(f"run {run.pk} failed after {bar.n}/{run.total} subject(s): {exc}") from exc
            bar.update(run.done - bar.n)
        self.stdout.write(f"Run {run.pk} finished: {run.done}/{run.total} subject(s), {run.changes_count} status change(s)")
