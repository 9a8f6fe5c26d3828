"""Augeas trees over a host's config snapshot, and typed helpers to read and edit them.

Every ``/files/...`` path string lives in this package; callers speak in parameters, services,
settings and blocks.
"""

from __future__ import annotations

DOVECOT_LENS = "Migrator_Dovecot"
"""The Augeas module that reads Dovecot files (switch to the project's own lens here)."""
