#!/bin/sh
# Runs inside a new lab host: in its netns, in fresh mount and UTS namespaces (unshare).
# Gives the host its own /etc, /var (overlays over this machine's), /run, /root, /home (tmpfs),
# its users and keys, runs the profile's set-up commands and starts sshd, Dovecot and Postfix.
# Everything it needs comes in LAB_* variables; see migrator/lab/sandbox.py.
set -eu
auth_keys=$(cat "$LAB_DIR/authorized_keys")

mount -t overlay overlay -o "lowerdir=/etc,upperdir=$LAB_DIR/etc.upper,workdir=$LAB_DIR/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/var,upperdir=$LAB_DIR/var.upper,workdir=$LAB_DIR/var.work" /var
mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -m 0700 /root/.ssh
printf '%s\n' "$auth_keys" > /root/.ssh/authorized_keys
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
