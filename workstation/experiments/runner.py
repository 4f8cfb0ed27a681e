"""Running an experiment's unfinished runs on dask.distributed and recording each as it ends.

One code path whatever the cluster: a ``Client`` on a fresh ``LocalCluster``
(worker processes with one thread each, since each run pins its own
SimpleITK threads) or a ``Client`` on an existing scheduler. The client
records every outcome as it arrives, so killing the client loses only the
runs in flight, and the next run of the same experiment does only what is
missing. A worker that dies is dask's business: its task is rescheduled on
another worker, and a task that kills workers again and again
(``KilledWorker``) is recorded as a failed run.

With an existing scheduler the workers must have this package installed and
see the input files at the same paths; the results folder is written by the
client only.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from distributed import Client, Future, LocalCluster, as_completed

from workstation.errors import Cancelled, WorkstationError
from workstation.experiments.execute import RunOutcome, environment_versions, execute, one_line
from workstation.experiments.plan import RunTask, plan_experiment
from workstation.experiments.results import is_complete, run_dir, write_json, write_run, write_table
from workstation.experiments.spec import ExperimentSpec
from workstation.jobs import CancelFlag, Progress, ProgressEvent, check_cancel

log = logging.getLogger("workstation.experiments")

POLL_SECONDS = 0.05
"""How often the client looks for finished runs and for a cancel request."""


@dataclass
class ExperimentSummary:
    """How a call of ``run_experiment`` went; ``table`` holds every planned run."""

    results: Path
    planned: int
    skipped: int
    succeeded: int
    failed: int
    scheduler: str
    workers: int
    table: pd.DataFrame


def default_workers(threads: int) -> int:
    """One worker per ``threads`` cores, so that workers times threads fills the machine without oversubscribing."""
    return max(1, (os.cpu_count() or 1) // threads)


@contextmanager
def connect(scheduler: str | None, workers: int | None, threads: int = 1) -> Iterator[Client]:
    """A Client on ``scheduler``, or on a LocalCluster of ``workers`` single-threaded processes."""
    if scheduler:
        try:
            # The timeout is dask's own setting (distributed.comm.timeouts.connect), so users tune it the dask way.
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise WorkstationError(f"cannot connect to the dask scheduler ({one_line(exc)})", path=scheduler) from exc
        with client:
            yield client
        return
    count = workers or default_workers(threads)
    if count < 1:
        raise WorkstationError(f"--workers must be at least 1, got {count}")
    # Workers log a heartbeat error when the cluster shuts down under them; a failed run is recorded
    # in the results anyway, so the local cluster's own log lines are kept off the user's terminal.
    with (LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                       silence_logs=logging.CRITICAL) as cluster,
          Client(cluster, set_as_default=False) as client):
        yield client


def run_experiment(progress: Progress, cancel: CancelFlag | None, spec: ExperimentSpec, results: Path,
                   scheduler: str | None = None, workers: int | None = None) -> ExperimentSummary:
    """Run every unfinished run of ``spec`` into ``results``; a job (``Job(run_experiment, spec, results)``).

    Finished runs (their folder has the complete marker) are skipped; failed
    runs are recorded and tried again next time. The table is rewritten at
    the end, also after a cancel.
    """
    tasks = plan_experiment(spec)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    pending = [t for t in tasks if not is_complete(run_dir(results, t.run_id))]
    counts = {"ok": 0, "failed": 0}
    address, worker_count = "", 0
    progress(0.0, ProgressEvent(f"{len(tasks)} runs planned, {len(tasks) - len(pending)} already finished"))
    try:
        if pending:
            with connect(scheduler, workers, spec.threads) as client:
                address = client.scheduler.address
                worker_count = len(client.scheduler_info(n_workers=-1)["workers"])
                _write_plan(results, spec, tasks, address, worker_count)
                for outcome in run_on_client(client, pending, cancel):
                    write_run(results, outcome)
                    counts[outcome.status] += 1
                    task = outcome.task
                    done = counts["ok"] + counts["failed"]
                    progress(done / len(pending), ProgressEvent(
                        f"{task.pair.name} {task.preset} {task.variant} seed {task.seed}: "
                        f"{outcome.status}{' (' + outcome.error + ')' if outcome.error else ''}"))
        else:
            _write_plan(results, spec, tasks, address, worker_count)
    finally:
        table = write_table(results, tasks)
    return ExperimentSummary(results=results, planned=len(tasks), skipped=len(tasks) - len(pending),
                             succeeded=counts["ok"], failed=counts["failed"], scheduler=address,
                             workers=worker_count, table=table)


def run_on_client(client: Client, tasks: list[RunTask], cancel: CancelFlag | None = None) -> Iterator[RunOutcome]:
    """Submit ``tasks`` and yield their outcomes as they end; a cancel cancels the futures in flight.

    Keys carry a fresh token so that a scheduler shared by several
    experiments (or an earlier, interrupted one) never hands back a stale
    result for the same run id.
    """
    token = uuid.uuid4().hex[:8]
    futures: dict[Future, RunTask] = {
        client.submit(execute, task, key=f"run-{task.run_id}-{token}", pure=False): task for task in tasks}
    waiting = as_completed(futures, loop=client.loop)
    try:
        while not waiting.is_empty():
            check_cancel(cancel)
            if not waiting.has_ready():
                time.sleep(POLL_SECONDS)
                continue
            for future in waiting.next_batch(block=False):
                check_cancel(cancel)  # a batch may hold several outcomes: none is recorded after the cancel
                yield _outcome(future, futures[future])
    except Cancelled:
        client.cancel(list(futures))
        raise
    finally:
        for future in futures:
            future.release()


def _outcome(future: Future, task: RunTask) -> RunOutcome:
    """The worker's outcome, or a failed one when the task itself died (e.g. KilledWorker)."""
    if future.status == "finished":
        return future.result()
    exc = future.exception() if future.status == "error" else None
    reason = one_line(exc) if exc is not None else f"task {future.status}"
    log.warning("run %s lost on the cluster: %s", task.run_id, reason)
    return RunOutcome(task=task, status="failed", error=f"worker failure: {reason}",
                      timing={"finished": datetime.now(UTC).isoformat(timespec="seconds")})


def _write_plan(results: Path, spec: ExperimentSpec, tasks: list[RunTask], scheduler: str, workers: int) -> None:
    write_json(results / "experiment.json", {
        "experiment": spec.name,
        "source": str(spec.source),
        "spec": json.loads(json.dumps(asdict(spec), default=str)),
        "runs": [t.run_id for t in tasks],
        "scheduler": scheduler,
        "workers": workers,
        "client_versions": environment_versions(),
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
    })
