"""Every Lambda function imports app.py on its cold start: what only some code paths use must
not load with it (bench/cold_start.py measures the cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each costs CPU at import and serves only some requests: pybars builds its grammar (~0.4 s),
# dnspython is for the DNS checks, PyYAML for the OpenAPI document, email_validator (~15 ms of
# pattern compiling) for the first address checked.
DEFERRED = ("pybars", "pymeta", "dns", "yaml", "email_validator")


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POSTLINE_STAGE": "dev"}
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_importing_app_loads_no_template_dns_or_yaml_library():
    loaded = _modules_after("import app")
    assert "app" in loaded and "chalicelib.templates.engine" in loaded
    early = sorted(m for m in loaded if m.split(".")[0] in DEFERRED)
    assert early == [], f"loaded by `import app` (should load where used): {early}"


def test_the_template_engine_loads_pybars_with_the_first_template():
    loaded = _modules_after("import app\nfrom chalicelib.templates import engine\n"
                            "assert engine.render_string('Hi {{name}}', {'name': 'Ann'}) == 'Hi Ann'")
    assert "pybars" in loaded
