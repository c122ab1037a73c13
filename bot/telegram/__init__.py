"""The PTB assembly."""
