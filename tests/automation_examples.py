"""The three example automations of seed 000/001 ("Use cases"), as the API takes them.

Their compiled ASL is checked in under tests/fixtures/automations/ (test_automations_asl.py).
"""

from __future__ import annotations

PRO_LIST, ONBOARDING_LIST, VIP_LIST = 11, 12, 13
SENDER = "hello@acme.example"  # on the account's verified sending domain

# Welcome series: contact created -> send email -> delay -> split by plan -> send email.
WELCOME_SERIES = {
    "name": "Welcome series",
    "trigger_type": "contact_created",
    "steps": [
        {"type": "send_email", "template_id": 1, "from_email": SENDER, "subject": "Welcome, {{first_name}}!"},
        {"type": "time_delay", "amount": 2, "unit": "days"},
        {"type": "conditional_split",
         "conditions": {"match": "all", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}]},
         "yes": [{"type": "send_email", "template_id": 2, "from_email": SENDER,
                  "subject": "Getting the most out of Pro"}],
         "no": [{"type": "send_email", "template_id": 3, "from_email": SENDER, "subject": "Why teams upgrade to Pro"}]},
    ],
}

# Onboarding prompts: contact field "plan" updated -> send next steps -> add to "Onboarding".
ONBOARDING_FLOW = {
    "name": "Onboarding prompts",
    "trigger_type": "contact_field_updated",
    "trigger_config": {"field": "plan"},
    "steps": [
        {"type": "send_email", "template_id": 4, "from_email": SENDER, "subject": "Your next steps on {{plan}}"},
        {"type": "add_to_lists", "list_ids": [ONBOARDING_LIST]},
    ],
}

# Event-driven follow-up: custom event "purchase_completed" -> thank you -> mark customer ->
# split on the event's amount: big spenders join the VIP list, others get a nudge later.
EVENT_DRIVEN_FLOW = {
    "name": "Purchase follow-up",
    "trigger_type": "contact_custom_event",
    "trigger_config": {"event_name": "purchase_completed"},
    "steps": [
        {"type": "send_email", "template_id": 5, "from_email": SENDER, "subject": "Thanks for your purchase"},
        {"type": "update_contact_field", "field": "customer", "value": True},
        {"type": "conditional_split",
         "conditions": {"match": "all", "conditions": [
             {"field": "event.params.amount", "operator": "gt", "value": 50}]},
         "yes": [{"type": "add_to_lists", "list_ids": [VIP_LIST]}],
         "no": [{"type": "time_delay", "amount": 3, "unit": "days"},
                {"type": "send_email", "template_id": 6, "from_email": SENDER,
                 "subject": "A little something for next time"}]},
    ],
}

EXAMPLES = {
    "welcome_series": WELCOME_SERIES,
    "onboarding_flow": ONBOARDING_FLOW,
    "event_driven_flow": EVENT_DRIVEN_FLOW,
}
