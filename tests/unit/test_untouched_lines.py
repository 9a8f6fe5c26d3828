"""Property: whatever else a host's files hold, planning changes only the lines it must.

Generated main.cf, master.cf and dovecot.conf files with random comments, blank lines,
parameters, continuation lines, settings and blocks; every line not targeted by an edit must
come out byte-identical and in the same order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.host.facts import FactOverrides
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.local import LocalTransport

WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789_.-/$:", min_size=1, max_size=10).filter(
    lambda w: not w.startswith(("-", "$", "/"))
)
# Names the rules read are left out: a random value for them would be a real change.
RULED = {"mailbox_command", "transport_maps", "recipient_delimiter", "queue_directory"}
RULED |= {"mail_owner", "config_directory", "protocols", "mail_uid", "mail_gid", "base_dir"}
RULED |= {"dovecot_config_version", "mail_plugins"}
NAME = st.from_regex(r"[a-z][a-z_]{2,11}", fullmatch=True).filter(
    lambda n: not n.endswith("_transport") and n not in RULED
)
VALUE = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
COMMENT = st.text("abcdefghij klmnop=#{}", max_size=30).map(lambda t: f"#{t}".rstrip())
SPACE = st.sampled_from(["", " ", "  ", "\t"])

MASTER = """\
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
lmtp      unix  -       -       y       -       -       lmtp
{extra}dovecot   unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/dovecot-lda -f ${{sender}} -d ${{recipient}}
"""


@st.composite
def main_cf(draw: st.DrawFn) -> list[str]:
    lines = []
    for kind in draw(st.lists(st.sampled_from("pcbk"), max_size=15)):
        if kind == "p":
            lines.append(f"{draw(NAME)} = {draw(VALUE)}")
        elif kind == "k" and lines and "=" in lines[-1] and not lines[-1].startswith("#"):
            lines.append(f"    {draw(VALUE)}")
        elif kind == "c":
            lines.append(draw(COMMENT))
        else:
            lines.append("")
    at = draw(st.integers(0, len(lines)))
    while at < len(lines) and lines[at].startswith("    "):
        at += 1
    lines.insert(at, "virtual_transport = dovecot")
    return lines


@st.composite
def dovecot_conf(draw: st.DrawFn) -> list[str]:
    lines = ["protocols = imap lmtp"]
    for kind in draw(st.lists(st.sampled_from("scbx"), max_size=12)):
        indent = draw(SPACE)
        if kind == "s":
            lines.append(f"{indent}{draw(NAME)} = {draw(VALUE)}")
        elif kind == "c":
            lines.append(f"{indent}{draw(COMMENT)}")
        elif kind == "x":
            inner = draw(SPACE) + "  "
            lines += [f"{indent}plugin {{", f"{inner}{draw(NAME)} = {draw(VALUE)}", f"{indent}}}"]
        else:
            lines.append("")
    at = draw(st.integers(0, len(lines)))
    lines[at:at] = ["protocol lda {", "  mail_plugins = $mail_plugins sieve", "}"]
    return lines


def _subsequence(kept: list[str], after: list[str]) -> bool:
    rest = iter(after)
    return all(any(line == other for other in rest) for line in kept)


SERVICE = st.builds(
    (
        "{0:<9} unix  -       n       n       -       -       pipe\n"
        "  flags=R user={1} argv=/usr/bin/{2} {3}\n"
    ).format,
    st.from_regex(r"[a-z][a-z0-9-]{1,8}", fullmatch=True).filter(
        lambda n: n not in ("dovecot", "lmtp")
    ),
    st.from_regex(r"[a-z]{2,8}", fullmatch=True),
    st.from_regex(r"[a-z]{2,8}", fullmatch=True).filter(lambda p: p not in {"deliver"}),
    st.lists(st.sampled_from(["${user}", "${nexthop}", "-f", "${sender}", "-x"]), max_size=4).map(
        " ".join
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    main=main_cf(),
    dovecot=dovecot_conf(),
    extra=st.lists(st.one_of(COMMENT.map(lambda c: f"{c}\n"), SERVICE), max_size=4),
)
def test_untouched_lines_survive(main: list[str], dovecot: list[str], extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {
            "etc/postfix/main.cf": "\n".join(main) + "\n",
            "etc/postfix/master.cf": MASTER.format(extra="".join(extra)),
            "etc/dovecot/dovecot.conf": "\n".join(dovecot) + "\n",
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        plan = build_plan(
            LocalTransport(root, "prop"),
            Options(),
            overrides=FactOverrides(dovecot_version="2.3.19.1"),
        )
    after = {f.path: f.content_after.splitlines() for f in plan.files}
    assert set(after) == {"/etc/postfix/main.cf", "/etc/dovecot/dovecot.conf"}
    main_after = after["/etc/postfix/main.cf"]
    kept = [line for line in main if line != "virtual_transport = dovecot"]
    assert _subsequence(kept, main_after)
    assert "virtual_transport = lmtp:unix:private/dovecot-lmtp" in main_after
    # One new line: one recipient per LMTP transaction, as the pipe had (rules/equivalence.py).
    assert main_after[len(main) :] == ["lmtp_destination_recipient_limit = 1"]
    assert _subsequence(dovecot, after["/etc/dovecot/dovecot.conf"])
