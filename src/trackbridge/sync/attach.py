"""Resume, in this process's journal, a run that so far exists only on the remote backend.

A remote job (``trackbridge run --on databricks|azureml``) starts on a machine whose journal
is empty, with ``TRACKBRIDGE_RUN_ID`` naming the run on the tracking backend. To log into that
run, the journal gets a run of the same id, holding the remote run's experiment, name, params
and tags, and a ledger entry saying the destination already holds them. The online worker
then sends only what the script logs. The remote run keeps its own
``trackbridge.source_run_id`` (it is acknowledged, never rewritten), so it still names the
run that created it.
"""

from __future__ import annotations

from ..backend import Backend
from ..entities import Param
from ..local.store import LocalBackend
from .engine import SOURCE_RUN_TAG
from .ledger import Ledger
from .sources import JournalSource


def journal_run_id(journal: LocalBackend, destination: Backend, run_id: str) -> str:
    """The id of the journal run that stands for ``run_id``: ``run_id`` itself when the
    journal has it, the journal run already synced to remote run ``run_id``, or a new journal
    run copied from the remote run (:class:`~trackbridge.errors.RunNotFoundError` when the
    destination has no such run either)."""
    from ..errors import RunNotFoundError

    try:
        journal.get_run(run_id)
        return run_id
    except RunNotFoundError:
        pass
    remote = destination.get_run(run_id)
    ledger = Ledger.of(journal, destination)
    row = journal.connection().execute(
        "SELECT source_run_id FROM sync_runs WHERE remote_run_id = ? AND destination = ?",
        (run_id, ledger.destination)).fetchone()
    if row is not None:
        return row[0]
    experiment = journal.get_or_create_experiment(remote.experiment)
    journal.create_run(experiment.id, run_name=remote.name, start_time=remote.start_time,
                       tags=remote.tags, run_id=run_id)
    if remote.params:
        journal.log_batch(run_id, params=[Param(k, v) for k, v in remote.params.items()])
    landed = {**remote.tags, SOURCE_RUN_TAG: run_id}  # never claim the remote run as ours
    entry = ledger.create(run_id, remote.id, JournalSource.initial_cursor, in_doubt=False,
                          tags=landed)
    ledger.ack_batch(run_id, entry, cursor=entry.cursor, in_doubt=False,
                     params=list(remote.params))
    return run_id

