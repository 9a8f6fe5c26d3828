# The documentation of the migrator.mail.lmtp action plugin; the work is done on the
# controller by plugins/action/lmtp.py, so this file never runs on a host.

DOCUMENTATION = r"""
module: lmtp
short_description: Switch Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery, safely
description:
  - Manages one thing, how Postfix hands mail to Dovecot on a host, through its O(state),
    as Ansible modules do; each state is one of migrator's commands.
  - O(state=migrated) plans the switch on the controller (Augeas, migrator's rules),
    applies it over the task's own connection (become is honoured) as one journaled
    transaction on the host, reloads Dovecot then Postfix, probes LMTP and proves delivery
    with the A/B proof, as C(migrator apply) does. The proof messages go to the test
    recipient through the LDA before the switch and through LMTP after it; any difference
    the plan did not announce fails the task (and rolls back).
  - O(state=finalized) is C(migrator finalize), the step after the switch has been
    watched for a while. The old LDA pipe service stays in master.cf after the switch (mail
    queued for it must still be delivered, and rollback needs it); on a host migrator
    migrated (C(migrator status) says migrated) with nothing queued for that service, it
    removes the pipe services no hook names any more from master.cf, with each one's
    C(<service>_destination_recipient_limit) in main.cf, checks and reloads Postfix and
    proves delivery with a test message over LMTP. The queue is checked when planning and
    again on the host right before the write.
  - O(state=finalized) refuses, failing the task in one line that names the host and what
    blocks it, with nothing changed on the host, in check mode too, when the host is not
    migrated (naming its state - clean, planned, drifted since apply, interrupted, rolled
    back - or the hook that still runs the LDA), when mail queued for the pipe service is
    bound to it (the count and the queue ids), or when another parameter or master.cf option
    still names the pipe. It never migrates a host first - finalizing removes what rollback
    needs, so it stays a separate, deliberate step. A host with no pipe service left reports
    C(changed=false) (outcome C(no changes)), so finalizing again is a no-op.
  - Why a state and not a separate module - a finalized host is the same resource as a
    migrated one, further along (migrated, then finalized; C(rolled_back) undoes the last of
    them), so it is one O(state) of the module that manages the switch, as Ansible's
    C(state) options name the end state wanted; the options the states share (test
    recipient, plans, keys, rollback) mean the same in each.
  - O(state=rolled_back) restores the host's last apply from its journal, byte for byte, and
    proves delivery - through the LDA after undoing the switch, over LMTP after undoing a
    finalize (the pipe service is back; the host is migrated again). On a finalized host it
    undoes the finalize only (C(lmtp_info)'s RV(migrator.mail.lmtp_info#module:rollback) says
    what the next rollback undoes); a second run then undoes the switch.
  - O(state=rolled_back) refuses, as C(migrator rollback) does, failing the task in one line
    with nothing restored, when a file was edited since that apply (its edited copy is kept
    in the journal); O(force=true) is C(migrator rollback --force) and discards the edit.
    Check mode refuses the same when the files it reads show the edit.
  - Any failure after the first write rolls the host back byte for byte (as
    C(migrator apply --rollback-on-fail)); the task then fails with C(rolled_back=true).
  - Check mode plans and changes nothing (with O(state=finalized) it reports in RV(removes)
    and RV(changes) what would be removed); diff mode returns the file diffs.
  - A parameter the O(state) does not use fails the task, as does one another parameter
    makes moot (O(lmtp) or O(plans_dir) with O(plan), O(proof_mode) with O(proof=false)),
    so nothing written is silently ignored.
  - "The CLI's options, as a play spells them - C(--plan) is O(plan); C(--rollback-on-fail)
    is O(rollback_on_fail) (on by default); C(--test-recipient) is O(test_recipient) or the
    host variable C(migrator_test_recipient); C(--plans-dir), C(--plan-key) and
    C(--require-signature) are O(plans_dir), O(plan_key) and O(require_signature);
    C(rollback --force) is O(force);
    C(--yes) has no counterpart, as a task never asks (review with C(--check --diff), then
    apply the saved O(plan)); C(-i), C(--limit), C(--forks) and C(--list-hosts) are
    ansible-playbook's own; C(--canary), C(--wave) and C(--max-fail) are the play's
    C(serial) and C(max_fail_percentage); C(--saved-plans) is O(plan) set to the host's
    latest saved plan (see the examples); C(-F) and C(--accept-new-host-key) are the
    connection's settings; C(--log), C(--report-json) and C(--report-junit) are the
    registered results and the job's events (AWX keeps them)."
  - Needs the C(migrator) Python package (and libaugeas) on the controller or in the
    execution environment; the mail host needs only C(sh) and coreutils.
version_added: "0.1.0"
author: migrator
options:
  state:
    description:
      - V(migrated) switches the host to LMTP; V(finalized) removes the LDA pipe service a
        migrated host no longer uses; V(rolled_back) restores the host's last apply (the
        switch, or the finalize).
      - V(rolled_back) takes only O(test_recipient) and O(force).
    type: str
    choices: [migrated, finalized, rolled_back]
    default: migrated
  test_recipient:
    description:
      - Mailbox that receives the LMTP probe and the test messages.
      - Defaults to the host variable C(migrator_test_recipient) (as migrator's C(-i) reads
        it); when both are set they must be equal. A fresh plan needs one of them; a given
        O(plan) has its own, which this replaces.
    type: str
  lmtp:
    description:
      - LMTP endpoint, V(unix) or V(inet:127.0.0.1:24).
      - O(state=migrated) only, and not with O(plan) (the plan names its endpoint).
    type: str
    default: unix
  plan:
    description:
      - Path of a reviewed saved plan (from C(migrator plan), C(migrator finalize) or this
        module's O(plans_dir)) to apply instead of planning afresh; only while the host's
        files still match it. A plan already on the host reports C(changed=false).
      - Its kind must match the O(state) - a finalize plan with V(finalized), a migration
        plan with V(migrated).
    type: path
  proof:
    description:
      - Prove delivery with real messages through Postfix (see O(proof_mode)).
      - V(false) sends none; the LMTP probe runs either way.
      - O(state=migrated) only (a finalize always proves delivery with one test message).
    type: bool
    default: true
  proof_mode:
    description:
      - V(ab) (migrator's default) sends the proof messages through the LDA
        before the switch and through LMTP after it and compares them kind by kind, as
        C(migrator apply).
      - V(basic) sends one test message after the switch, as C(migrator apply --proof basic).
      - O(state=migrated) only, and not with O(proof=false).
    type: str
    choices: [ab, basic]
    default: ab
  rollback_on_fail:
    description:
      - Put every byte back (and prove delivery) when anything fails after the first write,
        as C(migrator apply --rollback-on-fail) and C(migrator finalize --rollback-on-fail).
      - V(false) leaves a failed host as the failure left it, journaled, for a person to
        look at (C(lmtp_info) then says C(failed, needs attention)); O(state=rolled_back)
        undoes it.
    type: bool
    default: true
  force:
    description:
      - Roll back files edited since the apply being undone too, as
        C(migrator rollback --force); their edited copies stay in the host's journal.
      - V(false) refuses such a host, failing the task in one line naming the files, with
        nothing restored.
      - O(state=rolled_back) only.
    type: bool
    default: false
  plans_dir:
    description:
      - Controller directory where fresh plans are saved (plans_dir/HOST/PLAN_ID.json).
      - Not with O(plan) (a given plan is not saved again).
    type: path
  plan_key:
    description:
      - Controller file of at least 32 random bytes, mode 0600, as migrator's C(--plan-key).
      - Fresh plans saved under O(plans_dir) are signed with it; a O(plan) given is verified.
      - Defaults to the controller's E(MIGRATOR_PLAN_KEY_FILE).
    type: path
  require_signature:
    description:
      - Refuse a O(plan) not signed with O(plan_key), as migrator's C(--require-signature);
        needs O(plan_key).
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

# Weeks later: ansible-playbook finalize.yml --check --diff lists what would be removed.
- name: Finalize, once nothing is queued for the old LDA pipe
  hosts: mail
  gather_facts: false
  become: true
  serial: [1, "25%"]
  max_fail_percentage: 0
  tasks:
    - name: Remove the LDA pipe service, prove delivery over LMTP
      migrator.mail.lmtp:
        state: finalized
        test_recipient: postmaster@example.org
        plans_dir: "{{ playbook_dir }}/plans"
      register: finalized
    - ansible.builtin.debug:
        msg: "removed {{ finalized.removes | join(', ') or 'nothing' }}"

# As `migrator finalize -i ... --saved-plans`: each host's latest plan saved by a check run.
- name: Apply the reviewed finalize plans
  hosts: mail
  gather_facts: false
  become: true
  tasks:
    - migrator.mail.lmtp:
        state: finalized
        plan: >-
          {{ query('ansible.builtin.fileglob',
                   playbook_dir ~ '/plans/' ~ inventory_hostname ~ '/*.json') | sort | last }}
"""

RETURN = r"""
outcome:
  description:
    - applied, no changes, changes planned (check mode), already applied (a given O(plan)),
      rolled back, needs attention; for O(state=rolled_back) also nothing to roll back,
      already rolled back, or (check mode) the host's state (migrated, finalized, ... as
      C(lmtp_info)'s RV(migrator.mail.lmtp_info#module:state)).
  type: str
  returned: always
plan_id:
  description: The plan's id (its journal on the host carries the same id).
  type: str
  returned: always
steps:
  description:
    - Each step apply took - action, description, seconds, ok, and C(skipped) with why for
      a step that did not run; empty in check mode.
  type: list
  elements: dict
  returned: always
rolled_back:
  description: True when the apply (or finalize) failed and the host was put back.
  type: bool
  returned: state=migrated or state=finalized
proof:
  description:
    - The test message proven delivered (recipient, queue id, relay, mailbox, uid...), or
      null - O(proof_mode=basic)'s and O(state=finalized)'s, and the rollback's.
  type: dict
  returned: always
ab_proof:
  description:
    - The A/B proof, one entry per kind (kind, same, verdict, before, after, differences),
      as C(migrator apply --report-json) carries it; empty under O(proof_mode=basic).
  type: list
  elements: dict
  returned: state=migrated
removes:
  description:
    - The LDA pipe services the finalize removes (or, in check mode, would remove) from
      master.cf; empty when none is left.
  type: list
  elements: str
  returned: state=finalized
  sample: [dovecot]
changes:
  description: What the finalize plan changes, one entry per edit - file, summary, reason.
  type: list
  elements: dict
  returned: state=finalized
plan_warnings:
  description:
    - The plan's warnings (settings of a removed service left for the admin, or that no
      pipe service is left to finalize).
  type: list
  elements: str
  returned: state=finalized
restored:
  description: The files a rollback put back.
  type: list
  elements: str
  returned: state=rolled_back, and after a failed apply in C(rollback)
rollback:
  description: After a failed apply, the rollback's own result (outcome, restored, steps, proof).
  type: dict
  returned: when an apply failed and was rolled back
undoes:
  description:
    - O(state=rolled_back) in check mode - what the rollback would undo, V(migration) (the
      host goes back to the LDA) or V(finalize) (the pipe service comes back, the host stays
      migrated); empty when there is nothing to undo.
  type: str
  returned: state=rolled_back in check mode
round_trips:
  description: Commands run on the host through the connection.
  type: int
  returned: always
"""
