"""Content negotiation: which of the types a route offers an ``Accept`` header asks for."""

from __future__ import annotations

from tokenizers_zoo.errors import NotAcceptableError


def negotiate(accept: str | None, offered: list[str]) -> str:
    """The offered type the ``Accept`` header likes best (ties: the order of ``offered``);
    no header or ``*/*`` gives the first."""
    if not accept or not accept.strip():
        return offered[0]
    best, best_q = None, 0.0
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for candidate in offered:
            if _matches(kind.lower(), candidate) and (
                q > best_q or q == best_q and _earlier(candidate, best, offered)
            ):
                best, best_q = candidate, q
                break
    if best is None:
        raise NotAcceptableError(f"Accept {accept!r} names nothing this route gives: {', '.join(offered)}")
    return best


def _matches(pattern: str, candidate: str) -> bool:
    if pattern in ("*/*", candidate):
        return True
    return pattern.endswith("/*") and candidate.startswith(pattern[:-1])


def _earlier(candidate: str, current: str | None, offered: list[str]) -> bool:
    return current is None or offered.index(candidate) < offered.index(current)
