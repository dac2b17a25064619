"""Signals the obligations app sends; the audit trail listens (accounts sits above this app)."""
from django.dispatch import Signal

# Sent inside the recording transaction with `record` (a Fulfilment, FulfilmentReview or Incident),
# `actor` (the user, or None for the command line) and `via` (a SubmissionChannel value), so the
# record and its audit event stand or fall together.
obligation_record_created = Signal()
