"""Config files a tool generates: an edit to one held read-only in a store is refused; an
edit to one whose header says a tool writes it (a control panel, configuration management)
is planned with a warning, since the tool's next run puts the LDA back.

NixOS links /etc/postfix/main.cf, master.cf and /etc/dovecot/dovecot.conf into the Nix store
(built from configuration.nix, relinked at every service start and rebuild); Guix does the
same under /gnu/store. Writing through such a link fails on the read-only store, and where it
did not, the next rebuild would put the LDA back. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrator.config.edits import Edit
from migrator.errors import RefusedError
from migrator.host.config import HostConfig

STORES = {"/nix/store/": "Nix", "/gnu/store/": "Guix"}


def refuse_store_files(host: str, config: HostConfig, edits: Iterable[Edit]) -> None:
    """Raises RefusedError naming the first file to edit that is a link into a store."""
    for path in dict.fromkeys(edit.file for edit in edits):
        real = config.real_files.get(path, path)
        store = next((name for prefix, name in STORES.items() if real.startswith(prefix)), None)
        if store is not None:
            raise RefusedError(
                f"the switch would edit this file, which is {real}, in the {store} store: "
                f"read-only and generated from the system's {store} configuration (NixOS: "
                "services.postfix, services.dovecot2), which would undo any edit; make the "
                "switch there",
                host=host,
                path=path,
            )


def generated_warnings(config: HostConfig, edits: Iterable[Edit]) -> list[str]:
    """One warning for each file to edit whose header says a tool writes it."""
    warnings = []
    for path in dict.fromkeys(edit.file for edit in edits):
        if path in config.generated:
            line, said = config.generated[path]
            warnings.append(
                f"{path}:{line} says {said!r}: whatever writes this file may undo the switch "
                "on its next run (the LDA back in use, the Dovecot listener unused); make the "
                "same change where the file is generated (template, role, panel)"
            )
    return warnings
