"""Residual-VQ audio codecs: one model, several bitrates, picked with ``bandwidth`` (kbps).

EnCodec, SoundStream and our native codec all work this way: the first ``n`` codebooks
of the residual stack give a coarser reconstruction at ``n * frame_rate * bits`` bit/s.
This class turns a bandwidth into that ``n`` the same way for all of them, records the
bandwidth used in ``Tokens.extras`` and checks that tokens carry as many codebooks as
their bandwidth says.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError, InvalidTokensError
from tokenizers_zoo.tokenizers.audio.base import AudioTokenizer
from tokenizers_zoo.tokens import Tokens


class MultiRateAudioTokenizer(AudioTokenizer):
    """Subclasses give ``bandwidths`` (kbps, ascending) and ``default_bandwidth``; the
    info's ``vocab_size`` lists every codebook of the highest bandwidth."""

    options = ("bandwidth",)

    @property
    @abstractmethod
    def bandwidths(self) -> tuple[float, ...]: ...

    @property
    def default_bandwidth(self) -> float:
        return self.bandwidths[-1]

    @property
    def frame_rate(self) -> float:
        info = self.info
        return info.sample_rate / info.temporal_factor

    def codebooks_for(self, bandwidth: float | None) -> int:
        """How many codebooks ``bandwidth`` kbps pays for (``None``: the default)."""
        bandwidth = self.check_bandwidth(bandwidth)
        bits = math.log2(self.info.vocab_size[0])
        return max(1, round(bandwidth * 1000 / (self.frame_rate * bits)))

    def check_bandwidth(self, bandwidth: Any) -> float:
        if bandwidth is None:
            return self.default_bandwidth
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)):
            raise InvalidMediaError(f"bandwidth must be a number of kbps, got {bandwidth!r}")
        for allowed in self.bandwidths:
            if math.isclose(float(bandwidth), allowed, rel_tol=1e-6):
                return allowed
        choices = ", ".join(f"{b:g}" for b in self.bandwidths)
        raise InvalidMediaError(f"{self.name} encodes at {choices} kbps, not {bandwidth!r}")

    def bandwidth_for_codebooks(self, count: int) -> float:
        for bandwidth in self.bandwidths:
            if self.codebooks_for(bandwidth) == count:
                return bandwidth
        counts = ", ".join(str(self.codebooks_for(b)) for b in self.bandwidths)
        raise InvalidTokensError(f"{self.name} tokens have {counts} codebooks, not {count}")

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "bandwidth": self.check_bandwidth(options.get("bandwidth"))}

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        try:
            codebooks = self.codebooks_for(extras.get("bandwidth"))
        except InvalidMediaError as exc:
            raise ValueError(str(exc)) from exc
        return (codebooks, self.info.token_shape(original_size)[1])

    def wrap(self, data: Tensor) -> Tokens:
        """Bare ids ``(B, n, frames)``: the bandwidth is the one with ``n`` codebooks."""
        tokens = super().wrap(data)
        if data.ndim == 3:
            tokens.extras = {"bandwidth": self.bandwidth_for_codebooks(int(data.shape[1]))}
        return tokens
