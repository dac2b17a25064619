"""`manage.py bench --api-only`: the synthetic registry, then the API beside /healthz, nothing else."""
from __future__ import annotations

import io
import json
import os

from django.core.management import call_command


def test_api_only_measures_the_api_and_skips_the_other_phases():
    out = io.StringIO()
    call_command("bench", json=True, stdout=out, database_name=f"bench_a{os.getpid()}", models=12, clusters=2,
                 api_only=True, api_seconds=1, api_concurrency=2)
    result = json.loads(out.getvalue())
    assert result["generate"]["subjects"] == 12 + 2 + 1
    api = result["api"]
    assert api["submission"]["requests"] > 0 and not api["submission"]["errors"], api["submission"]
    assert api["healthz"]["requests"] > 0 and not api["healthz"]["errors"]
    assert api["ratio_to_healthz"] > 0
    assert api["submission"]["rounds"] == api["healthz"]["rounds"] == 6  # taken in turns
    drain = api["outbox_drain"]
    if os.environ.get("REDIS_URL"):  # a broker: one worker started afterwards evaluates every submission
        assert drain["rows"] == api["submission"]["requests"] and drain["left"] == 0, drain
        assert 1 <= drain["runs"] <= drain["rows"] and drain["failed"] == 0, drain
    else:  # eager: each submission was evaluated as it was made
        assert drain.get("reason") and "rows" not in drain, drain
    assert not {"reevaluate", "copy_baseline", "latency", "scale_out", "audit_pdf"} & set(result)
