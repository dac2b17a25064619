"""The regulator's and lab staff's workspace: the admin UI over the registry, the rules and the
reports (dashboard, subject pages, list filters, the rule workflow, run progress), with its
template tags, templates and static files."""
