# The documentation of the migrator.mail.lmtp action plugin; the work is done on the
# controller by plugins/action/lmtp.py, so this file never runs on a host.

DOCUMENTATION = r"""
module: lmtp
short_description: Switch Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery, safely
description:
  - Plans the switch on the controller (Augeas, migrator's rules), applies it over the task's
    own connection (become is honoured) as one journaled transaction on the host, reloads
    Dovecot then Postfix, probes LMTP and proves delivery with the A/B proof, as
    C(migrator apply) does. The proof messages go to the test recipient through the LDA before
    the switch and through LMTP after it; any difference the plan did not announce fails
    the task (and rolls back).
  - Any failure after the first write rolls the host back byte for byte (as
    C(migrator apply --rollback-on-fail)); the task then fails with C(rolled_back=true).
  - Check mode plans and changes nothing; diff mode returns the file diffs.
  - Needs the C(migrator) Python package (and libaugeas) on the controller or in the
    execution environment; the mail host needs only C(sh) and coreutils.
version_added: "0.1.0"
author: migrator
options:
  state:
    description:
      - C(migrated) switches the host to LMTP; C(rolled_back) restores the host's last apply.
    type: str
    choices: [migrated, rolled_back]
    default: migrated
  test_recipient:
    description: Mailbox that receives the LMTP probe and the test message.
    type: str
  lmtp:
    description: LMTP endpoint, C(unix) or C(inet:127.0.0.1:24).
    type: str
    default: unix
  plan:
    description:
      - Path of a reviewed saved plan (from C(migrator plan) or this module's O(plans_dir))
        to apply instead of planning afresh.
    type: path
  proof:
    description:
      - Prove delivery with real messages through Postfix (see O(proof_mode)).
      - V(false) sends none; the LMTP probe runs either way.
    type: bool
    default: true
  proof_mode:
    description:
      - V(ab) (migrator's default) sends the proof messages through the LDA before the switch
        and through LMTP after it and compares them kind by kind, as C(migrator apply).
      - V(basic) sends one test message after the switch, as C(migrator apply --proof basic).
    type: str
    choices: [ab, basic]
    default: ab
  plans_dir:
    description: Controller directory where fresh plans are saved (plans_dir/HOST/PLAN_ID.json).
    type: path
  plan_key:
    description:
      - Controller file of at least 32 random bytes, mode 0600, as migrator's C(--plan-key).
      - Fresh plans saved under O(plans_dir) are signed with it; a O(plan) given is verified.
      - Defaults to the controller's E(MIGRATOR_PLAN_KEY_FILE).
    type: path
  require_signature:
    description:
      - Refuse a O(plan) not signed with O(plan_key), as migrator's C(--require-signature).
      - Defaults to the controller's E(MIGRATOR_REQUIRE_SIGNATURE).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Switch to LMTP, canary first
  hosts: mail
  gather_facts: false
  become: true
  serial: [1, "10%"]
  max_fail_percentage: 0
  tasks:
    - migrator.mail.lmtp:
        test_recipient: postmaster@example.org
"""

RETURN = r"""
outcome:
  description: applied, no changes, changes planned (check mode), rolled back, needs attention.
  type: str
  returned: always
plan_id:
  description: The plan's id (its journal on the host carries the same id).
  type: str
  returned: always
steps:
  description: Each step apply took, with seconds and ok.
  type: list
  returned: always
rolled_back:
  description: True when the apply failed and the host was put back.
  type: bool
  returned: state=migrated
proof:
  description: The basic proof's test message (queue id, relay, mailbox, uid), or null.
  type: dict
  returned: always
ab_proof:
  description:
    - The A/B proof, one entry per kind (kind, same, verdict, before, after, differences),
      as C(migrator apply --report-json) carries it; empty under O(proof_mode=basic).
  type: list
  returned: state=migrated
"""
