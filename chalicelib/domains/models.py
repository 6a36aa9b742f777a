"""Sending domains in DynamoDB.

Access patterns (docs/data-model.md):
- domains of an account (query by account_id), one domain of an account (get by
  account_id + domain_id): every API route; tenant isolation is the key itself.
- live domains with one name across accounts (GSI by_name): whether the shared SES identity
  is still used when a domain is deleted.
- every domain (scan, hourly): the scheduled DNS re-check enqueues one check per domain.
- per-account domain settings (get by account_id): company info, the demo domain's id.
- setup-instruction requests by id (the queue consumer), by status (GSI by_status: an
  operator finds requests still queued).
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import TimestampedModel, table_name


class DnsRecordAttribute(MapAttribute):
    """One record the user must publish, and what the last check found."""

    key = UnicodeAttribute()  # verification, dkim1..3, mail_from_mx, spf, dmarc, link_verification
    type = UnicodeAttribute()  # CNAME, TXT, MX
    name = UnicodeAttribute()  # relative to the domain ("" for the apex)
    domain = UnicodeAttribute()  # fully qualified
    value = UnicodeAttribute()
    required = BooleanAttribute(default=True)
    status = UnicodeAttribute(default="unchecked")  # unchecked, pass, fail, missing, network_error
    explanation = UnicodeAttribute(null=True)


class AutoBccHeader(MapAttribute):
    name = UnicodeAttribute()
    value = UnicodeAttribute()


class DomainsByName(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_name"
        projection = AllProjection()

    domain_name = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute(range_key=True)


class Domain(TimestampedModel):
    class Meta:
        table_name = table_name("domains")

    account_id = NumberAttribute(hash_key=True)
    domain_id = NumberAttribute(range_key=True)
    domain_name = UnicodeAttribute()  # ASCII (punycode), lower case
    demo = BooleanAttribute(default=False)
    verification_token = UnicodeAttribute(null=True)
    dkim_tokens = ListAttribute(of=UnicodeAttribute, default=list)
    dkim_token_source = UnicodeAttribute(null=True)  # sesv2, ses, placeholder
    records = ListAttribute(of=DnsRecordAttribute, default=list)
    dns_verified = BooleanAttribute(default=False)
    dns_verified_at = UTCDateTimeAttribute(null=True)
    dns_checked_at = UTCDateTimeAttribute(null=True)
    # A verified domain whose required records stopped passing: sending stops after the grace.
    dns_failing_since = UTCDateTimeAttribute(null=True)
    compliance_status = UnicodeAttribute(default="initial")
    compliance_note = UnicodeAttribute(null=True)  # the reviewer's reason, shown on rejection
    caa_status = UnicodeAttribute(default="unchecked")  # unchecked, allowed, blocked
    caa_explanation = UnicodeAttribute(null=True)
    open_tracking_enabled = BooleanAttribute(default=True)
    click_tracking_enabled = BooleanAttribute(default=False)
    custom_domain_tracking_enabled = BooleanAttribute(default=False)
    auto_unsubscribe_link_enabled = BooleanAttribute(default=False)
    tracking_opt_out_enabled = BooleanAttribute(default=False)
    health_alerts_enabled = BooleanAttribute(default=True)
    critical_alerts_enabled = BooleanAttribute(default=False)
    alert_recipient_email = UnicodeAttribute(null=True)
    auto_bcc_emails = ListAttribute(of=UnicodeAttribute, default=list)
    auto_bcc_headers = ListAttribute(of=AutoBccHeader, default=list)
    token_id = NumberAttribute(null=True)  # the API token created with the domain
    deleted_at = UTCDateTimeAttribute(null=True)  # soft delete: stats keep the name

    by_name = DomainsByName()

    @property
    def live(self) -> bool:
        return self.deleted_at is None


class CompanyInfoAttribute(MapAttribute):
    info_level = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    city = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    zip_code = UnicodeAttribute(null=True)
    privacy_policy_url = UnicodeAttribute(null=True)
    terms_of_service_url = UnicodeAttribute(null=True)
    website_url = UnicodeAttribute(null=True)


class DomainAccountSettings(TimestampedModel):
    """Per-account state of the domains capability: company info and the demo domain."""

    class Meta:
        table_name = table_name("domain_account_settings")

    account_id = NumberAttribute(hash_key=True)
    company_info = CompanyInfoAttribute(null=True)
    info_level_changes = NumberAttribute(default=0)
    demo_domain_id = NumberAttribute(null=True)  # claimed once; a deleted demo is not recreated
    domain_names = UnicodeSetAttribute(null=True)  # names of live domains, claimed before creating one


class SetupInstructionsByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    request_id = UnicodeAttribute(range_key=True)


class SetupInstructionRequest(TimestampedModel):
    """A request to email a domain's DNS instructions (sent as Postline's own mail)."""

    class Meta:
        table_name = table_name("domain_setup_instructions")

    request_id = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute()
    domain_id = NumberAttribute()
    email = UnicodeAttribute()
    status = UnicodeAttribute(default="queued")  # queued -> sending -> sent, or failed (its DLQ)
    failure = UnicodeAttribute(null=True)  # why it failed
    subject = UnicodeAttribute(null=True)
    s3_key = UnicodeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)

    by_status = SetupInstructionsByStatus()
