"""The rules app in the regulator's admin: rule versions and the draft → preview → publish
workflow, the decision log (read-only), evaluation runs with live progress, and the dashboard."""
from django.contrib import admin

from . import log, runs, versions  # noqa: F401  (registers the model admins)

admin.site.site_header = "Compute Threshold Registry"
admin.site.site_title = "Compute Threshold Registry"
admin.site.index_title = "Regulator's workspace"
