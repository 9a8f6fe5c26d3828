"""ForwardingTransport forwards every method of the Transport protocol, found by introspection:
a method added to the protocol and not to the forwarder fails here, not in a wrapper."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from migrator.executor.carry import CarryingTransport
from migrator.executor.journal import Journal
from migrator.fleet.kept import KeptConnections
from migrator.inventory.model import InventoryHost
from migrator.transport.base import Transport
from migrator.transport.forward import ForwardingTransport

# The context manager is the wrapper's own: ``with wrapper`` yields the wrapper and closes
# it (which forwards close); forwarding __enter__ would hand out the inner transport.
CONTEXT = {"__enter__", "__exit__"}


def _protocol_members() -> dict[str, Any]:
    """Every property and method the Transport protocol declares in its own body."""
    return {
        name: value
        for name, value in vars(Transport).items()
        if isinstance(value, property)
        or (inspect.isfunction(value) and value.__qualname__ == f"Transport.{name}")
    }


class Recorder:
    """An inner transport that answers any attribute, recording each call and its result."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answers: dict[str, object] = {}

    def __getattr__(self, name: str) -> object:
        if name in PROPERTIES:
            return self.answers.setdefault(name, object())

        def call(*args: Any, **kwargs: Any) -> object:
            self.calls.append((name, args, kwargs))
            return self.answers.setdefault(name, object())

        return call


MEMBERS = _protocol_members()
PROPERTIES = {name for name, value in MEMBERS.items() if isinstance(value, property)}
METHODS = sorted(set(MEMBERS) - PROPERTIES - CONTEXT)


def _arguments(method: Callable[..., Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A distinct object for every parameter, positional or keyword as the protocol has it."""
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for name, parameter in list(inspect.signature(method).parameters.items())[1:]:
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = object()
        else:
            args.append(object())
    return tuple(args), kwargs


def _bound(method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    bound = inspect.signature(method).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _carrying(inner: Transport) -> Transport:
    """The journal's wrapper with nothing carried: nothing to write first, all forwarded."""
    return CarryingTransport(inner, Journal(inner, "p-forward"))


WRAPPERS: dict[str, Callable[[Transport], Transport]] = {
    "forwarding": ForwardingTransport,
    "carrying": _carrying,
}


def test_the_protocol_is_found() -> None:
    assert {"host", "live"} <= PROPERTIES
    assert {"run", "read_files", "write_atomic", "close"} <= set(METHODS)
    assert set(MEMBERS) >= CONTEXT


@pytest.mark.parametrize("wrap", list(WRAPPERS.values()), ids=list(WRAPPERS))
@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_every_property_is_the_inner_ones(
    wrap: Callable[[Transport], Transport], name: str
) -> None:
    inner = Recorder()
    wrapper = wrap(inner)  # type: ignore[arg-type]
    assert getattr(wrapper, name) is getattr(inner, name)


@pytest.mark.parametrize("wrap", list(WRAPPERS.values()), ids=list(WRAPPERS))
@pytest.mark.parametrize("name", METHODS)
def test_every_method_is_forwarded_with_its_arguments(
    wrap: Callable[[Transport], Transport], name: str
) -> None:
    inner = Recorder()
    wrapper = wrap(inner)  # type: ignore[arg-type]
    method = MEMBERS[name]
    args, kwargs = _arguments(method)
    answer = getattr(wrapper, name)(*args, **kwargs)
    assert [call[0] for call in inner.calls] == [name]
    _, inner_args, inner_kwargs = inner.calls[0]
    assert _bound(method, inner_args, inner_kwargs) == _bound(method, args, kwargs)
    if inspect.signature(method).return_annotation != "None":
        assert answer is inner.answers[name]


@pytest.mark.parametrize("wrap", list(WRAPPERS.values()), ids=list(WRAPPERS))
def test_with_yields_the_wrapper_and_closes_the_inner(
    wrap: Callable[[Transport], Transport],
) -> None:
    inner = Recorder()
    wrapper = wrap(inner)  # type: ignore[arg-type]
    with wrapper as entered:
        assert entered is wrapper
    assert [call[0] for call in inner.calls] == ["close"]


def test_a_kept_connection_forwards_all_but_close() -> None:
    inner = Recorder()
    kept = KeptConnections(lambda host: inner)  # type: ignore[arg-type, return-value]
    with kept.keeping(InventoryHost("a")) as wrapper:
        assert wrapper.host is inner.host
        wrapper.read_files(["/etc/hostname"])
    assert [call[0] for call in inner.calls] == ["read_files"]  # closing kept it open
    assert kept.taking(InventoryHost("a")) is inner
