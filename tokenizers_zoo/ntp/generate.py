"""What a trained checkpoint makes from a prompt: the one path ``tzoo sample`` and the
service's ``POST /v1/models/{name}/generate`` share.

    Generator(run_dir) -> plan(prompt): checked, before any work (cheap; errors say why)
                       -> generator(prompt) -> Generated (texts, images or audio)

By the checkpoint's format: a text model continues ``prompt.text``; a class- or
caption-conditional model draws ``n`` images of ``prompt.label`` / ``prompt.caption``
(classifier-free guidance ``cfg`` against the ``<null>`` stream when there is a condition),
decoded by the image tokenizer the vocabulary names; a speech model continues
``prompt.audio`` (or starts from nothing) by up to ``seconds``, decoded at the bandwidth of
the model's codebooks. The media tokenizer is loaded and checked against the vocabulary
when the generator is made, so a mismatch costs no sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokenizers_zoo.errors import InvalidTokensError, TokenizersZooError
from tokenizers_zoo.ntp import sequence
from tokenizers_zoo.ntp.decode import (
    audio_codes,
    decode_images,
    decode_one,
    media_tokenizer,
    speech_bandwidth,
)
from tokenizers_zoo.ntp.sample import generate, sample_images, sample_speech
from tokenizers_zoo.ntp.train import NTPCheckpointError, load_model

#: The formats a generator takes, and the medium each gives.
OUTPUTS = {
    "text": "text",
    "class_conditional": "image",
    "caption_conditional": "image",
    "speech_continuation": "audio",
}
#: The prompt field that conditions each format.
CONDITIONS = {"text": "text", "class_conditional": "label", "caption_conditional": "caption"}


class PromptError(TokenizersZooError, ValueError):
    """A prompt this checkpoint cannot take: a field of another format, a class or a grid it
    does not know, more than its block holds."""


@dataclass(frozen=True)
class Prompt:
    """What to generate. ``label``: a class id or name (class-conditional); ``caption``
    (caption-conditional); ``text`` (text models: the text to continue); ``audio``: samples
    ``(C, T)`` and their rate (speech models: the start to continue)."""

    label: int | str | None = None
    caption: str | None = None
    text: str | None = None
    audio: tuple[np.ndarray, int] | None = None
    n: int = 1
    cfg: float = 1.0
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    resolution: tuple[int, int] | None = None
    max_new_tokens: int = 200
    seconds: float = 3.0


@dataclass
class Plan:
    """A checked prompt: what will be sampled (``tokens``: ids to generate, all streams)."""

    prompt: Prompt
    tokens: int
    label: int | None = None
    grid: tuple[int, int] | None = None
    new_tokens: int = 0
    frames: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Generated:
    """What came out: ``texts`` (text models) or ``media`` (uint8 ``(H, W, 3)`` images or
    float32 ``(C, T)`` audio at ``sample_rate``), and one line that says what it is."""

    modality: str
    summary: str
    texts: list[str] = field(default_factory=list)
    media: list[np.ndarray] = field(default_factory=list)
    sample_rate: int | None = None
    notes: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, run_dir: str | Path, device: str = "cpu", ema: bool = True) -> None:
        self.run_dir = Path(run_dir)
        model, self.vocab, self.meta = load_model(run_dir, ema)
        self.model = model.to(device)
        self.format = self.meta.get("format", "text")
        if self.format not in OUTPUTS:
            raise NTPCheckpointError(
                f"{run_dir} is a {self.format} model; generation takes text, image and speech models"
            )
        self.modality = OUTPUTS[self.format]
        self.labels: list[str] = list(self.meta.get("labels") or [])
        self.tokenizer: Any = None
        self.bandwidth: float | None = None
        if self.modality != "text":
            self.tokenizer = media_tokenizer(self.vocab, self.modality)
        if self.modality == "audio":
            self.bandwidth = speech_bandwidth(self.vocab, self.tokenizer)

    @property
    def frame_rate(self) -> float:
        info = self.tokenizer.info
        return info.sample_rate / info.temporal_factor

    # -- checking ------------------------------------------------------------------------
    def plan(self, prompt: Prompt) -> Plan:
        """``prompt`` checked against this checkpoint (``PromptError`` /
        ``InvalidTokensError`` say what does not fit), with what it will cost."""
        if prompt.n < 1:
            raise PromptError(f"n must be at least 1, got {prompt.n}")
        if prompt.temperature < 0 or prompt.top_k < 0 or not 0 < prompt.top_p <= 1:
            raise PromptError("temperature and top_k must be >= 0 and top_p in (0, 1]")
        given = {name for name in ("label", "caption", "text", "audio") if getattr(prompt, name) is not None}
        wanted = {CONDITIONS.get(self.format, "audio")}
        if given - wanted:
            what = {"label": "a class", "caption": "a caption", "text": "text", "audio": "audio"}
            kinds = " and ".join(what[name] for name in sorted(given - wanted))
            raise PromptError(f"this is a {self.format} model: it takes {what[wanted.pop()]}, not {kinds}")
        if self.modality == "image":
            return self._plan_images(prompt)
        if prompt.cfg != 1.0:
            raise PromptError(f"cfg guides images towards their condition; a {self.format} model takes none")
        if self.modality == "text":
            return self._plan_text(prompt)
        return self._plan_speech(prompt)

    def _plan_images(self, prompt: Prompt) -> Plan:
        label = None
        if self.format == "class_conditional":
            label = self.label_id(prompt.label)
            if label is not None:
                self.vocab.class_token(label)  # raises for a class the vocabulary has not
        condition = label if self.format == "class_conditional" else prompt.caption
        if condition is None and prompt.cfg != 1.0:
            wanted = CONDITIONS[self.format].replace("label", "class")
            raise PromptError(f"cfg guides towards the {wanted}: give one, or leave cfg at 1")
        grid = prompt.resolution or (self.vocab.resolutions[0] if self.vocab.resolutions else None)
        if grid is None:
            raise PromptError("the model's vocabulary has no resolution tokens")
        ids = sequence.image_prompt(self.vocab, condition, grid)  # raises for an unknown grid
        h, w = grid
        new = h * (w * self.vocab.codes("image").num_codebooks + 1) + 2
        streams = 2 if prompt.cfg != 1.0 else 1
        if len(ids) + new - 1 > self.model.config.block_size:
            raise InvalidTokensError(
                f"a prompt of {len(ids)} ids and a {h}x{w} image ({new} ids) are over the model's block of "
                f"{self.model.config.block_size}"
            )
        return Plan(prompt, prompt.n * streams * new, label=label, grid=grid)

    def _plan_text(self, prompt: Prompt) -> Plan:
        text = "\n" if prompt.text is None else prompt.text
        length = len(self.vocab.text.encode(text))
        block = self.model.config.block_size
        room = block - length
        if room < 1:
            raise InvalidTokensError(f"the prompt is {length} tokens, the model's whole block is {block}")
        if prompt.max_new_tokens < 1:
            raise PromptError(f"max_new_tokens must be at least 1, got {prompt.max_new_tokens}")
        new = min(prompt.max_new_tokens, room)
        notes = (
            []
            if new == prompt.max_new_tokens
            else [f"generating {new} tokens: prompt and output fit in the block of {block}"]
        )
        return Plan(prompt, prompt.n * new, new_tokens=new, notes=notes)

    def _plan_speech(self, prompt: Prompt) -> Plan:
        if not 0 < prompt.seconds < math.inf:
            raise PromptError(f"seconds must be a positive number, got {prompt.seconds}")
        frames = max(1, round(prompt.seconds * self.frame_rate))
        media = self.vocab.codes("audio")
        start = (
            0
            if prompt.audio is None
            else math.ceil(prompt.audio[0].shape[-1] / prompt.audio[1] * self.frame_rate)
        )
        late = media.num_codebooks - 1 if media.audio_layout == "delay" else 0
        length = 4 + (start + frames + late) * media.num_codebooks  # <bos> <boa> ... <eoa> <eos>
        if length - 1 > self.model.config.block_size:
            raise InvalidTokensError(
                f"{start} frames of prompt and {frames} more are about {length} ids, over the model's "
                f"block of {self.model.config.block_size} + 1: shorten the prompt or the continuation"
            )
        return Plan(prompt, prompt.n * frames * media.num_codebooks, frames=frames)

    def label_id(self, value: int | str | None) -> int | None:
        """A class given by id or by name."""
        if value is None or isinstance(value, int):
            return value
        if value in self.labels:
            return self.labels.index(value)
        try:
            return int(value)
        except ValueError:
            known = ", ".join(self.labels) or "none"
            raise PromptError(f"class {value!r} is not a class id or name (names: {known})") from None

    # -- generating ----------------------------------------------------------------------
    def __call__(self, prompt: Prompt | Plan) -> Generated:
        plan = prompt if isinstance(prompt, Plan) else self.plan(prompt)
        generator = torch.Generator().manual_seed(plan.prompt.seed)
        if self.modality == "image":
            return self._images(plan, generator)
        if self.modality == "text":
            return self._texts(plan, generator)
        return self._speech(plan, generator)

    def _texts(self, plan: Plan, generator: torch.Generator) -> Generated:
        p = plan.prompt
        text = "\n" if p.text is None else p.text
        ids = torch.from_numpy(self.vocab.text.encode(text))[None].repeat(p.n, 1)
        out = generate(self.model, ids, plan.new_tokens, p.temperature, p.top_k, p.top_p, generator=generator)
        texts = [self.vocab.text.decode(row.tolist()) for row in out.cpu()]
        return Generated(
            "text", f"{p.n} continuation(s) of {len(text)} characters", texts=texts, notes=plan.notes
        )

    def _images(self, plan: Plan, generator: torch.Generator) -> Generated:
        p = plan.prompt
        condition = plan.label if self.format == "class_conditional" else p.caption
        prompts = [sequence.image_prompt(self.vocab, condition, plan.grid)] * p.n
        unconditional = [sequence.image_prompt(self.vocab, None, plan.grid)] * p.n if p.cfg != 1.0 else None
        sampled = sample_images(
            self.model,
            self.vocab,
            self.format,
            prompts,
            unconditional,
            p.cfg,
            p.temperature,
            p.top_k,
            p.top_p,
            generator,
        )
        images = decode_images(self.vocab, sampled, self.tokenizer)
        what = (
            "unconditional"
            if condition is None
            else f"{CONDITIONS[self.format].replace('label', 'class')} {condition!r}"
        )
        h, w = plan.grid
        return Generated("image", f"{len(images)} {h}x{w}-token images ({what}, cfg {p.cfg})", media=images)

    def _speech(self, plan: Plan, generator: torch.Generator) -> Generated:
        p = plan.prompt
        books = self.vocab.codes("audio").num_codebooks
        if p.audio is None:
            start = np.zeros((books, 0), dtype=np.int64)
        else:
            start = audio_codes(self.vocab, p.audio[0], p.audio[1], self.tokenizer)
        codes = sample_speech(
            self.model, self.vocab, start, plan.frames, p.n, p.temperature, p.top_k, p.top_p, generator
        )
        audio = [decode_one(self.tokenizer, item) for item in codes]
        longest = max(item.shape[1] for item in codes) - start.shape[1]
        at = f" at {self.bandwidth:g} kbps" if self.bandwidth is not None else ""
        begun = (
            f"of {start.shape[1] / self.frame_rate:.2f} s of speech"
            if p.audio is not None
            else "from nothing"
        )
        summary = (
            f"{len(codes)} continuation(s) {begun} by up to {longest / self.frame_rate:.2f} s "
            f"({self.tokenizer.name}, {books} codebooks{at})"
        )
        return Generated("audio", summary, media=audio, sample_rate=self.tokenizer.info.sample_rate)
