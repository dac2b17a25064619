"""Signals the registry sends; the rules app listens (data flows one way: registry → rules)."""
from django.dispatch import Signal

# Sent inside the submission's transaction with `subjects`: a list of subject refs
# ("model:ORG/NAME@VERSION", "cluster:ORG/NAME", "organisation:ORG") whose facts changed, and
# `records`: the model, cluster and organisation objects behind them, in the same order.
subjects_changed = Signal()
