"""Telegram-free use cases."""
