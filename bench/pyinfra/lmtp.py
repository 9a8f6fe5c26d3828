"""The same LDA -> LMTP edit as bench/ansible/lmtp.yml, as a competent pyinfra user writes it.

pyinfra -y --parallel N INVENTORY bench/pyinfra/lmtp.py         (run)
pyinfra --dry --diff --parallel N INVENTORY bench/pyinfra/lmtp.py  (facts, changes shown)

Sieve: ``files.line`` would append a missing line at the end of 20-lmtp.conf, outside
``protocol lmtp { }`` (Sieve would then load for every protocol and break doveadm), so the
commented stock line inside the block is replaced in place. What it does not do (migrator
does): read the whole config to decide, keep a journal, probe LMTP before switching Postfix,
send and find a test message, roll back on failure. pyinfra needs no Python on the hosts.
"""

from pyinfra.operations import files, server

SOCKET = "/var/spool/postfix/private/dovecot-lmtp"

listener = files.block(
    name="Dovecot LMTP listener in Postfix's queue directory",
    path="/etc/dovecot/conf.d/10-master.conf",
    line=r"^service lmtp \{",
    after=True,
    marker="  # {mark} PYINFRA MANAGED: LMTP listener for Postfix",
    content=(
        "  unix_listener /var/spool/postfix/private/dovecot-lmtp {\n"
        "    mode = 0600\n"
        "    user = postfix\n"
        "    group = postfix\n"
        "  }"
    ),
)

sieve = files.replace(
    name="Sieve stays on for mail that arrives over LMTP",
    path="/etc/dovecot/conf.d/20-lmtp.conf",
    text=r"^  #mail_plugins = \$mail_plugins$",
    replace="  mail_plugins = $mail_plugins sieve",
)

server.shell(name="Dovecot accepts its configuration", commands=["doveconf -n >/dev/null"])

server.shell(
    name="Reload Dovecot before Postfix switches",
    commands=["doveadm reload"],
    _if=lambda: listener.did_change() or sieve.did_change(),
)

server.shell(
    name="LMTP socket is there",
    commands=[
        f"i=0; while [ ! -S {SOCKET} ]; do i=$((i + 1)); [ $i -le 100 ] || exit 1; sleep 0.1; done"
    ],
)

transport = files.line(
    name="Postfix hands virtual mail to Dovecot over LMTP",
    path="/etc/postfix/main.cf",
    line=r"^virtual_transport\s*=.*$",
    replace="virtual_transport = lmtp:unix:private/dovecot-lmtp",
)

server.shell(name="Postfix accepts its configuration", commands=["postfix check"])

server.shell(name="Reload Postfix", commands=["postfix reload"], _if=lambda: transport.did_change())
