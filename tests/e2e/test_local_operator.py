"""Operator tools against the local stack: found from its state directory (never whatever
answers on a default port), no credentials needed, one-line refusals, one-line port conflicts,
and a Ctrl-C under load that stops without tracebacks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
import requests
from local_support import ROOT, free_port, running_emulator

from local import state
from local.settings import LocalSettings
from tests.e2e.test_local_smoke import Stack

TOOLS = [
    ["-m", "local", "create-account", "--name", "Acme", "--email", "ops@acme.test"],
    ["-m", "local.domains", "pending"],
    ["-m", "local.limits", "show", "--account-id", "1"],
    ["-m", "local.dedicated_ips", "show", "--account-id", "1"],
]


def _tool(args: list[str], state_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """A tool as an operator runs it: no AWS credentials or endpoint in the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POSTLINE_"))}
    clean.update(POSTLINE_STATE_DIR=str(state_dir), AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                 **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", TOOLS, ids=lambda a: a[1])
def test_a_tool_with_no_stack_in_its_state_directory_refuses_in_one_line(tmp_path, args):
    done = _tool(args, tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"error: no local stack is running from {tmp_path}"), done.stderr
    assert len(done.stderr.splitlines()) == 1


def _settings(state_dir: Path, aws_port: int) -> LocalSettings:
    return LocalSettings(aws_port=aws_port, api_port=free_port(), state_dir=state_dir, owner_email="o@x.test",
                         stage="dev")


def _make_stack(port: int) -> str:
    cfn = boto3.client("cloudformation", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    return cfn.create_stack(StackName="postline", TemplateBody=json.dumps({"Resources": {
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"operator-{port}"}}}}))["StackId"]


def test_the_record_must_name_a_live_process_and_the_emulator_it_made(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTLINE_AWS_PORT", raising=False)
    with running_emulator() as emulator:
        ls = _settings(tmp_path, emulator.port)
        stack_id = _make_stack(emulator.port)
        state.write(ls, "us-east-1", stack_id, {})
        assert state.find(ls).stack_id == stack_id  # this process, this emulator: found

        state.write(ls, "us-east-1", stack_id.replace("stack/postline/", "stack/postline/other-"), {})
        with pytest.raises(state.StackNotFound, match="another stack answers there"):
            state.find(ls)  # an emulator answers on the port, but it is not the recorded stack's

        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        record = json.loads(state.path(ls).read_text())
        state.path(ls).write_text(json.dumps({**record, "stack_id": stack_id, "pid": int(dead)}))
        with pytest.raises(state.StackNotFound, match=f"pid {dead}\\) is not running"):
            state.find(ls)

        state.write(ls, "us-east-1", stack_id, {})
        monkeypatch.setenv("POSTLINE_AWS_PORT", str(emulator.port + 1))
        with pytest.raises(state.StackNotFound, match="unset POSTLINE_AWS_PORT"):
            state.find(ls)
    monkeypatch.delenv("POSTLINE_AWS_PORT")
    with pytest.raises(state.StackNotFound, match="does not answer"):
        state.find(ls)  # the emulator is gone


def test_a_busy_smtp_port_stops_make_run_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _tool(["-m", "local", "run"], tmp_path, POSTLINE_AWS_PORT=str(free_port()),
                     POSTLINE_API_PORT=str(free_port()), POSTLINE_SMTP_PORT=str(free_port()),
                     POSTLINE_BULK_SMTP_PORT=str(free_port()), POSTLINE_SMTP_TLS_PORT=str(port),
                     POSTLINE_BULK_SMTP_TLS_PORT=str(free_port()))
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"port {port} on 127.0.0.1 (SMTP (transactional, implicit TLS)) is in use" in \
        errors[0] and "POSTLINE_SMTP_TLS_PORT" in errors[0], output


def test_tools_use_the_stack_of_their_state_directory_and_ctrl_c_under_load_is_quiet(tmp_path):
    ours, other = tmp_path / "ours", tmp_path / "other"
    stack = Stack(ours)
    try:
        stack.wait_healthy()
        record = json.loads((ours / state.STACK_FILE).read_text())
        assert record["aws_port"] == stack.aws_port and record["pid"] == stack.process.pid
        made = _tool(TOOLS[0], ours)
        assert made.returncode == 0, made.stderr
        account = json.loads(made.stdout)
        limits = _tool(["-m", "local.limits", "show", "--account-id", str(account["account_id"])], ours)
        assert limits.returncode == 0 and json.loads(limits.stdout)["plan"] == "free", limits.stderr
        ip = _tool(["-m", "local.dedicated_ips", "set", "--account-id", str(account["account_id"]),
                    "--ip", "198.51.100.7", "--pool", "acme"], ours)
        assert ip.returncode == 0 and json.loads(ip.stdout)["per_hour"] == 60, ip.stderr  # warm-up day 1
        # another state directory has no stack: refused, even though a stack answers on a port
        refused = _tool(TOOLS[0], other, POSTLINE_AWS_PORT=str(stack.aws_port))
        assert refused.returncode == 1 and "no local stack is running from" in refused.stderr
        creds = json.loads((ours / "credentials.json").read_text())
        headers = {"Authorization": f"Bearer {creds['api_token']}", "Host": "send.localhost"}
        accounts = requests.get(f"{stack.api}/api/accounts", headers={**headers, "Host": "localhost"},
                                timeout=10).json()
        assert sorted(a["id"] for a in accounts) == [creds["account_id"]]  # the tool's account is not the owner's

        stop = threading.Event()

        def send() -> None:  # load while Ctrl-C comes
            while not stop.is_set():
                try:
                    requests.post(f"{stack.api}/api/send", headers=headers, timeout=10, json={
                        "from": {"email": "hello@demo.postline.invalid"}, "to": [{"email": "owner@postline.local"}],
                        "subject": "load", "text": "x"})
                except requests.RequestException:
                    pass

        senders = [threading.Thread(target=send) for _ in range(4)]
        for t in senders:
            t.start()
        try:
            requests.post(f"{stack.api}/api/contacts/imports", headers={**headers, "Host": "localhost"}, timeout=30,
                          json={"contacts": [{"email": f"c{i}@load.test"} for i in range(3000)]})
            threading.Event().wait(3)
        finally:
            output = stack.stop()
            stop.set()
            for t in senders:
                t.join()
    finally:
        stack.stop()
    assert stack.process.returncode == 0, output
    assert "Traceback" not in output, output
    assert not (ours / state.STACK_FILE).exists()  # stopped: tools now refuse
