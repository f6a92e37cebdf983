"""Build or describe any quantizer by name, with one calling convention.

``build_quantizer(name, dim, **options)`` calls the class's constructor as
``cls(dim=dim, **options)``; every quantizer's constructor takes ``dim`` by that name,
whatever its position. A class joins the factory where it is written, with
``@register_quantizer("name")``, so adding a quantizer touches no table elsewhere
(its module only has to be imported by ``tokenizers_zoo.quantizers``).

Options are checked against the constructor's signature before anything is built, so
a misspelt option is a ``ValueError`` naming it, not a ``TypeError`` from deep inside.
``describe_quantizer`` applies the same check and the constructor's defaults, then
asks the class's ``spec_from_arguments``: a vocabulary without allocating codebooks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from tokenizers_zoo.quantizers.base import Quantizer, QuantizerSpec

Q = TypeVar("Q", bound=type[Quantizer])

_REGISTERED: dict[str, type[Quantizer]] = {}
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def register_quantizer(name: str) -> Callable[[Q], Q]:
    """Class decorator: ``build_quantizer(name, ...)`` builds the class. Each name
    belongs to one class."""

    def register(cls: Q) -> Q:
        if _REGISTERED.get(name, cls) is not cls:
            raise ValueError(f"quantizer name {name!r} is taken by {_REGISTERED[name].__name__}")
        _REGISTERED[name] = cls
        return cls

    return register


def quantizer_names() -> tuple[str, ...]:
    """The names ``build_quantizer`` accepts, sorted."""
    return tuple(sorted(_REGISTERED))


def quantizer_class(name: str) -> type[Quantizer]:
    """The class registered as ``name``; ``ValueError`` listing the names otherwise."""
    if name not in _REGISTERED:
        raise ValueError(f"unknown quantizer {name!r}; known: {', '.join(quantizer_names())}")
    return _REGISTERED[name]


def _parameters(cls: type[Quantizer]) -> list[inspect.Parameter]:
    """Named constructor parameters other than ``dim``, with those of the class its
    ``**kwargs`` go to (``forwards_kwargs_to``); the class's own come first."""
    own = [p for p in inspect.signature(cls).parameters.values() if p.kind in _NAMED and p.name != "dim"]
    if cls.forwards_kwargs_to is None:
        return own
    names = {p.name for p in own}
    return own + [p for p in _parameters(cls.forwards_kwargs_to) if p.name not in names]


def _checked(name: str, dim: int, options: dict[str, Any]) -> tuple[type[Quantizer], dict[str, Any]]:
    """The class and every constructor argument (``dim``, ``options``, then defaults),
    or a ``ValueError`` naming the options it does not take or misses."""
    cls = quantizer_class(name)
    parameters = _parameters(cls)
    accepted = {p.name for p in parameters}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"{name} quantizer ({cls.__name__}) takes no option {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(accepted))}"
        )
    missing = [p.name for p in parameters if p.default is inspect.Parameter.empty and p.name not in options]
    if missing:
        raise ValueError(f"{name} quantizer ({cls.__name__}) needs option {', '.join(missing)}")
    defaults = {p.name: p.default for p in parameters if p.name not in options}
    return cls, {"dim": dim, **options, **defaults}


def build_quantizer(name: str, dim: int, **options: Any) -> Quantizer:
    """``cls(dim=dim, **options)`` for the quantizer registered as ``name``.

    ``dim`` is the width of the vectors it is given (``x[..., dim]``); ``options`` are
    the class's constructor arguments by name (``levels`` for ``"fsq"``,
    ``codebook_size`` for ``"vq"``, ...)."""
    cls, _ = _checked(name, dim, options)
    return cls(dim=dim, **options)


def describe_quantizer(name: str, dim: int, **options: Any) -> QuantizerSpec:
    """``build_quantizer(name, dim, **options).spec``, computed from the options alone."""
    cls, arguments = _checked(name, dim, options)
    return cls.spec_from_arguments(arguments)
