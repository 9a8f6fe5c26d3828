# The documentation of the migrator.mail.lmtp_info action plugin (plugins/action/lmtp_info.py).

DOCUMENTATION = r"""
module: lmtp_info
short_description: Report where a mail host stands in its LDA to LMTP switch, and check it
description:
  - migrator's C(status) for each host, one of clean, planned, apply in progress,
    interrupted, C(failed, needs attention), migrated, finalized, drifted since apply, rolled
    back. Reads the host's journal and files.
  - V(finalized) is a host migrated and then finalized (C(migrator finalize) or
    O(migrator.mail.lmtp#module:state=finalized) applied on top of the migration, its files
    unchanged since); V(migrated) a host switched to LMTP whose LDA pipe service is still in
    master.cf. RV(rollback) says what the next rollback would undo - on a finalized host the
    finalize only (the host is then migrated again), on a migrated one the switch.
  - With O(check=true), also migrator's C(check), the post-switch health check (as a
    Nagios plugin runs it) - Postfix's hooks without conflicts, virtual domains not in
    C(mydestination), Dovecot serving C(lmtp) with the plugins C(protocol lda) had, the
    socket's owner and mode (or a loopback-only listener), an LMTP probe (LHLO, MAIL,
    RCPT TO the test recipient, RSET - nothing is delivered), delivery errors logged in the
    last hour, mail deferred at the LMTP endpoint, the mail root, and what the planner says.
    On a host still on the LDA, the LMTP checks are skipped and the planner says whether a
    migration is ready.
  - The check's results come back structured in RV(check) (per check - name, status,
    message, details) for a play to assert on; a check that is not OK never fails this
    task (assert on RV(check.status) or RV(check.checks) for that). The task fails only
    when the host cannot be read.
  - Changes nothing, in check mode or not (C(changed) is always false), so it runs in check
    mode as it runs otherwise.
version_added: "0.1.0"
author: migrator
options:
  plans_dir:
    description: Controller directory of saved plans (a host with a saved plan reads as planned).
    type: path
  check:
    description:
      - Run migrator's C(check) on the host and return its findings in RV(check), as
        C(migrator check --json) has them.
    type: bool
    default: false
  test_recipient:
    description:
      - The recipient the check's LMTP probe asks about (RCPT TO; nothing is delivered), as
        C(migrator check --test-recipient).
      - Defaults to the host variable C(migrator_test_recipient); when both are set they must
        be equal. Without either the probe sends LHLO and MAIL only.
      - Only with O(check=true).
    type: str
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- migrator.mail.lmtp_info:
  register: lmtp
- ansible.builtin.debug:
    msg: "{{ lmtp.status }}"

# After the switch: every check OK, or the play fails naming what is not.
- migrator.mail.lmtp_info:
    check: true
    test_recipient: postmaster@example.org
  register: lmtp
- ansible.builtin.assert:
    that: lmtp.check.status == 'OK'
    fail_msg: >-
      {{ lmtp.check.checks | rejectattr('status', 'eq', 'OK')
         | map(attribute='message') | list }}
- ansible.builtin.assert:
    that: (lmtp.check.checks | selectattr('name', 'eq', 'probe') | first).status == 'OK'
"""

RETURN = r"""
state:
  description:
    - The host's state - clean, planned, apply in progress, interrupted, C(failed, needs
      attention), migrated, finalized, drifted since apply, rolled back.
  type: str
  returned: always
  sample: finalized
status:
  description: One line, as C(migrator status) prints it.
  type: str
  returned: always
plan_id:
  description: The plan the state concerns (the current apply's, or the latest saved one).
  type: str
  returned: always
step:
  description: The step an interrupted or running apply is at.
  type: str
  returned: always
detail:
  description: What a person needs to know about the state, and the command that gets out of it.
  type: str
  returned: always
migration_plan_id:
  description:
    - The migration a finalize followed, when RV(plan_id) is a finalize's (finalized, or a
      finalize failed, interrupted or drifted); empty for a migration.
  type: str
  returned: always
rollback:
  description:
    - What the next rollback (C(migrator rollback), or
      O(migrator.mail.lmtp#module:state=rolled_back)) would undo; null when there is
      nothing to undo (clean, planned, rolled back) or an apply runs.
  type: dict
  returned: always
  contains:
    undoes:
      description: V(migration) (back to the LDA) or V(finalize) (the pipe service back).
      type: str
    plan_id:
      description: The plan it undoes.
      type: str
    leaves:
      description: The host's state after it - V(rolled back), or V(migrated) after a finalize.
      type: str
    leaves_plan_id:
      description: The migration current again after a finalize is undone; else empty.
      type: str
    needs_force:
      description:
        - True when files were edited since that apply - the rollback refuses them unless
          forced (C(--force), O(migrator.mail.lmtp#module:force)); known for an applied host.
      type: bool
    edited:
      description: Those files.
      type: list
      elements: str
check:
  description: migrator's check of the host.
  type: dict
  returned: check=true
  contains:
    status:
      description: The worst status of the checks - OK, WARNING, CRITICAL or UNKNOWN.
      type: str
    code:
      description: That status as a Nagios plugin's exit code, 0 to 3.
      type: int
    delivery:
      description: How Postfix hands mail to Dovecot - lda, lmtp, mixed, none or unknown.
      type: str
    summary:
      description: The Nagios plugin's status line (C(MIGRATOR OK - ... | perfdata)).
      type: str
    metrics:
      description: The numbers worth graphing (queue, deferred_lmtp, log_errors, probe_seconds).
      type: dict
    checks:
      description: One entry per check, in the order they ran.
      type: list
      elements: dict
      contains:
        name:
          description:
            - hooks, domains, dovecot, listener, probe, queue, log, mail_root, migration, read.
          type: str
        status:
          description: OK, WARNING, CRITICAL or UNKNOWN.
          type: str
        message:
          description: What the check saw, one line.
          type: str
        details:
          description: More lines, when there are.
          type: list
          elements: str
"""
