#!/bin/sh
# Runs inside a new lab host: in its netns, in fresh mount and UTS namespaces (unshare).
# Gives the host its own /etc, /var (overlays over this machine's), /run, /root, /home (tmpfs),
# its users and keys, runs the profile's set-up commands and starts sshd, Dovecot and Postfix.
# Everything it needs comes in LAB_* variables; see migrator/lab/sandbox.py.
set -eu

mount -t overlay overlay -o "lowerdir=/etc,upperdir=$LAB_DIR/etc.upper,workdir=$LAB_DIR/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/var,upperdir=$LAB_DIR/var.upper,workdir=$LAB_DIR/var.work" /var
mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -m 0700 /root/.ssh
cp "$LAB_DIR/authorized_keys" /root/.ssh/authorized_keys
mount -t tmpfs -o mode=0755 tmpfs /home
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p -m 0755 /run/sshd /run/dovecot
hostname "$LAB_HOSTNAME"

if [ -n "${LAB_VMAIL_USER:-}" ]; then
    groupadd -g "$LAB_VMAIL_GID" "$LAB_VMAIL_USER"
    useradd -u "$LAB_VMAIL_UID" -g "$LAB_VMAIL_GID" -d "$LAB_VMAIL_HOME" -s /usr/sbin/nologin "$LAB_VMAIL_USER"
    mkdir -p "$LAB_VMAIL_HOME"
    chown "$LAB_VMAIL_UID:$LAB_VMAIL_GID" "$LAB_VMAIL_HOME"
fi
for user in ${LAB_SYSTEM_USERS:-}; do
    useradd -m -s /bin/sh "$user"
done

# Postfix's chroot needs these, which the distribution's start hook would copy.
for f in localtime hosts services resolv.conf nsswitch.conf host.conf; do
    [ -e "/etc/$f" ] && cp -L "/etc/$f" /var/spool/postfix/etc/ 2>/dev/null || true
done
# No syslog here: each daemon logs to a file of its own, which the LDA must be able to write.
touch /var/log/postfix.log /var/log/dovecot.log
chmod 0666 /var/log/dovecot.log

printf '%s\n' "${LAB_SETUP:-}" | while IFS= read -r command; do
    [ -z "$command" ] || sh -c "$command"
done

/usr/sbin/sshd -f /etc/ssh/sshd_config </dev/null
dovecot </dev/null
postfix start </dev/null
