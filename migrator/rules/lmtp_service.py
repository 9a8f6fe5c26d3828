"""Postfix's side of LMTP: the lmtp(8) client service the switched hooks name.

``lmtp:unix:private/dovecot-lmtp`` names the master.cf service ``lmtp`` (type unix). Every
stock master.cf defines it, but hand-written and generated ones often hold only what the
host used (theappleman/mail's Rex template: smtp, the daemons, the LDA pipe): switched
without it, Postfix defers every message for the switched hooks ("unknown mail transport").
The plan adds Postfix's own line; a service of that name running something else is refused.
Pure.
"""

from __future__ import annotations

from migrator.config.edits import AddMasterService
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError
from migrator.host.config import HostConfig

# As postfix's own master.cf has it, chroot off: the client reaches a socket in the queue
# directory (private/...) or an address, and needs nothing a chroot would have to hold.
COLUMNS = ("-", "-", "n", "-", "-")


def lmtp_service(host: str, config: HostConfig, endpoint: Endpoint) -> list[AddMasterService]:
    """The master.cf service to add for the endpoint's lmtp client, if master.cf lacks it.

    Raises RefusedError when a unix service of that name runs another program.
    """
    name = endpoint.postfix.split(":", 1)[0]
    entries = [e for e in config.master if e.name == name and e.type == "unix"]
    if entries and entries[-1].program == "lmtp":
        return []
    if entries:
        raise RefusedError(
            f"service {name} (unix) runs {entries[-1].program}, not lmtp: the switch names "
            f"{endpoint.postfix} and Postfix would hand mail to that program; rename the "
            "service and plan again",
            host=host,
            path=config.master_file,
            line=entries[-1].line,
        )
    return [
        AddMasterService(
            config.master_file,
            name,
            "unix",
            COLUMNS,
            "lmtp",
            f"master.cf defines no {name} service, and the switch hands mail to "
            f"{endpoint.postfix}: without Postfix's lmtp(8) client every such message "
            "would be deferred",
        )
    ]
