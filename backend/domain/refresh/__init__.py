"""Operators' sessions in the console: refresh tokens in rotating families, with reuse detection."""
