"""The native neural audio codec: SEANet encoder/decoder around a residual VQ (SoundStream).

One model serves every bitrate: training draws the number of residual stages from the
bitrates it ships (quantizer dropout), so the first 3, 6 or 12 codebooks each decode
well. With ``causal=True`` it streams: ``stream_encoder()`` and ``stream_decoder()``
take chunks of any size and give what the offline pass gives, frame for frame.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError, InvalidTokensError
from tokenizers_zoo.info import MemoryCost, TokenizerInfo
from tokenizers_zoo.media.audio import to_audio_batch
from tokenizers_zoo.models.seanet import SEANetDecoder, SEANetEncoder, StreamState
from tokenizers_zoo.quantizers import ResidualVQ
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer


@dataclass(frozen=True)
class CodecConfig:
    """``ratios`` multiply to the hop (samples per frame); ``bandwidths`` (kbps) are the
    bitrates trained for, each a whole number of ``log2(codebook_size)``-bit codebooks
    per frame; the largest needs ``num_quantizers``."""

    sample_rate: int = 16000
    channels: int = 16
    ratios: tuple[int, ...] = (2, 4, 5, 8)
    dilations: tuple[int, ...] = (1, 3)
    latent_dim: int = 128
    num_quantizers: int = 12
    codebook_size: int = 1024
    bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0)
    causal: bool = True
    quantizer_args: dict[str, Any] = field(
        default_factory=lambda: {"kmeans_init": True, "threshold_ema_dead_code": 2.0, "decay": 0.99}
    )


class NeuralAudioCodec(MultiRateAudioTokenizer):
    Config = CodecConfig
    #: Longer inputs are encoded and decoded through the streaming path, this many frames
    #: at a time (5 s at 16 kHz), so memory does not grow with the length of the audio.
    window_frames: int = 250

    def __init__(self, config: CodecConfig = CodecConfig(), name: str | None = None) -> None:
        super().__init__(config, name or f"audio-codec-{config.sample_rate // 1000}khz")
        arch = dict(
            channels=config.channels,
            ratios=tuple(config.ratios),
            dilations=tuple(config.dilations),
            causal=config.causal,
        )
        self.encoder = SEANetEncoder(config.latent_dim, **arch)
        self.decoder = SEANetDecoder(config.latent_dim, **arch)
        self.quantizer = ResidualVQ(
            config.latent_dim, config.num_quantizers, config.codebook_size, **dict(config.quantizer_args)
        )
        needed = self.codebooks_for(self.bandwidths[-1])
        if needed != config.num_quantizers:
            raise ValueError(
                f"{self.bandwidths[-1]} kbps needs {needed} codebooks, not {config.num_quantizers}"
            )

    @property
    def hop(self) -> int:
        return math.prod(self.config.ratios)

    @classmethod
    def describe(cls, config: CodecConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="audio",
            kind="discrete",
            vocab_size=(config.codebook_size,) * config.num_quantizers,
            temporal_factor=math.prod(config.ratios),
            sample_rate=config.sample_rate,
            channels=1,
        )

    @property
    def bandwidths(self) -> tuple[float, ...]:
        return tuple(sorted(float(b) for b in self.config.bandwidths))

    # -- training ---------------------------------------------------------------------
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Reconstruction, quantizer loss and metrics; in training the depth is one of the
        shipped bitrates' (quantizer dropout over exactly the rates that ship)."""
        stages = None
        if self.training:
            stages = self.codebooks_for(random.choice(self.bandwidths))
        z = self.encoder(x).transpose(1, 2)
        quantized, _, loss, metrics = self.quantizer(z, num_quantizers=stages)
        return self.decoder(quantized.transpose(1, 2).to(x.dtype)), loss, metrics

    # -- tokenizer API -------------------------------------------------------------------
    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        codebooks = self.codebooks_for(options.get("bandwidth"))
        window = self.window_frames * self.hop
        if self.config.causal and x.shape[-1] > window:
            # Long audio goes through the streaming path in windows: memory stays bounded
            # by the window, and causal convs see the same context as in one pass.
            stream = StreamEncoder(self, codebooks)
            return torch.cat([stream.push(x[..., i : i + window]) for i in range(0, x.shape[-1], window)], -1)
        z = self.encoder(x).transpose(1, 2)
        return self._quantize(z, codebooks)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        if self.config.causal and data.shape[-1] > self.window_frames:
            stream = StreamDecoder(self)
            frames = range(0, data.shape[-1], self.window_frames)
            audio = torch.cat([stream.push(data[..., i : i + self.window_frames]) for i in frames], -1)
        else:
            audio = self._synthesize(data)
        return self.trim(audio, original_size)

    def _quantize(self, z: Tensor, codebooks: int) -> Tensor:
        """``(B, frames, dim)`` latents -> ids ``(B, codebooks, frames)``."""
        return self.quantizer(z, num_quantizers=codebooks).indices.transpose(1, 2)

    def _synthesize(self, ids: Tensor) -> Tensor:
        z = self.quantizer.indices_to_codes(ids.transpose(1, 2))
        return self.decoder(z.transpose(1, 2).to(self.dtype)).float().clamp(-1, 1)

    # -- streaming -------------------------------------------------------------------------
    def stream_encoder(self, bandwidth: float | None = None) -> StreamEncoder:
        return StreamEncoder(self, self.codebooks_for(bandwidth))

    def stream_decoder(self) -> StreamDecoder:
        return StreamDecoder(self)


class _Stream:
    def __init__(self, codec: NeuralAudioCodec) -> None:
        if not codec.config.causal:
            raise InvalidMediaError(f"{codec.name} is not causal, so it cannot stream; use encode/decode")
        self.codec = codec
        self.state: StreamState = {}


class StreamEncoder(_Stream):
    """``push(samples)`` -> the ids of every frame those samples complete, ``(B, n_q, frames)``
    (``frames`` may be 0); ``flush()`` pads the last partial frame with zeros, as ``encode``
    does. Samples are at the codec's rate, ``(T,)``, ``(C, T)`` or ``(B, C, T)``."""

    def __init__(self, codec: NeuralAudioCodec, codebooks: int) -> None:
        super().__init__(codec)
        self.codebooks = codebooks
        self.pending = 0  # samples pushed modulo the hop
        self.batch: int | None = None

    @torch.no_grad()
    def push(self, samples: Any) -> Tensor:
        x = to_audio_batch(samples, None, channels=1).to(self.codec.device, self.codec.dtype)
        if self.batch is not None and x.shape[0] != self.batch:
            raise InvalidMediaError(
                f"this stream carries {self.batch} signal(s), got a chunk of {x.shape[0]}"
            )
        self.batch = x.shape[0]
        self.pending = (self.pending + x.shape[-1]) % self.codec.hop
        z = self.codec.encoder.stream(x, self.state)
        if z.shape[-1] == 0:
            return torch.zeros(x.shape[0], self.codebooks, 0, dtype=torch.long, device=x.device)
        return self.codec._quantize(z.transpose(1, 2), self.codebooks)

    def flush(self) -> Tensor:
        """Ends the stream: pads to a whole frame and returns the last ids."""
        if self.batch is None:
            raise InvalidMediaError("nothing was pushed to this stream")
        pad = (self.codec.hop - self.pending) % self.codec.hop
        if pad == 0:
            return torch.zeros(self.batch, self.codebooks, 0, dtype=torch.long, device=self.codec.device)
        return self.push(torch.zeros(self.batch, 1, pad))


class StreamDecoder(_Stream):
    """``push(ids (B, n_q, frames))`` -> ``(B, 1, frames * hop)`` samples, the same as
    decoding all frames at once."""

    @torch.no_grad()
    def push(self, ids: Tensor) -> Tensor:
        if ids.ndim != 3 or ids.is_floating_point():
            raise InvalidTokensError(f"stream ids must be integers (B, n_q, frames), got {tuple(ids.shape)}")
        self.codec.bandwidth_for_codebooks(int(ids.shape[1]))
        if ids.shape[-1] == 0:
            return torch.zeros(ids.shape[0], 1, 0, device=self.codec.device)
        self.codec._check_id_ranges(ids)
        z = self.codec.quantizer.indices_to_codes(ids.to(self.codec.device).transpose(1, 2))
        return (
            self.codec.decoder.stream(z.transpose(1, 2).to(self.codec.dtype), self.state).float().clamp(-1, 1)
        )


# Trained here (configs/<name>.yaml; how, and what they reach: README). Both are the same
# architecture, so share its measured memory cost (tzoo bench memory: 7.1 MB per second of
# audio to encode, 7.6 to decode, a straight line through 2 s and 12 s: long audio runs in
# 5 s windows, so this overstates it; 10% to spare).
_TRAINED = (
    # name, description, default
    (
        "audio-rvq-16khz",
        "causal SEANet codec + residual VQ (12 x 1024), one voice, 16 kHz speech, 1.5/3/6 kbps, streams",
        False,
    ),
    (
        "audio-rvq-16khz-six",
        "causal SEANet codec + residual VQ (12 x 1024), six voices, 16 kHz speech, 1.5/3/6 kbps, streams",
        True,
    ),
)
for _name, _description, _default in _TRAINED:
    register(
        _name,
        NeuralAudioCodec,
        description=_description,
        weights=f"weights/{_name}",
        memory=MemoryCost("second", 0, 7.9e6, 0, 8.4e6),
        default=_default,
    )
