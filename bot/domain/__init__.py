"""Pure rules and texts."""
