"""The embedded AWS: a moto server subprocess on 127.0.0.1, with its control API.

The process is moto's application (local/moto_server.py adds the state file:
journal, restore, snapshot). Run with TZ=UTC (moto's Wait states compare naive local times) and MOTO_PORT set (Step
Functions service integrations call back into ``localhost:$MOTO_PORT``); stack-probe §3/§6.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import requests

log = logging.getLogger("postline.local.emulator")
PROJECT_DIR = Path(__file__).resolve().parents[1]


class EmulatorError(RuntimeError):
    pass


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port now (connections in TIME_WAIT do not count:
    the servers set SO_REUSEADDR too, so a stack restarted at once still starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook that makes the kernel stop the child if we die without cleaning up.

    The emulator runs in its own session, so Ctrl-C reaches only us and we stop it last; this
    covers the other case (we are killed). Linux only; resolved before fork, so the child
    only makes one plain call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Emulator:
    def __init__(self, host: str, port: int, recording_path: Path | None = None,
                 log_path: Path | None = None) -> None:
        self.host, self.port = host, port
        self.recording_path = recording_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http = requests.Session()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Emulator:
        """Start the server process; call ``wait_ready`` before using it."""
        if not port_is_free(self.host, self.port):
            raise EmulatorError(
                f"port {self.port} on {self.host} is in use: is another local stack running? "
                "Stop it, or choose another port with POSTLINE_AWS_PORT.")
        env = dict(os.environ, TZ="UTC", MOTO_PORT=str(self.port))
        env.pop("MOTO_ENABLE_RECORDING", None)  # moto's recorder stays off: moto_server journals writes
        command = [sys.executable, "-m", "local.moto_server", "-H", self.host, "-p", str(self.port)]
        if self.recording_path is not None:
            command += ["--state", str(self.recording_path)]
        output: Any = subprocess.DEVNULL
        if self.log_path is not None:
            output = self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env=env, cwd=PROJECT_DIR, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_parent_death_signal())
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmulatorError(f"the AWS emulator exited at start (code {self.process.returncode})"
                                    + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                self._http.get(f"{self.endpoint}/moto-api/config", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise EmulatorError(f"the AWS emulator did not answer on {self.endpoint} within {timeout:.0f}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _post(self, path: str, timeout: float = 10.0, **kwargs: Any) -> Any:
        response = self._http.post(f"{self.endpoint}/moto-api/{path}", timeout=timeout, **kwargs)
        if response.status_code >= 300:
            raise EmulatorError(f"POST /moto-api/{path} answered {response.status_code}: {response.text[:200]}")
        return response.json() if response.content else None

    def enable_step_functions(self) -> None:
        """Make Step Functions really execute state machines (otherwise they stay RUNNING)."""
        self._post("config", json={"stepfunctions": {"execute_state_machine": True}})

    def restore(self, report: Callable[[dict[str, Any]], None] | None = None, every: float = 2.0) -> dict[str, Any]:
        """Load the state file (snapshot, then journal) into the emulator; calls ``report``
        with the progress every ``every`` seconds. Returns the final counts."""
        progress = self._post("postline/restore")
        last = time.monotonic()
        while progress["state"] == "running":
            time.sleep(0.1)
            progress = self._post("postline/restore-progress")
            if report is not None and progress["state"] == "running" and time.monotonic() - last >= every:
                report(progress)
                last = time.monotonic()
        if progress["state"] != "done":
            raise EmulatorError(f"restoring the saved AWS state failed: {progress.get('error')}"
                                + (f"; see {self.log_path}" if self.log_path else ""))
        return progress

    def start_recording(self) -> None:
        self._post("postline/record")

    def snapshot(self) -> dict[str, Any]:
        """Rewrite the state file as a snapshot of the state now (writes wait meanwhile)."""
        return self._post("postline/snapshot", timeout=600)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the AWS emulator did not stop in %.0fs; killing it", timeout)
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._http.close()


class SnapshotTimer:
    """Snapshots the emulator's state whenever its journal has grown to ``limit`` bytes
    (looked at every ``interval`` seconds), so a start after a kill replays at most about
    that much journal; the runtime also calls ``save`` at start and stop."""

    def __init__(self, emulator: Emulator, path: Path, limit: int, interval: float = 15.0) -> None:
        self.emulator, self.path, self.limit, self.interval = emulator, path, limit, interval
        self.snapshot_bytes = 0  # the file's snapshot part; the rest is journal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def journal_bytes(self) -> int:
        try:
            return self.path.stat().st_size - self.snapshot_bytes
        except FileNotFoundError:
            return 0

    def save(self, at_least: int = 1) -> dict[str, Any] | None:
        """A snapshot if the journal has ``at_least`` bytes; its counts, or None."""
        if self.journal_bytes() < at_least:
            return None
        saved = self.emulator.snapshot()
        self.snapshot_bytes = saved["bytes"]
        return saved

    def start(self) -> SnapshotTimer:
        self._thread = threading.Thread(target=self._run, name="snapshot-timer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                saved = self.save(self.limit)
            except (EmulatorError, requests.RequestException) as exc:
                log.warning("could not snapshot the AWS state: %s", exc)
                continue
            if saved:
                log.info("snapshot of the AWS state: %d items, %d objects in %.1fs",
                         saved["items"], saved["objects"], saved["seconds"])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
