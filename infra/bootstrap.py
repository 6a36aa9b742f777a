"""`make bootstrap STAGE=prod OWNER_EMAIL=ops@example.com`: the deployment's first owner account.

Finds the stack's bootstrap function (output BootstrapFunctionName, see postprocess_sam.py),
invokes it once and prints the owner's account id and API token. The token exists only in
this output (the function never logs it): store it in your password manager now. A second
run is refused by the function. Needs AWS credentials allowed to invoke the function.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="CloudFormation stack name, e.g. postline-prod")
    parser.add_argument("--owner-email", required=True)
    parser.add_argument("--account-name", default="")
    args = parser.parse_args(argv)
    try:
        outputs = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        function = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "BootstrapFunctionName"), None)
        if function is None:
            print(f"error: stack {args.stack} has no BootstrapFunctionName output: deploy it with `make deploy`",
                  file=sys.stderr)
            return 1
        response = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps({
            "owner_email": args.owner_email, "account_name": args.account_name}).encode())
        result = json.loads(response["Payload"].read() or b"{}")
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if response.get("FunctionError") or "error" in result:
        print(f"error: {result.get('error') or result.get('errorMessage') or result}", file=sys.stderr)
        return 1
    print(f"Owner account {result['account_id']} ({result['owner_email']}) created.")
    print(f"API token (shown once, store it now): {result['api_token']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
