"""The re-drive registry the local runtime calls at boot."""

from __future__ import annotations

from chalicelib.core import redrive


def test_every_hook_runs_once_and_a_failing_one_does_not_stop_the_others(monkeypatch):
    monkeypatch.setattr(redrive, "_hooks", {})
    calls: list[str] = []

    @redrive.register("broken")
    def broken() -> int:
        calls.append("broken")
        raise RuntimeError("table missing")

    @redrive.register("sending")
    def requeue() -> int:
        calls.append("sending")
        return 3

    assert redrive.run_all() == ["broken"]
    assert calls == ["broken", "sending"]
