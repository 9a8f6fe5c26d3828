"""The lab: sandbox Postfix + Dovecot hosts on this machine, reached over real SSH."""
