"""Telephony providers, each behind the small interface in `base`."""
