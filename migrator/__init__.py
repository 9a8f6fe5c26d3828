"""migrator: move Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery."""

__version__ = "0.1.0"
