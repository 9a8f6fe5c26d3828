"""Augeas lenses shipped with migrator, and where to find them."""

from pathlib import Path

LENS_DIR: Path = Path(__file__).resolve().parent
"""Directory to put on Augeas's load path (``loadpath=str(LENS_DIR)``)."""

DOVECOT_LENS = "Migrator_Dovecot"
"""Module name of the project's Dovecot lens; load it as ``f"{DOVECOT_LENS}.lns"``."""

POSTFIX_MASTER_LENS = "Migrator_Postfix_Master"
"""Module name of the project's master.cf lens (the tree shape of the stock Postfix_Master)."""

POSTFIX_MAIN_LENS = "Migrator_Postfix_Main"
"""Module name of the project's main.cf lens (the tree shape of the stock Postfix_Main)."""
