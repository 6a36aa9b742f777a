"""Email sending: the send and batch API on the transactional and bulk hosts, message
records, MIME building, the SQS delivery worker into SES, unsubscribes and email logs."""
