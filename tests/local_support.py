"""Helpers for tests that run real local-stack parts (a moto server subprocess, the runtime):
the shared ones live in local/testing.py, beside the benches' use of them."""

from __future__ import annotations

from pathlib import Path

from local.testing import free_port, running_emulator

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "free_port", "running_emulator"]
