"""CPU a Lambda cold start spends importing the app, per function, beside chalice + boto3 alone.

Every Lambda function of the stack (the API handler and each queue consumer and schedule
app.py declares) starts by importing ``app`` and looking its handler up; what that import
costs beyond the runtime's own libraries is paid on every cold start. Each figure is the
whole CPU time (user + system) of a fresh Python process, median of ``RUNS`` processes:
ours runs ``import app; app.<handler>``, the baseline only ``import chalice, boto3``.
Baseline and ours alternate so a busy machine slows both alike.

`make package` ships bytecode for every module (infra/compile_package.py), so the
functions are measured with bytecode for everything, kept in a scratch PYTHONPYCACHEPREFIX
whatever this machine has cached. The last line shows what the import would cost from
source, as `chalice package` alone ships it (Lambda's code directory is read-only, so none
is written): each cold start would compile app.py and every chalicelib module it imports.

    .venv/bin/python bench/cold_start.py [runs]

The RESULT value is the slowest function's median CPU in ms; ratio = baseline / ours
(higher is better, 1.0 would be free). Goal: ours - baseline < 150 ms for every function.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
GOAL_MS = 150
# What a deployed function has in its environment, minus credentials (importing makes no call).
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POSTLINE_STAGE": "dev",
       "AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline"}
BASELINE = "import chalice, boto3"
# Counts the AWS calls an import makes (expected: none); run once, apart from the timed runs.
COUNT_CALLS = """
import botocore.client
calls = []
original = botocore.client.BaseClient._make_api_call
botocore.client.BaseClient._make_api_call = lambda self, op, params: calls.append(op) or original(self, op, params)
import app
print(len(calls))
"""


def cpu_ms(code: str, env: dict[str, str]) -> float:
    """CPU (user + system) of one fresh interpreter running ``code``, in ms."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {code!r}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def functions() -> list[tuple[str, str]]:
    """(function, handler attribute) for each Lambda function app.py declares."""
    sys.path.insert(0, str(ROOT))
    os.environ.update({k: v for k, v in ENV.items() if k.startswith(("AWS_", "POSTLINE_"))})
    import app

    found = [("api_handler", "app")] if app.app.routes else []
    found += [(source.name, source.handler_string.split(".", 1)[1]) for source in app.app.event_sources]
    found += [(function.name, function.handler_string.split(".", 1)[1])
              for function in getattr(app.app, "pure_lambda_functions", [])
              if function.name not in {f for f, _ in found}]
    return found


def measure(entry_points: list[tuple[str, str]], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Median CPU ms of the baseline and of each function's import."""
    base_runs: list[float] = []
    medians: dict[str, float] = {}
    for name, attr in entry_points:
        ours = []
        for _ in range(RUNS):
            base_runs.append(cpu_ms(BASELINE, env))
            ours.append(cpu_ms(f"import app; app.{attr}", env))
        medians[name] = statistics.median(ours)
    return statistics.median(base_runs), medians


def main() -> None:
    entry_points = functions()
    cache = tempfile.mkdtemp(prefix="postline-pycache-")
    try:
        compiled = {**ENV, "PYTHONPYCACHEPREFIX": cache, "PYTHONDONTWRITEBYTECODE": ""}
        aws_calls = subprocess.run([sys.executable, "-c", COUNT_CALLS], cwd=ROOT, env=compiled, check=True,
                                   capture_output=True, text=True).stdout.strip()  # also compiles everything
        fixed = {**compiled, "PYTHONDONTWRITEBYTECODE": "1"}
        print(f"{len(entry_points)} Lambda functions; median of {RUNS} fresh processes each; "
              f"AWS calls made by importing app: {aws_calls}")
        baseline, medians = measure(entry_points, fixed)
        own = Path(cache + str(ROOT))  # the project's own bytecode removed: chalice package alone
        shutil.rmtree(own / "chalicelib")
        for app_bytecode in own.glob("app.*.pyc"):
            app_bytecode.unlink()
        base_source, api_source = measure(entry_points[:1], fixed)
        from_source = max(api_source.values()) - base_source
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"baseline (import chalice, boto3): {baseline:.0f} ms CPU")
    for name, ms in medians.items():
        added = ms - baseline
        print(f"  {name:28s} {ms:6.0f} ms CPU  (+{added:.0f} ms over baseline"
              f"{'' if added < GOAL_MS else f', over the {GOAL_MS} ms goal'})")
    worst = max(medians.values())
    print(f"slowest function adds {worst - baseline:.0f} ms of CPU per cold start (goal: < {GOAL_MS} ms)")
    print(f"without the package's bytecode (project compiled from source), importing app adds "
          f"{from_source:.0f} ms")
    print(f"RESULT cold_start {worst:.0f} ms ratio={baseline / worst:.2f}")


if __name__ == "__main__":
    main()
