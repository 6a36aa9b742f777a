"""The emulated AWS for tests and benches, one way each, with every resource of
infra/template.yaml created (local/stack.py) as `make run` creates them.

- ``in_process_aws()``: moto inside this process (fast; what the test suite runs on).
- ``emulator_aws()``: the local stack's emulator, moto's server in its own process, with this
  process playing the Lambdas against it through ``AWS_ENDPOINT_URL``.
- ``running_emulator()``: that emulator alone, for tests of the emulator itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.emulator import Emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def in_process_aws(execute_state_machines: bool = True) -> Iterator[None]:
    """``execute_state_machines``: moto runs Step Functions executions, as the local stack does."""
    from moto import mock_aws

    from chalicelib.core import aws
    from local import stack

    config = {"stepfunctions": {"execute_state_machine": True}} if execute_state_machines else None
    with mock_aws(config=config):
        aws.reset_clients()
        stack.deploy()
        yield
    aws.reset_clients()


@contextmanager
def running_emulator(recording: Path | None = None, port: int | None = None,
                     timeout: float = 30.0) -> Iterator[Emulator]:
    emulator = Emulator("127.0.0.1", port or free_port(), recording).start()
    try:
        emulator.wait_ready(timeout=timeout)
        yield emulator
    finally:
        emulator.stop()


@contextmanager
def emulator_aws(recording: Path | None = None, step_functions: bool = True) -> Iterator[Emulator]:
    """The emulator with the stack deployed, boto3 and pynamodb of this process pointed at it."""
    from chalicelib.core import aws, config
    from local import stack

    with running_emulator(recording, timeout=60) as emulator:
        if step_functions:
            emulator.enable_step_functions()
        os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
        config.reload()
        aws.reset_clients()
        stack.deploy()
        try:
            yield emulator
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
            config.reload()
            aws.reset_clients()
