"""`make run`: the whole local stack in one foreground process.

Boot order, and why:
1. check that every line of the saved AWS state reads (recording.check: a torn line in the
   middle stops the start, saying how to recover; a torn last line is cut off);
2. start the emulator, and meanwhile load the Chalice app with its stage environment
   (the stage's POSTLINE_* variables must be set before any model is imported);
3. Step Functions execution on, then the stack from infra/template.yaml and its post-pass;
4. restore the saved state (tables and buckets exist by now): the snapshot loaded in
   process, then the journal after it replayed, with progress lines; a new snapshot if the
   journal was long (so the next start loads data, not history); then start journaling;
5. re-drive hooks (queued work from the tables), the bootstrap owner account;
6. the API, the event pump, the scheduler, a snapshot whenever the journal grows by
   SNAPSHOT_EVERY_BYTES; a banner; wait for Ctrl-C or SIGTERM.
Stopping runs the other way: snapshots, scheduler, pump, API; a last snapshot if the journal
is long; the emulator.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from chalice.app import Chalice
from chalice.config import Config

from local import ports, state
from local.emulator import Emulator, EmulatorError, SnapshotTimer
from local.recording import RecordingError
from local.scheduler import Scheduler
from local.settings import HOST, PROJECT_DIR, LocalSettings

log = logging.getLogger("postline.local")
# A start after a kill replays at most about this much journal (~9 s): a journaled write costs
# about its first time again (bench/restart.py: 100k contacts, 92 MB, 51 s; as a snapshot 5 s)
SNAPSHOT_EVERY_BYTES = 16 * 1024 * 1024
# At a start or a stop, a shorter journal is left to replay (under a second) rather than
# snapshotted (seconds with a large state): Ctrl-C after a short session stops at once
SNAPSHOT_AT_START_STOP_BYTES = 1024 * 1024


def prepare_environment(ls: LocalSettings) -> None:
    """Point boto3 and pynamodb at the emulator, with throwaway credentials.

    Credentials are forced, not defaulted: a developer's real profile must never be used
    (or even looked up) by the local stack.
    """
    os.environ["AWS_ENDPOINT_URL"] = ls.aws_endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POSTLINE_PUBLIC_API_URL", ls.api_url)


def load_app(stage: str) -> tuple[Chalice, Config]:
    """The Chalice app and its config, loaded as `chalice local` loads them: the stage's
    environment variables are set before app.py (and so every model) is imported.

    Built here rather than through chalice.cli: importing that pulls in an interactive
    prompt library that queries the terminal at import (garbage on screen, seconds of wait).
    """
    from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE

    from chalicelib.core import aws
    from chalicelib.core import config as core_config

    params: dict[str, Any] = {}
    config = Config(
        chalice_stage=stage, user_provided_params=params,
        config_from_disk=json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text()),
        default_params={"project_dir": str(PROJECT_DIR), "api_gateway_stage": DEFAULT_APIGATEWAY_STAGE_NAME,
                        "api_gateway_endpoint_type": DEFAULT_ENDPOINT_TYPE, "autogen_policy": True})
    os.environ.update(config.environment_variables)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    params["chalice_app"] = app = importlib.import_module("app").app
    core_config.reload()  # the stage's variables are in os.environ now
    aws.reset_clients()
    return app, config


def function_prefix(config: Config) -> str:
    """Lambda function names are <app>-<stage>-<handler> in Chalice deployments."""
    return f"{config.app_name}-{config.chalice_stage}-"


def lambda_timeouts(app: Chalice, config: Config) -> dict[str, int]:
    return {name: config.scope(config.chalice_stage, name).lambda_timeout or 60 for name in app.handler_map}


def lambda_memory(app: Chalice, config: Config) -> dict[str, int]:
    return {name: config.scope(config.chalice_stage, name).lambda_memory_size or 128 for name in app.handler_map}


class LocalStack:
    def __init__(self, ls: LocalSettings) -> None:
        self.ls = ls
        self.emulator = Emulator(HOST, ls.aws_port, ls.recording_path, log_path=ls.state_dir / "aws.log")
        self.components: list[Any] = []  # started, in start order
        self.abandoned: list[str] = []  # what stop() left running
        self.info: dict[str, Any] = {}
        self.snapshots: SnapshotTimer | None = None

    def start(self) -> None:
        from local import recording

        started = time.monotonic()
        ports.check_free(self.ls)  # every listener's port, before anything starts
        self.ls.state_dir.mkdir(parents=True, exist_ok=True)
        prepare_environment(self.ls)
        recording.check(self.ls.recording_path)
        self.emulator.start()
        app, config = load_app(self.ls.stage)  # while the emulator boots
        scheduler = Scheduler(app, function_prefix=function_prefix(config))  # a bad schedule fails here
        self.emulator.wait_ready()
        self._start_aws()
        self._start_services(app, config, scheduler)
        self.info["seconds"] = time.monotonic() - started

    def _restore(self) -> None:
        """The saved state back into the emulator, saying how far it is while it loads."""
        path = self.ls.recording_path
        size = path.stat().st_size if path.exists() else 0
        if size:
            print(f"Loading the saved AWS state ({_display_path(path)}, {size / 1e6:.0f} MB)...", flush=True)

        def report(p: dict[str, Any]) -> None:
            print(f"  {100 * p['bytes'] // max(p['total'], 1)}%: {p['items']:,} items, {p['objects']:,} objects, "
                  f"{p['requests']:,} journaled writes", flush=True)

        restored = self.emulator.restore(report)
        if restored["failed"]:
            log.warning("%d journaled writes failed when replayed; see %s", restored["failed"],
                        _display_path(self.ls.state_dir / "aws.log"))
        for table, count in restored["missing_tables"].items():
            log.warning("%d saved items of table %s were not loaded: the template no longer has it", count, table)
        self.snapshots.snapshot_bytes = restored["snapshot_bytes"]
        # nothing writes until journaling starts: the snapshot is the state exactly
        self.snapshots.save(at_least=SNAPSHOT_AT_START_STOP_BYTES)
        self.info["restored"] = restored

    def _start_aws(self) -> None:
        from chalicelib.core import redrive
        from local import bootstrap, stack

        self.emulator.enable_step_functions()
        stack.deploy()
        self.snapshots = SnapshotTimer(self.emulator, self.ls.recording_path, SNAPSHOT_EVERY_BYTES)
        self._restore()
        self.emulator.start_recording()
        self.info["redrive_failed"] = redrive.run_all()
        self.info["credentials"] = bootstrap.ensure_owner(self.ls.credentials_path, self.ls.owner_email,
                                                          self.ls.api_url)

    def _start_services(self, app: Chalice, config: Config, scheduler: Scheduler) -> None:
        from local.pump import EventPump
        from local.server import ApiServer

        # Finds every consumer's queue first: a missing one fails before anything serves.
        pump = EventPump(app, function_prefix=function_prefix(config), timeouts=lambda_timeouts(app, config),
                         memory=lambda_memory(app, config))
        # Workers before intake, so stop() (the reverse) closes the intake first.
        self.components.append(pump.start())
        self.components.append(scheduler.start())
        self.components.append(ApiServer(app, config, HOST, self.ls.api_port).start())
        self.components.append(self._start_smtp())
        self.components.append(self.snapshots.start())
        self.info["consumers"] = [(p.consumer.handler, p.consumer.queue) for p in pump.pollers]
        self.info["schedules"] = [(j.name, j.expression) for j in scheduler.jobs]

    def _start_smtp(self) -> Any:
        """The SMTP ingress listeners, in this process (in AWS they run as a container service)."""
        import dataclasses

        from chalicelib.smtp import server as smtp_server
        from chalicelib.smtp.settings import settings as smtp_settings

        handle = smtp_server.start(dataclasses.replace(smtp_settings(), self_signed_dir=self.ls.state_dir / "smtp"))
        self.info["smtp"] = handle.ports
        return handle

    def stop(self, grace: float = 5.0) -> None:
        """SMTP and the API stop taking work, then the scheduler and the pump; the emulator last.

        What is still running after ``grace`` seconds (a long import batch) is abandoned, as
        Lambda would cut it off: its queue message goes with the emulator's queues and re-drive
        resumes imports, exports and runs at the next start. Its errors once AWS is gone are not
        printed (one line names it instead)."""
        deadline = time.monotonic() + grace
        for component in reversed(self.components):
            try:
                if hasattr(component, "running"):  # the API, the scheduler, the pump: bounded waits
                    component.stop(timeout=max(0.5, deadline - time.monotonic()))
                else:
                    component.stop()
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)
        busy = [name for c in self.components if hasattr(c, "running") for name in c.running()]
        if busy:
            log.warning("still running after %.0f s, abandoned: %s", grace, ", ".join(busy))
            logging.disable(logging.ERROR)
        self.components.clear()
        if self.snapshots is not None and self.emulator.alive() and "restored" in self.info:
            try:
                saved = self.snapshots.save(at_least=SNAPSHOT_AT_START_STOP_BYTES)
            except (EmulatorError, OSError) as exc:  # the journal still holds every write
                log.warning("could not snapshot the AWS state at shutdown: %s", exc)
            else:
                if saved:
                    print(f"Saved the AWS state: {saved['items']:,} items, {saved['objects']:,} objects "
                          f"in {saved['seconds']:.1f}s", flush=True)
        self.emulator.stop()
        self.abandoned = busy

    def banner(self) -> str:
        ls, info = self.ls, self.info
        creds = info["credentials"]
        state = _display_path(ls.state_dir)
        restored = info["restored"]
        lines = [
            f"Postline local stack (stage {ls.stage}) ready in {info['seconds']:.1f}s",
            f"  API        {ls.api_url}   health {ls.api_url}/api/health, docs {ls.api_url}/api/docs",
            f"  AWS (moto) {ls.aws_endpoint}   (AWS_ENDPOINT_URL for boto3 and the aws CLI)",
            f"  state      {state}/   {restored['items']:,} items, {restored['objects']:,} objects and "
            f"{restored['requests']:,} journaled writes loaded in {restored['seconds']:.1f}s",
            "  SMTP       " + ", ".join(f"{stream} {'TLS ' if tls else 'STARTTLS '}{HOST}:{port}"
                                      for (stream, tls), port in sorted(info["smtp"].items())),
            f"  consumers  {', '.join(f'{h} <- {q}' for h, q in info['consumers']) or 'none'}",
            f"  schedules  {', '.join(f'{n} {e}' for n, e in info['schedules']) or 'none'}",
            f"  owner      account {creds.account_id}; token in {state}/credentials.json",
        ]
        if creds.created:
            lines.append(f"  token      {creds.api_token}   (shown once)")
        if info["redrive_failed"]:
            lines.append(f"  WARNING    re-drive failed for: {', '.join(info['redrive_failed'])} (see the log above)")
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)


def _display_path(path: Any) -> str:
    try:
        return str(path.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def run(ls: LocalSettings) -> int:
    """Start everything, serve until Ctrl-C or SIGTERM, stop everything. Returns an exit code."""
    local = LocalStack(ls)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def force(signum: int, frame: Any) -> None:
        local.emulator.stop(timeout=1)
        os._exit(130)

    # Set both explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    code = 0
    try:
        local.start()
        state.record(ls, local.info["smtp"])  # operator tools find this stack by it
        print(local.banner(), flush=True)
        while local.emulator.alive():
            time.sleep(0.5)
        log.error("the AWS emulator exited unexpectedly; see %s", ls.state_dir / "aws.log")
        code = 1
    except KeyboardInterrupt:
        pass
    except (EmulatorError, RecordingError) as exc:
        log.error("%s", exc)
        code = 1
    finally:
        signal.signal(signal.SIGINT, force)
        signal.signal(signal.SIGTERM, force)
        print("Stopping the local stack (Ctrl-C again to force)...", flush=True)
        state.remove(ls)
        local.stop()
        if local.abandoned:
            # Abandoned work (and the thread pools it started) would hold the interpreter's exit
            # while it fails against the stopped emulator: end the process now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return code
