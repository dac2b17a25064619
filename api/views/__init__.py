"""The API's views, by domain: thin, over api.access (reads) and registry/rules services (writes)."""
