"""How operator tools find the running local stack: its record in the state directory.

`make run` writes ``<state dir>/stack.json`` once it is ready (its pid, ports, stage and the
id of the CloudFormation stack it made on its emulator) and removes it when it stops. An
operator tool (``python -m local ...``, the domains and limits CLIs) reads the
record of POSTLINE_STATE_DIR and checks, before touching anything, that the process is
alive and that the emulator on the recorded port is the one that process made (same stack
id): a stack started from another directory on the default port is refused, never used.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.settings import HOST, LocalSettings, local_settings

STACK_FILE = "stack.json"


class StackNotFound(RuntimeError):
    """No running stack matches the state directory: one line saying what to do."""


@dataclass(frozen=True)
class RunningStack:
    pid: int
    aws_port: int
    api_port: int
    stage: str
    region: str
    stack_id: str  # the emulator's CloudFormation stack: tells this stack's emulator from another's
    smtp_ports: dict[str, int]

    def settings(self, ls: LocalSettings) -> LocalSettings:
        return dataclasses.replace(ls, aws_port=self.aws_port, api_port=self.api_port, stage=self.stage)


def path(ls: LocalSettings) -> Path:
    return ls.state_dir / STACK_FILE


def write(ls: LocalSettings, region: str, stack_id: str, smtp_ports: dict[str, int]) -> RunningStack:
    record = RunningStack(os.getpid(), ls.aws_port, ls.api_port, ls.stage, region, stack_id, smtp_ports)
    tmp = path(ls).with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(record), indent=2) + "\n")
    os.replace(tmp, path(ls))
    return record


def remove(ls: LocalSettings) -> None:
    """Forget the record, if it is this process's (a second stack refused at start keeps the first's)."""
    try:
        if json.loads(path(ls).read_text()).get("pid") == os.getpid():
            path(ls).unlink()
    except (OSError, ValueError):
        pass


def running_pid(ls: LocalSettings) -> int | None:
    """The pid of a live process recorded as running from this state directory, if any."""
    try:
        pid = int(json.loads(path(ls).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() and _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _emulator_stack_id(record: RunningStack, stack_name: str) -> str | None:
    """The stack id the emulator on the recorded port reports, or None if nothing answers there.

    With throwaway credentials, as the stack itself uses: an operator needs none of their own."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    cfn = boto3.client("cloudformation", endpoint_url=f"http://{HOST}:{record.aws_port}", region_name=record.region,
                       aws_access_key_id="local", aws_secret_access_key="local",
                       config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}))
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    except ClientError:
        return ""  # something answers, but it has no such stack
    except BotoCoreError:
        return None


def find(ls: LocalSettings | None = None) -> RunningStack:
    """The stack running from ``ls.state_dir``, checked; raises StackNotFound."""
    from local.stack import STACK_NAME

    ls = ls or local_settings()
    record_path = path(ls)
    try:
        raw: dict[str, Any] = json.loads(record_path.read_text())
        record = RunningStack(**raw)
    except FileNotFoundError:
        raise StackNotFound(f"no local stack is running from {ls.state_dir} (no {STACK_FILE}): start it with "
                            "`make run`, or set POSTLINE_STATE_DIR to the state directory of the stack you mean"
                            ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise StackNotFound(f"{record_path} is unreadable ({exc}): restart the stack with `make run`") from None
    if not _alive(record.pid):
        raise StackNotFound(f"the local stack recorded in {record_path} (pid {record.pid}) is not running: "
                            "start it with `make run`")
    asked = os.environ.get("POSTLINE_AWS_PORT")
    if asked and asked != str(record.aws_port):
        raise StackNotFound(f"POSTLINE_AWS_PORT={asked}, but the stack running from {ls.state_dir} uses "
                            f"{record.aws_port}: unset POSTLINE_AWS_PORT (tools find the stack from its state "
                            "directory) or set POSTLINE_STATE_DIR to the other stack's")
    found = _emulator_stack_id(record, STACK_NAME)
    if found is None:
        raise StackNotFound(f"the local stack (pid {record.pid}) does not answer on {HOST}:{record.aws_port}: "
                            "is it still starting? Wait for its banner, or restart it")
    if found != record.stack_id:
        raise StackNotFound(f"{HOST}:{record.aws_port} is not the emulator of the stack running from "
                            f"{ls.state_dir} (another stack answers there): refusing to touch it")
    return record


def record(ls: LocalSettings, smtp_ports: dict[tuple[str, bool], int]) -> RunningStack:
    """Write the record of this process's stack, now ready (the environment points at its emulator)."""
    from chalicelib.core import aws
    from chalicelib.core.config import settings
    from local.stack import STACK_NAME

    stack_id = aws.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackId"]
    return write(ls, settings().region, stack_id, {
        f"{stream}{'-tls' if tls else ''}": port for (stream, tls), port in sorted(smtp_ports.items())})
