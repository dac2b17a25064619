"""Signals the rules app sends; reports listen (data flows one way: registry → rules → reports)."""
from django.dispatch import Signal

# Sent with `run` (an EvaluationRun) once, by the caller that marked it finished, after the
# transaction that marked it has been left (an outer transaction may still be open: receivers
# that enqueue work do it in transaction.on_commit).
run_finished = Signal()

# Sent with `version` (a RuleVersion just published) and `actor` inside the publishing transaction,
# so a receiver's writes (the audit trail's) stand or fall with the publication.
rule_version_published = Signal()
