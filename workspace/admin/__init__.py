"""The regulator's workspace in the admin: the registry's records (lists with filters and search,
topology inlines, each record's revision history and status page with its designations; the
regulator's designations; labs' fulfilments of obligations and incidents, and the regulator's
reviews of fulfilments; an edit is kept as a new
revision, like any submission; a lab member sees only its organisation's records), rule versions
and the draft → preview → publish workflow, the decision log (read-only), evaluation runs with
live progress, the dashboard, reports generated from a form with their progress, the models,
clusters and decision log lists exported as CSV, API users, and each obligation's status (list,
dashboard panel, subject page). The login throttle and the periodic task schedule are shown to
superusers only; "View site" leads to this workspace."""
from django.contrib import admin
from django.urls import reverse_lazy

from . import accounts, designations, fulfilments, log, obligations, records, reports, runs, versions  # noqa: F401  (registers the model admins)
from .superuser_only import restrict_to_superusers

admin.site.site_header = "Compute Threshold Registry"
admin.site.site_title = "Compute Threshold Registry"
admin.site.index_title = "Regulator's workspace"
admin.site.site_url = reverse_lazy("admin:index")  # the workspace is the site: its dashboard, never the bare root

restrict_to_superusers(admin.site)
