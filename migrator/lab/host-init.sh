#!/bin/sh
# Runs inside a lab host, after host-mount.sh pivoted into its root: only the release root's
# own tools from here on. Adds the host's users and keys, runs the profile's set-up commands
# and starts sshd, Dovecot and Postfix. Everything it needs comes in LAB_* variables.
set -eu
umount -l /.oldroot
rmdir /.oldroot
rm -f /run/migrator-lab-init.sh
auth_keys=$(cat /root/.ssh/authorized_keys)
mkdir -p -m 0755 /run/sshd /run/dovecot

if [ -n "${LAB_VMAIL_USER:-}" ]; then
    groupadd -g "$LAB_VMAIL_GID" "$LAB_VMAIL_USER"
    useradd -u "$LAB_VMAIL_UID" -g "$LAB_VMAIL_GID" -d "$LAB_VMAIL_HOME" -s /usr/sbin/nologin "$LAB_VMAIL_USER"
    mkdir -p "$LAB_VMAIL_HOME"
    chown "$LAB_VMAIL_UID:$LAB_VMAIL_GID" "$LAB_VMAIL_HOME"
fi
for user in ${LAB_SYSTEM_USERS:-}; do
    useradd -m -s /bin/sh "$user"
done
# A non-root admin login with password-less sudo, as many fleets are reached.
if [ -x /usr/bin/sudo ]; then
    # '*': no password, but not a locked account (sshd refuses locked ones without PAM).
    useradd -m -s /bin/sh -p '*' deploy
    mkdir -m 0700 /home/deploy/.ssh
    printf '%s\n' "$auth_keys" > /home/deploy/.ssh/authorized_keys
    chown -R deploy:deploy /home/deploy/.ssh
    echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy
    chmod 0440 /etc/sudoers.d/deploy
fi

# Postfix's chroot needs these, which the distribution's start hook would copy (Debian 13's
# `postfix start` copies them itself; its root has no queue tree yet).
if [ -d /var/spool/postfix/etc ]; then
    for f in localtime hosts services resolv.conf nsswitch.conf host.conf; do
        [ -e "/etc/$f" ] && cp -L "/etc/$f" /var/spool/postfix/etc/ 2>/dev/null || true
    done
fi
# No syslog here: each daemon logs to a file of its own, which the LDA must be able to write.
touch /var/log/postfix.log /var/log/dovecot.log
chmod 0666 /var/log/dovecot.log

printf '%s\n' "${LAB_SETUP:-}" | while IFS= read -r command; do
    [ -z "$command" ] || sh -c "$command"
done

# Dovecot binds its LMTP listener in Postfix's private/ at start, and Postfix's tools need
# every queue directory (without hold/ and trace/, as the packages leave the tree on Debian
# 11 and 12, postqueue fails "malformed showq server response" and postsuper cannot hold):
# where one is missing, Postfix's own post-install makes them (what `postfix check` would,
# without its checks). Those integrity checks (a few hundred commands, most of a host's
# start-up) are skipped at start (quick-start): the tree is fresh from the release's
# packages and the profile's files.
for queue in active bounce corrupt defer deferred flush hold incoming maildrop pid \
    private public saved trace; do
    if [ ! -d "/var/spool/postfix/$queue" ]; then
        postfix post-install create-missing
        break
    fi
done
touch /var/spool/postfix/quick-start
/usr/sbin/sshd -f /etc/ssh/sshd_config </dev/null
dovecot </dev/null
postfix start </dev/null
