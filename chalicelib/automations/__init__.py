"""Automations: trigger-based sequences of steps, each activated version a Step Functions workflow."""
