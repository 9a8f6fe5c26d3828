"""Transports: how migrator reaches a host."""
