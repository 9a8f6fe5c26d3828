"""Waiting until a lab host's daemons answer: SSH, SMTP and IMAP banners."""

from __future__ import annotations

import socket
import time

from migrator.errors import LabError

BANNERS = ((22, b"SSH-"), (25, b"220 "), (143, b"* OK"))


def wait_ready(host: str, address: str, timeout: float = 30.0) -> None:
    """Return once every banner of BANNERS answers on address. Raises LabError on timeout."""
    deadline = time.monotonic() + timeout
    for port, banner in BANNERS:
        while not _answers(address, port, banner):
            if time.monotonic() > deadline:
                waited = f"after {timeout}s"
                raise LabError(f"no {banner!r} banner on {address}:{port} {waited}", host=host)
            time.sleep(0.02)


def _answers(address: str, port: int, banner: bytes) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2) as conn:
            conn.settimeout(2)
            return conn.recv(64).startswith(banner)
    except OSError:
        return False
