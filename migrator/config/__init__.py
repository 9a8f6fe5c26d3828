"""Augeas trees over a host's config snapshot, and typed helpers to read and edit them.

Every ``/files/...`` path string lives in this package; callers speak in parameters, services,
settings and blocks.
"""

from __future__ import annotations

from migrator.lenses import DOVECOT_LENS as DOVECOT_LENS
