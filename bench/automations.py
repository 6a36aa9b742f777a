"""1,000 contacts enter a welcome series (send, 1-unit delay, split, send) on moto.

Everything is the product's own path against the local stack's AWS emulator (moto's server
in its own process, Step Functions executing; ``AUTOMATION_BENCH_MODE=inprocess`` runs moto
inside this process instead), this process playing the Lambdas: contacts are created through the contacts service, their
``contact.created`` events go through the contact-events FIFO queue to the trigger matcher
(the ``automation_triggers`` handler), which enrolls each contact (re-entry guard, run
quota, run record, one named execution). Then worker threads pump the action queue into the
``automation_actions`` handler until every run has ended; send steps go through the real
sending service (message records and the bulk queue).

Figures: enrollments per second (the matcher draining 1,000 events) and the end-to-end
time (first enrollment to last run completed). Checked: every run ``completed``, exactly
one run and one execution per contact, exactly two emails per contact, the right branch.
The baseline is bare ``start_execution`` calls of the same state machine, same count, in
the same run (those executions are stopped afterwards).

Run from the repository root: ``.venv/bin/python bench/automations.py`` (N=1000 by default;
``AUTOMATION_BENCH_CONTACTS`` changes it).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update({
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "TZ": "UTC", "POSTLINE_STAGE": "dev",
    "POSTLINE_AUTOMATION_TIME_SCALE": str(1 / 60),  # the 1-minute delay waits 1 s
    "POSTLINE_AUTOMATION_RUNS_PER_MONTH": "free:1000000",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("POSTLINE_RESOURCE_PREFIX", None)

import logging  # noqa: E402

N = int(os.environ.get("AUTOMATION_BENCH_CONTACTS", "1000"))
MODE = os.environ.get("AUTOMATION_BENCH_MODE", "local")  # "local": the emulator process; "inprocess"
WORKERS = 4
TIMEOUT = 1800  # for the action phase; a busy 2-core machine needs minutes


def main() -> None:
    logging.disable(logging.WARNING)  # moto logs every failed-by-design state loudly
    # "local": the local stack's emulator, moto's server in its own process (Step Functions
    # executing there), this process playing the Lambdas, as `make run` does.
    from local.testing import emulator_aws, in_process_aws

    with in_process_aws() if MODE == "inprocess" else emulator_aws():
        run_bench()


def _pump(queue: str, handler, stop: threading.Event) -> None:
    from chalicelib.core import aws

    sqs = aws.client("sqs")
    url = aws.queue_url(queue)
    while not stop.is_set():
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            time.sleep(0.02)
            continue
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                              "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                              "awsRegion": "us-east-1"} for m in got]}
        result = handler(event, None) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])


def run_bench() -> None:
    import app as app_module
    from chalicelib.accounts import service as accounts
    from chalicelib.automations import machines
    from chalicelib.automations.models import Run, StepStat, automation_key
    from chalicelib.automations.service import load
    from chalicelib.contacts import contacts as contact_service
    from chalicelib.contacts import fields as contact_fields
    from chalicelib.core import aws
    from chalicelib.core.permissions import ADMIN, Grant, Principal
    from chalicelib.domains import service as domains
    from chalicelib.domains.models import Domain
    from chalicelib.sending.models import Message
    from chalicelib.templates import service as templates
    from chalicelib.templates.request_models import TemplateCreate

    t_setup = time.perf_counter()
    account, _ = accounts.create_account("Bench", "owner@bench.example")
    aid_account = account.account_id
    principal = Principal(aid_account, 0, "bench", (Grant("account", aid_account, ADMIN),))
    domain, _ = domains.create_domain(principal, "bench.example.com")
    domain.update(actions=[Domain.dns_verified.set(True), Domain.compliance_status.set(domains.COMPLIANT)])
    sender = "hello@bench.example.com"
    contact_fields.create_field(aid_account, {"name": "Plan", "data_type": "text", "merge_tag": "plan"})
    tpl = {name: templates.create_template(principal, TemplateCreate(name=name, subject=f"{name} {{{{plan}}}}",
                                                                     category="bench", body_text="Hi {{email}}"))
           for name in ("welcome", "pro", "free")}
    from chalicelib.automations import service as automations
    from chalicelib.automations.request_models import AutomationCreate
    from chalicelib.contacts.request_models import ContactCreate
    from chalicelib.core.request_models import parse

    created = automations.create(principal, parse(AutomationCreate, {
        "name": "Welcome series", "trigger_type": "contact_created", "steps": [
        {"type": "send_email", "template_id": tpl["welcome"].template_id, "from_email": sender},
        {"type": "time_delay", "amount": 1, "unit": "minutes"},
        {"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}],
         "yes": [{"type": "send_email", "template_id": tpl["pro"].template_id, "from_email": sender}],
         "no": [{"type": "send_email", "template_id": tpl["free"].template_id, "from_email": sender}]}]}))
    automation_id = created["id"]
    automations.set_active(automations.editable(principal, automation_id), True)
    machine_arn = automations.asl(principal, automation_id)["state_machine_arn"]
    for i in range(N):  # their "created" events wait in the contact-events queue
        contact_service.create_contact(aid_account, ContactCreate(
            email=f"c{i}@bench.example", fields={"plan": "pro" if i % 2 else "free"}))
    print(f"setup: {N} contacts, automation {automation_id} active ({time.perf_counter() - t_setup:.1f} s)")
    # The emulated AWS keeps everything in this process's heap; park it out of the cyclic
    # garbage collector's way (a Lambda has no such heap). Ours and the baseline alike.
    gc.collect()
    gc.freeze()

    # ---- ours: the matcher drains the contact events (FIFO: one message group per account)
    sqs = aws.client("sqs")
    key = automation_key(aid_account, automation_id)
    t0 = time.perf_counter()
    events_url = aws.queue_url("contact-events.fifo")
    while True:
        got = sqs.receive_message(QueueUrl=events_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                              "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:contact-events",
                              "awsRegion": "us-east-1"} for m in got]}
        result = app_module.automation_triggers(event, None)
        assert not result["batchItemFailures"], result
        sqs.delete_message_batch(QueueUrl=events_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    enroll_seconds = time.perf_counter() - t0
    enrolled = sum(1 for _ in Run.query(key))
    ours = enrolled / enroll_seconds
    print(f"enrolled {enrolled} contacts in {enroll_seconds:.1f} s: {ours:.1f} enrollments/s")

    stop = threading.Event()
    workers = [threading.Thread(target=_pump, args=("automation-actions", app_module.automation_actions, stop),
                                daemon=True) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        counters = StepStat.get(key, 0)  # the run-level counters the worker keeps
        if counters.runs_completed + counters.runs_failed + counters.runs_removed >= enrolled:
            break
        time.sleep(0.5)
    end_to_end = time.perf_counter() - t0
    stop.set()
    for w in workers:
        w.join()

    # ---- checks: none lost, none doubled, right branch
    runs = list(Run.query(key, consistent_read=True))
    statuses = {}
    for r in runs:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    per_contact = {}
    for r in runs:
        per_contact[r.contact_email] = per_contact.get(r.contact_email, 0) + 1
    sfn = aws.client("stepfunctions")
    executions = sum(len(page["executions"]) for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine_arn))
    sent: dict[str, list[str]] = {}
    for m in Message.scan(Message.account_id == aid_account):
        sent.setdefault(m.recipient, []).append(m.subject)
    def expected(email: str) -> list[str]:
        plan = "pro" if int(email[1:].split("@")[0]) % 2 else "free"
        return sorted([f"welcome {plan}", f"{plan} {plan}"])

    wrong_branch = [e for e, subjects in sent.items() if sorted(subjects) != expected(e)]
    ok = (statuses == {"completed": N} and len(per_contact) == N and set(per_contact.values()) == {1}
          and executions == N and len(sent) == N and all(len(s) == 2 for s in sent.values()) and not wrong_branch)
    single = sum(1 for v in per_contact.values() if v == 1)
    pairs = sum(1 for s in sent.values() if len(s) == 2)
    print(f"runs: {statuses}; executions: {executions}; contacts with one run: {single}; "
          f"emails: {sum(len(s) for s in sent.values())} ({pairs} contacts with exactly 2); "
          f"wrong branch: {len(wrong_branch)}")
    print(f"end to end (first enrollment to last run completed, {WORKERS} worker threads): {end_to_end:.1f} s")
    if not ok:
        print("FAILED: runs lost, doubled or not completed")
        sys.exit(1)

    # ---- baseline: bare start_execution of the same machine, same count, same input shape
    automation = load(aid_account, automation_id)
    payload = json.dumps({"run": {"account_id": aid_account, "automation_id": automation_id, "version": 1,
                                  "automation_key": key, "run_key": "baseline", "run_id": "baseline",
                                  "contact_id": "baseline", "failed_status_key": f"{key}#failed"},
                          "delays": {"s2": 1}})
    t1 = time.perf_counter()
    for i in range(N):
        sfn.start_execution(stateMachineArn=machine_arn, name=f"baseline-{i}", input=payload)
    base_seconds = time.perf_counter() - t1
    baseline = N / base_seconds
    print(f"baseline: {N} bare start_execution in {base_seconds:.1f} s: {baseline:.1f} starts/s "
          f"(automation {automation.automation_id} v{automation.active_version})")
    for i in range(N):  # leave nothing running
        sfn.stop_execution(executionArn=f"{machine_arn.replace(':stateMachine:', ':execution:')}:baseline-{i}")
    sqs.purge_queue(QueueUrl=aws.queue_url(machines.ACTIONS_QUEUE))
    print(f"RESULT automations {ours:.1f} enrollments/s ratio={ours / baseline:.2f}")


if __name__ == "__main__":
    main()
