"""Bounce categories (seed-C §2.2) from SES's bounce type, subtype, status and diagnostic code:
one test per row of the classification table."""

from __future__ import annotations

import pytest

from chalicelib.sending import bounces
from chalicelib.suppressions.service import BOUNCE_CATEGORIES
from local.ses_events import CATEGORY_SAMPLES


@pytest.mark.parametrize("bounce_type,subtype,status,diagnostic,category,code", [
    # SES's subtype decides where it is unambiguous
    ("Permanent", "NoEmail", "5.1.1", "smtp; 550 mailbox unavailable", "badrecipient", 550),
    ("Permanent", "Suppressed", None, None, "badrecipient", 550),
    ("Permanent", "OnAccountSuppressionList", None, None, "badrecipient", 550),
    ("Transient", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 over quota", "overquota", 452),
    ("Transient", "MessageTooLarge", "5.3.4", "smtp; 552 5.3.4 size limit exceeded", "content", 552),
    ("Transient", "ContentRejected", "5.7.1", "smtp; 554 rejected", "content", 554),
    ("Transient", "AttachmentRejected", None, None, "content", 450),
    # General and Undetermined: the diagnostic, rule by rule in table order
    ("Permanent", "General", "5.7.26", "smtp; 550-5.7.26 This mail is unauthenticated, which poses a security "
                                       "risk to the sender and Gmail users", "spam_gmail", 550),
    ("Transient", "General", "4.7.28", "smtp; 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail",
     "spam_gmail", 421),
    ("Transient", "General", "4.7.1", "smtp; 451 4.7.1 Temporary error, please retry", "greylisting", 451),
    ("Transient", "General", "4.7.1", "smtp; 450 4.7.1 Greylisted, see http://postgrey", "greylisting", 450),
    ("Permanent", "General", "5.7.1", "smtp; 550 5.7.1 Message rejected as spam", "spam", 550),
    ("Permanent", "General", "5.0.0", "smtp; 555 [CS01] Message rejected due to local policy", "spam", 555),
    ("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown", "badrecipient", 550),
    ("Permanent", "General", "5.0.0", "smtp; 550 Requested action not taken: mailbox unavailable", "badrecipient",
     550),
    ("Permanent", "General", "5.2.2", "smtp; 552 5.2.2 The email account that you tried to reach is over quota",
     "overquota", 552),
    ("Permanent", "General", "5.7.1", "smtp; 554 5.7.1 <x@y.test>: Relay access denied", "relayfail", 554),
    ("Permanent", "General", "5.7.1", "smtp; 550 5.7.1 Sender verify failed", "verifyfail", 550),
    ("Permanent", "General", "5.1.8", "smtp; 553 5.1.8 Sender address rejected: Domain not found", "badsender", 553),
    ("Permanent", "General", "5.4.4", "smtp; 550 5.4.4 Unrouteable address", "dnsFail", 550),
    ("Permanent", "General", "5.7.1", "smtp; 554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using "
                                      "zen.spamhaus.org", "block", 554),
    ("Permanent", "General", "5.6.0", "smtp; 554 5.6.0 Message contains a virus", "content", 554),
    ("Transient", "General", "4.4.7", "smtp; 421 4.4.7 Connection timed out", "timeout", 421),
    ("Permanent", "General", "5.7.1", "smtp; 550 5.7.1 Message refused by local policy", "serverpolicy", 550),
    ("Transient", "General", "4.3.0", "smtp; 421 4.3.0 Mail system not accepting messages", "serverfail", 421),
    ("Permanent", "General", "5.0.0", "smtp; 550 5.0.0 Delivery failed", "generalfail", 550),
    ("Transient", "General", "4.0.0", "smtp; 450 4.0.0 Try later", "transientfail", 450),
    # neither subtype nor diagnostic: the bounce type
    ("Permanent", "General", None, None, "generalfail", 550),
    ("Transient", "General", None, None, "transientfail", 450),
    ("Undetermined", "Undetermined", None, None, "other", 550),
])
def test_bounce_classification(bounce_type, subtype, status, diagnostic, category, code):
    found = bounces.classify_bounce(bounce_type, subtype, status, diagnostic)
    assert (found.category, found.response_code) == (category, code)
    if diagnostic:
        assert found.response == diagnostic.removeprefix("smtp; ")


@pytest.mark.parametrize("delay_type,diagnostic,category", [
    ("MailboxFull", None, "overquota"),
    ("SpamDetected", None, "spam"),
    ("IPFailure", None, "block"),
    ("TransientCommunicationFailure", None, "timeout"),
    ("RecipientServerError", None, "serverfail"),
    ("InternalFailure", None, "serverfail"),
    ("BYOIPHostNameLookupUnavailable", None, "dnsFail"),
    ("SendingDeferral", None, "serverpolicy"),
    ("General", "smtp; 451 4.7.1 greylisted", "greylisting"),
    ("General", None, "transientfail"),
    ("Undetermined", None, "other"),
])
def test_delivery_delay_classification(delay_type, diagnostic, category):
    assert bounces.classify_delay(delay_type, None, diagnostic).category == category


def test_the_local_samples_cover_every_category_and_classify_back_to_it():
    assert set(CATEGORY_SAMPLES) == set(BOUNCE_CATEGORIES)
    for category, (status, diagnostic) in CATEGORY_SAMPLES.items():
        kind = "Permanent" if status.startswith("5") else "Transient" if status else "Undetermined"
        found = bounces.classify_bounce(kind, "General" if status else "Undetermined", status or None,
                                        diagnostic or None)
        assert found.category == category, (category, diagnostic)
