"""Connecting an operator tool to the running local stack (found by its state directory).

The local CLI and the domains and limits CLIs call ``connect()`` before they import any
model: it finds the stack (local.state, or a one-line refusal), points boto3 and
pynamodb at that stack's emulator with throwaway credentials, and loads the app with the
stack's stage environment, so the tool sees exactly the tables the API sees.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from local import state
from local.settings import LocalSettings, local_settings


def connect() -> LocalSettings:
    from local.runtime import load_app, prepare_environment

    ls = local_settings()
    running = state.find(ls).settings(ls)
    prepare_environment(running)
    load_app(running.stage)
    return running


def run_tool(use_aws: bool, body: Callable[[], int]) -> int:
    """Connect, then run ``body``; a failure to reach AWS is one line on stderr and exit 1.

    ``use_aws``: the AWS deployment the environment's credentials reach (POSTLINE_RESOURCE_PREFIX,
    AWS_REGION) instead of the local stack."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from pynamodb.exceptions import PynamoDBException

    try:
        if not use_aws:
            connect()
        return body()
    except state.StackNotFound as exc:
        message = str(exc)
    except (BotoCoreError, ClientError, PynamoDBException) as exc:
        cause: BaseException | None = exc
        while isinstance(cause, PynamoDBException) and cause.cause is not None:
            cause = cause.cause  # pynamodb wraps botocore's error
        if isinstance(cause, NoCredentialsError):
            message = ("--aws needs AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); "
                       "without --aws the tool uses the running local stack and needs none")
        else:
            message = f"AWS: {cause}"
    print(f"error: {message}", file=sys.stderr)
    return 1
