"""Shared by the benchmarks: make lab hosts differ where real hosts of one fleet differ."""

from __future__ import annotations

import subprocess
from pathlib import Path


def distinct_hostnames(names: list[str], ssh_config: Path) -> None:
    """Give every host its own myhostname in main.cf (set by the host's own postconf), so
    main.cf differs from host to host while Dovecot's stock files do not. The file is then
    dated a minute back: Postfix commands nap while main.cf is younger than a second or two,
    which no host planned in real life is."""
    for name in names:
        command = f"postconf -e myhostname={name}.example.test"
        command += " && touch -d '1 minute ago' $(postconf -h config_directory)/main.cf"
        subprocess.run(["ssh", "-F", str(ssh_config), name, command], check=True)
