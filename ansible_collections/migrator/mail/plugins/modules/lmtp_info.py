# The documentation of the migrator.mail.lmtp_info action plugin (plugins/action/lmtp_info.py).

DOCUMENTATION = r"""
module: lmtp_info
short_description: Report where a mail host stands in its LDA to LMTP switch
description:
  - migrator's C(status) for each host, one of clean, planned, migrated, drifted since
    apply, rolled back, failed or interrupted. Reads the host's journal and files; changes
    nothing.
version_added: "0.1.0"
author: migrator
options:
  plans_dir:
    description: Controller directory of saved plans (a host with a saved plan reads as planned).
    type: path
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- migrator.mail.lmtp_info:
  register: lmtp
- ansible.builtin.debug:
    msg: "{{ lmtp.status }}"
"""

RETURN = r"""
state:
  description: The host's state.
  type: str
  returned: always
status:
  description: One line, as C(migrator status) prints it.
  type: str
  returned: always
"""
