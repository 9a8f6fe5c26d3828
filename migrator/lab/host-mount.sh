#!/bin/sh
# Runs with this machine's tools inside a new lab host: in its netns, in fresh mount and UTS
# namespaces (unshare). Mounts the host's root, an overlay over its release's root file system
# (writes go to the host's own upper dir), gives it proc, a minimal /dev, fresh /run, /tmp,
# /root and /home, then pivots into it and runs host-init.sh with the root's own tools, so
# nothing of this machine (daemons, configs, libraries) is used by the host.
# Everything it needs comes in LAB_* variables; see migrator/lab/sandbox.py.
set -eu
m=$LAB_DIR/mnt
mount -t overlay overlay -o "lowerdir=$LAB_ROOT,upperdir=$LAB_DIR/root.upper,workdir=$LAB_DIR/root.work" "$m"
mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$m/dev"
for node in null zero full random urandom tty; do
    touch "$m/dev/$node"
    mount --bind "/dev/$node" "$m/dev/$node"
done
mkdir -m 0755 "$m/dev/pts"
mkdir -m 1777 "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$m/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/dev/shm"
ln -s pts/ptmx "$m/dev/ptmx"
ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"
ln -s /proc/self/fd/2 "$m/dev/stderr"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$m/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
mount -t tmpfs -o mode=0700 tmpfs "$m/root"
mount -t tmpfs -o mode=0755 tmpfs "$m/home"
mkdir -m 0700 "$m/root/.ssh"
cp "$LAB_DIR/authorized_keys" "$m/root/.ssh/authorized_keys"
cp "$LAB_INIT" "$m/run/migrator-lab-init.sh"
# The UTS namespace's name, without needing this machine's (or the root's) hostname(1).
printf '%s' "$LAB_HOSTNAME" > "$m/proc/sys/kernel/hostname"

mkdir -p "$m/.oldroot"
cd "$m"
pivot_root . .oldroot
cd /
exec /bin/sh /run/migrator-lab-init.sh
