"""The kinds of delivery proof apply can run, and the default: apart from the proof itself so
that commands which never apply (plan, status, check) need not import it."""

from __future__ import annotations

from enum import StrEnum


class ProofMode(StrEnum):
    """What apply sends to prove delivery: one message, or the A/B corpus."""

    BASIC = "basic"
    AB = "ab"


# apply's proof when none is chosen: the one owner of that default (the CLI, fleet runs, the
# executor and the Ansible collection all read it).
DEFAULT_PROOF = ProofMode.AB
