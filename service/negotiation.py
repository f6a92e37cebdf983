"""Content negotiation: which of the types a route offers an ``Accept`` header asks for.

RFC 9110 section 12.5.1: each offered type takes the ``q`` of the most specific range that
matches it (``image/png`` over ``image/*`` over ``*/*``), ``q=0`` means "not acceptable",
and the highest ``q`` wins. No acceptable type is a 406.
"""

from __future__ import annotations

import math

from tokenizers_zoo.errors import NotAcceptableError


def negotiate(accept: str | None, offered: list[str]) -> str:
    """The offered type the ``Accept`` header likes best (ties: the order of ``offered``);
    no header or ``*/*`` gives the first."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = [_parse(part) for part in accept.split(",") if part.strip()]
    best, best_q = None, 0.0
    for candidate in offered:
        matching = [(specificity, q) for pattern, q in ranges if (specificity := _match(pattern, candidate))]
        if not matching:
            continue
        most_specific = max(specificity for specificity, _ in matching)
        q = max(q for specificity, q in matching if specificity == most_specific)
        if q > best_q:  # strictly: an earlier offer wins a tie
            best, best_q = candidate, q
    if best is None:
        raise NotAcceptableError(f"Accept {accept!r} names nothing this route gives: {', '.join(offered)}")
    return best


def _parse(part: str) -> tuple[str, float]:
    """``type/subtype;q=0.5;x=y`` -> ``("type/subtype", 0.5)``; a ``q`` that is not a number
    from 0 to 1 makes the range refuse (q = 0)."""
    kind, *params = (p.strip() for p in part.split(";"))
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
            if not (math.isfinite(q) and 0.0 <= q <= 1.0):
                q = 0.0
    return kind.lower(), q


def _match(pattern: str, candidate: str) -> int:
    """How specifically ``pattern`` matches ``candidate``: 3 exactly, 2 ``type/*``, 1 ``*/*``,
    0 not at all."""
    if pattern == candidate:
        return 3
    if pattern == "*/*":
        return 1
    return 2 if pattern.endswith("/*") and candidate.startswith(pattern[:-1]) else 0
