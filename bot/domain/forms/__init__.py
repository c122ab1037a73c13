"""The forms: every multi-step chat as data for the flow engine (bot/domain/flow.py), one
module per feature: the coordinators' records, joining, and the admins' changes."""
