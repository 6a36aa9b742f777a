"""Helpers for tests that run real local-stack parts (a moto server subprocess, the runtime)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_emulator(recording: Path | None = None, port: int | None = None) -> Iterator[Emulator]:
    emulator = Emulator("127.0.0.1", port or free_port(), recording).start()
    try:
        emulator.wait_ready()
        yield emulator
    finally:
        emulator.stop()
