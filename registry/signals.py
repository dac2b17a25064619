"""Signals the registry sends; the rules app listens (data flows one way: registry → rules)."""
from django.dispatch import Signal

# Sent inside the submission's transaction (or, for a batch written alone, just before its statement)
# with `subjects`: a list of subject refs ("model:ORG/NAME@VERSION", "cluster:ORG/NAME",
# "organisation:ORG") whose facts changed, and
# `records`: the model, cluster and organisation objects behind them, in the same order. With
# `batch` (a `registry.batch.InsertBatch`, or None), the new records are not written yet: they are
# rows of the batch, written once the signal returns in one statement with what the receivers add
# to it. A receiver adds its rows to the batch (taking a record's key with `InsertBatch.add`'s
# keys) instead of writing them, and reads a row's primary key only after the commit.
subjects_changed = Signal()
