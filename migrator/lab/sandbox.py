"""One lab host on this machine: its mount and UTS namespaces, files, processes and teardown.

A host's namespaces are bound to files under the lab's ns/ directory (a private bind mount),
so the host outlives the command that made it; its processes are found by comparing their
mount namespace with that file, and are ended by PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from migrator.errors import LabError
from migrator.lab.profile import Profile
from migrator.lab.state import Lab, LabHost

_STOP_WAIT = 2.0


def host_dir(lab: Lab, host: LabHost | str) -> Path:
    name = host if isinstance(host, str) else host.name
    return lab.directory / "hosts" / name


def ns_file(lab: Lab, host: LabHost | str, kind: str) -> Path:
    name = host if isinstance(host, str) else host.name
    return lab.directory / "ns" / f"{name}.{kind}"


def prepare_ns_dir(lab: Lab) -> None:
    """Make the lab's ns/ a private bind mount, so namespace files can be bound in it."""
    directory = lab.directory / "ns"
    directory.mkdir(parents=True, exist_ok=True)
    if not _is_mountpoint(directory):
        _mount(["--bind", str(directory), str(directory)])
        _mount(["--make-private", str(directory)])


def populate(
    lab: Lab,
    host: LabHost,
    profile: Profile,
    layers: Sequence[str],
    keys: tuple[Path, str],
) -> None:
    """Lay the profile's files (with the given layers), the host keys and sshd config into the
    host's overlay upper dir; keys is (host key directory, client public key)."""
    base = host_dir(lab, host)
    upper = base / "root.upper"
    for name in ("root.upper", "root.work", "mnt"):
        (base / name).mkdir(parents=True, exist_ok=True)
    for layer in ("etc", "var"):
        # Where the host's own /etc and /var writes land, by their old names.
        (base / f"{layer}.upper").symlink_to(f"root.upper/{layer}")
    for relative, source in profile.files(layers).items():
        if relative.partition("/")[0] not in ("etc", "var"):
            raise LabError(f"profile file outside etc/ and var/: {relative}", path=str(source))
        target = upper / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        # Postfix waits (in 0.3 s naps) while a table or main.cf looks modified this very
        # second; a lab's fresh copies are given a past mtime so start-up does not stall.
        os.utime(target, (time.time() - 60, time.time() - 60))
    host_keys, client_pub = keys
    ssh_dir = upper / "etc" / "ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    for key in host_keys.iterdir():
        shutil.copy2(key, ssh_dir / key.name)
    (ssh_dir / "sshd_config").write_text(_sshd_config(host))
    (upper / "etc" / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n{host.address}\t{fqdn(host, profile)}\t{host.name}\n"
    )
    (upper / "etc" / "resolv.conf").write_text("# lab host: no DNS\n")
    (base / "authorized_keys").write_text(client_pub)


def host_file(lab: Lab, host: LabHost | str, path: str) -> Path:
    """Where a file the host wrote at path (absolute, inside the host) is on this machine."""
    return host_dir(lab, host) / "root.upper" / path.lstrip("/")


def fqdn(host: LabHost, profile: Profile) -> str:
    return f"{host.name}.{profile.domain}"


def _sshd_config(host: LabHost) -> str:
    # A file the lab creates whole: key-only root login on the host's own address.
    return "\n".join(
        [
            "# Lab host sshd: key authentication only.",
            f"ListenAddress {host.address}",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "PidFile /run/sshd.pid",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]
    )


def boot(lab: Lab, host: LabHost, profile: Profile, root_fs: Path) -> None:
    """Create the host's namespaces, mount its root (an overlay on root_fs), start its daemons."""
    mnt, uts = ns_file(lab, host, "mnt"), ns_file(lab, host, "uts")
    for path in (mnt, uts):
        path.touch()
    env = _boot_env(lab, host, profile, root_fs)
    script = resources.files("migrator.lab").joinpath("host-mount.sh")
    argv = [
        "nsenter",
        f"--net=/run/netns/{host.netns}",
        "unshare",
        f"--mount={mnt}",
        f"--uts={uts}",
        "--propagation",
        "private",
        "sh",
        str(script),
    ]
    log = host_dir(lab, host) / "init.log"
    with log.open("wb") as out:
        done = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise LabError(f"host set-up failed: {' | '.join(tail)}", host=host.name, path=str(log))


def _boot_env(lab: Lab, host: LabHost, profile: Profile, root_fs: Path) -> dict[str, str]:
    """What host-mount.sh and host-init.sh are told: where the host lives, what it is."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LAB_DIR": str(host_dir(lab, host)),
        "LAB_ROOT": str(root_fs),
        "LAB_INIT": str(resources.files("migrator.lab").joinpath("host-init.sh")),
        "LAB_HOSTNAME": fqdn(host, profile),
        "LAB_SYSTEM_USERS": " ".join(profile.users) if profile.system_users else "",
        "LAB_SETUP": "\n".join(shlex.join(cmd) for cmd in profile.setup),
    }
    if profile.vmail:
        env |= {
            "LAB_VMAIL_USER": profile.vmail.user,
            "LAB_VMAIL_UID": str(profile.vmail.uid),
            "LAB_VMAIL_GID": str(profile.vmail.gid),
            "LAB_VMAIL_HOME": profile.vmail.home,
        }
    return env


def enter_argv(lab: Lab, host: LabHost, argv: Sequence[str]) -> list[str]:
    """The argv that runs argv inside the host's namespaces."""
    return [
        "nsenter",
        f"--net=/run/netns/{host.netns}",
        f"--mount={ns_file(lab, host, 'mnt')}",
        f"--uts={ns_file(lab, host, 'uts')}",
        *argv,
    ]


def host_pids(lab: Lab, host_name: str) -> set[int]:
    """PIDs of every process living in the host's mount namespace."""
    try:
        inode = os.stat(ns_file(lab, host_name, "mnt")).st_ino
    except FileNotFoundError:
        return set()
    wanted = f"mnt:[{inode}]"
    pids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/mnt") == wanted:
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def stop_processes(pids: set[int]) -> None:
    """SIGTERM the given processes, then SIGKILL those still alive after a short wait."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if is_alive(pid)}
        if alive:
            time.sleep(0.01)
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def release_namespaces(lab: Lab, host_name: str) -> None:
    """Unbind the host's namespace files (the mounts inside go with the namespace)."""
    for kind in ("mnt", "uts"):
        path = ns_file(lab, host_name, kind)
        if _is_mountpoint(path):
            _umount(path)
        path.unlink(missing_ok=True)


def release_ns_dir(lab: Lab) -> None:
    directory = lab.directory / "ns"
    if directory.exists() and _is_mountpoint(directory):
        _umount(directory)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_mountpoint(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as info:
        return any(line.split()[4] == target for line in info)


def _mount(args: list[str]) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"mount {' '.join(args)}: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
