"""The official mailtrap SDK manages webhooks against Postline."""

from __future__ import annotations

import re

import pytest
from mailtrap.exceptions import APIError
from mailtrap.models.webhooks import CreateWebhookParams, UpdateWebhookParams


def test_sdk_webhooks_crud(sdk):
    mc, _ = sdk
    hooks = mc.webhooks_api.webhooks
    made = hooks.create(CreateWebhookParams(url="https://hooks.example.com/mailtrap", webhook_type="email_sending",
                                            sending_stream="transactional", event_types=["delivery", "bounce"],
                                            payload_format="json"))
    assert re.fullmatch(r"[0-9a-f]{32}", made.signing_secret)
    assert (made.url, made.active, made.event_types) == ("https://hooks.example.com/mailtrap", True,
                                                         ["delivery", "bounce"])
    assert made.id in [w.id for w in hooks.get_list()]
    assert hooks.get_by_id(made.id).sending_stream == "transactional"
    updated = hooks.update(made.id, UpdateWebhookParams(active=False, event_types=["open"]))
    assert (updated.active, updated.event_types) == (False, ["open"])
    assert hooks.delete(made.id).id == made.id
    with pytest.raises(APIError) as err:
        hooks.get_by_id(made.id)
    assert err.value.status == 404


def test_sdk_sees_validation_errors(sdk):
    mc, _ = sdk
    with pytest.raises(APIError) as err:
        mc.webhooks_api.webhooks.create(CreateWebhookParams(url="https://hooks.example.com:8443/x",
                                                            webhook_type="audit_log"))
    assert err.value.status == 422 and "port must be 80 or 443" in str(err.value)
