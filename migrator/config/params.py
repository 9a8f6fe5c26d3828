"""main.cf parameters as Postfix reads them: ``$name`` expanded recursively, as ``postconf -x``.

Postfix expands ``$name``, ``${name}`` and ``$(name)`` in a parameter's value from main.cf
(and its compiled-in defaults), and ``${name?text}`` / ``${name:text}`` (text when name is
set / empty); ``$$`` is a literal ``$``. A rule that classified ``virtual_transport = $my_lda``
by its text would see no transport at all. Pure; no I/O. Raw parameters that Postfix itself
never expands at configuration time (``mailbox_command``: local(8) expands its own
``$SENDER``... at delivery) are not for this module.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError

# Postfix's defaults for the names a transport parameter may refer to (postconf -d).
DEFAULTS: Mapping[str, str] = {
    "default_transport": "smtp",
    "relay_transport": "relay",
    "local_transport": "local:$myhostname",
    "virtual_transport": "virtual",
    "mailbox_transport": "",
    "fallback_transport": "",
}
_MAX_DEPTH = 100  # Postfix stops there too ("unreasonable macro call nesting")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_WHOLE_REFERENCE = re.compile(r"\$(?:(\w+)|\{(\w+)\}|\((\w+)\))")
_OPEN = {"{": "}", "(": ")"}


@dataclass(frozen=True, slots=True)
class MainParams:
    """main.cf's parameters (as written), where each is, and how Postfix expands them."""

    values: Mapping[str, str]
    file: str = "/etc/postfix/main.cf"
    lines: Mapping[str, int] = field(default_factory=dict)
    host: str | None = None

    def expand(self, name: str) -> str:
        """NAME's value with every ``$`` reference expanded ("" when neither set nor known).

        Raises RefusedError naming NAME's line for a reference loop or a ``$`` form migrator
        does not read (Postfix 3's ``${name?{a}:{b}}``, ``${a == b?...}``).
        """
        return self._value(name, (name,), name)

    def home(self, name: str) -> str:
        """The main.cf parameter whose own text is NAME's value: NAME itself, or, when NAME
        is nothing but ``$other`` (``${other}``), where that chain ends. "" when the value
        is built from several parts or ends in a Postfix default (no single place to edit)."""
        seen = {name}
        while True:
            match = _WHOLE_REFERENCE.fullmatch(self.values.get(name, "").strip())
            if not match:
                return name
            target = next(group for group in match.groups() if group)
            if target not in self.values or target in seen:
                return ""
            seen.add(target)
            name = target

    def users(self, name: str) -> tuple[str, ...]:
        """The other main.cf parameters whose value refers to NAME."""
        return tuple(p for p, v in self.values.items() if p != name and refers_to(v, name))

    def edit_target(
        self, name: str, switched: Collection[str], master: Sequence[MasterEntry]
    ) -> str:
        """The parameter to set so that NAME's value changes and nothing else does.

        NAME itself, or the parameter it only refers to (``my_lda`` for ``$my_lda``).
        SWITCHED are the parameters that change with it anyway. Raises RefusedError when
        there is no single such parameter, or when another parameter or a master.cf
        override refers to it too (editing it would change that behind the admin's back).
        """
        home = self.home(name)
        if not home:
            raise self._refuse(
                name, f"= {self.values[name]!r} ends in a Postfix default: nothing to edit"
            )
        if home == name:
            return home
        chain = self._chain(name)
        others = [
            f"{p} ({self.file}:{self.lines.get(p, '?')})"
            for p in self._dependents(home)
            if p not in chain and p not in switched
        ]
        others += [f"master.cf:{e.line} ({e.name})" for e in master if refers_to(e.command, home)]
        if others:
            where = f"{self.file}:{self.lines.get(home, '?')}"
            raise self._refuse(
                name,
                f"refers to ${home} ({where}), and {others[0]} does too: setting {home} "
                f"would change that as well; give {name} a value of its own and plan again",
            )
        return home

    def _chain(self, name: str) -> set[str]:
        chain = {name}
        while (match := _WHOLE_REFERENCE.fullmatch(self.values.get(name, "").strip())) and (
            name := next(group for group in match.groups() if group)
        ) not in chain:
            chain.add(name)
        return chain

    def _dependents(self, name: str) -> list[str]:
        """Every parameter whose value depends on NAME's, through any chain of references."""
        found: list[str] = []
        todo = [name]
        while todo:
            for user in self.users(todo.pop()):
                if user not in found and user != name:
                    found.append(user)
                    todo.append(user)
        return found

    def _value(self, name: str, stack: tuple[str, ...], top: str) -> str:
        raw = self.values.get(name, DEFAULTS.get(name, ""))
        return self._expand(raw, stack, top)

    def _expand(self, text: str, stack: tuple[str, ...], top: str) -> str:
        out: list[str] = []
        index = 0
        while index < len(text):
            dollar = text.find("$", index)
            if dollar < 0:
                out.append(text[index:])
                break
            out.append(text[index:dollar])
            piece, index = self._reference(text, dollar, stack, top)
            out.append(piece)
        return "".join(out)

    def _reference(
        self, text: str, dollar: int, stack: tuple[str, ...], top: str
    ) -> tuple[str, int]:
        """The expansion of the reference at DOLLAR, and where the text goes on after it."""
        after = text[dollar + 1 : dollar + 2]
        if after == "$":
            return "$", dollar + 2
        bare = _NAME.match(text, dollar + 1)
        if bare:
            return self._lookup(bare.group(), stack, top), bare.end()
        if after not in _OPEN:
            return "$", dollar + 1  # a lone '$': Postfix keeps it as it is
        end = _closing(text, dollar + 1)
        body = text[dollar + 2 : end] if end > 0 else ""
        match = re.fullmatch(r"(\w+)(?:([?:])(.*))?", body, re.DOTALL)
        if end < 0 or not match or (match[3] or "").startswith("{"):
            raise self._refuse(top, f"uses {text[dollar:]!r}, a $-form migrator does not read")
        value = self._lookup(match[1], stack, top)
        if match[2] is None:
            return value, end + 1
        wanted = bool(value) if match[2] == "?" else not value
        return (self._expand(match[3], stack, top) if wanted else ""), end + 1

    def _lookup(self, name: str, stack: tuple[str, ...], top: str) -> str:
        if name in stack:
            loop = " -> ".join((*stack, name))
            raise self._refuse(top, f"refers to itself through {loop} (Postfix fails on it too)")
        if len(stack) > _MAX_DEPTH:  # no loop: a chain too long to name link by link
            chain = f"{stack[0]} -> {stack[1]} -> ... -> {name}"
            why = f"nests $names more than {_MAX_DEPTH} deep ({chain}; Postfix fails on it too)"
            raise self._refuse(top, why)
        return self._value(name, (*stack, name), top)

    def _refuse(self, name: str, why: str) -> RefusedError:
        return RefusedError(
            f"{name} {why}",
            host=self.host,
            path=self.file,
            line=self.lines.get(name),
        )


def refers_to(text: str, name: str) -> bool:
    """Whether TEXT holds a ``$NAME``, ``${NAME...}`` or ``$(NAME...)`` reference."""
    quoted = re.escape(name)
    return re.search(rf"\$(?:{quoted}(?!\w)|[{{(]{quoted}[}}):?])", text) is not None


def _closing(text: str, start: int) -> int:
    """The index of the bracket closing the one at START, or -1."""
    opening, closing = text[start], _OPEN[text[start]]
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing:
            depth -= 1
            if depth == 0:
                return index
    return -1
