"""UnifiedMLLM's router, small and real: the task token a model generates picks an expert,
which gets the sequence's media and boxes, decoded.

    <bos> draw a cat <task:generate_image> <boi> ... <eoi> <eos>     -> the image, decoded
    <bos> where is it? <task:ground> <box> <coord:..> x4 </box> <eos> -> the input image with
                                                                        the box drawn on it

``Router.parse`` reads a sequence into a ``Routed`` request (the task, the text, each box,
each media span decoded through the tokenizer the vocabulary names); ``route`` hands it to
the expert registered for its task. Built in: ``generate_image`` and ``ground``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.ntp.decode import media_tokenizer, sequence_images
from tokenizers_zoo.ntp.sequence import find_spans, parse_box
from tokenizers_zoo.ntp.vocabulary import Vocabulary


@dataclass
class Routed:
    """What a generated sequence asks for: ``task`` (the name in its ``<task:NAME>``), its
    ``text``, its ``boxes`` (corners as fractions of the image), its ``images`` (uint8
    ``(H, W, 3)``, decoded), and ``image``: an input image the caller gave, if any."""

    task: str
    text: str
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    image: np.ndarray | None = None


Expert = Callable[[Routed], Any]


def generate_image(request: Routed) -> np.ndarray:
    """The image the sequence holds."""
    if not request.images:
        raise InvalidTokensError("the generate_image task holds no image span")
    return request.images[0]


def ground(request: Routed, colour: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """The input image (or the sequence's own) with each box's outline drawn on it."""
    source = request.image if request.image is not None else (request.images or [None])[0]
    if source is None:
        raise InvalidTokensError("the ground task needs an image: give one, or a sequence holding one")
    if not request.boxes:
        raise InvalidTokensError("the ground task holds no <box>")
    out = np.array(source, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in request.boxes:
        left, right = sorted((min(w - 1, int(x0 * w)), min(w - 1, int(x1 * w))))
        top, bottom = sorted((min(h - 1, int(y0 * h)), min(h - 1, int(y1 * h))))
        out[top : bottom + 1, [left, right]] = colour
        out[[top, bottom], left : right + 1] = colour
    return out


class Router:
    """Experts keyed by task name; ``generate_image`` and ``ground`` are registered."""

    def __init__(self, vocab: Vocabulary, image_tokenizer: Any = None) -> None:
        self.vocab = vocab
        self.image_tokenizer = image_tokenizer  # None: the one the vocabulary names, on first use
        self.experts: dict[str, Expert] = {}
        for task, expert in (("generate_image", generate_image), ("ground", ground)):
            if task in vocab.tasks:
                self.register(task, expert)

    def register(self, task: str, expert: Expert) -> None:
        if task not in self.vocab.tasks:
            raise InvalidTokensError(
                f"no <task:{task}> in the vocabulary (tasks: {', '.join(self.vocab.tasks)})"
            )
        self.experts[task] = expert

    def parse(self, ids: Sequence[int], image: np.ndarray | None = None) -> Routed:
        ids = [int(i) for i in ids]
        self.vocab.check_ids(ids)
        v = self.vocab
        tasks = [v.name_of(i)[6:-1] for i in ids if i in v.ids_in("<task:")]
        if len(tasks) != 1:
            raise InvalidTokensError(f"a routed sequence holds one task token, this one {len(tasks)}")
        boxes = []
        for start, token in enumerate(ids):
            if "<box>" in v and token == v["<box>"]:
                boxes.append(parse_box(v, ids[start : start + 6]))
        spans = find_spans(v, ids)
        if self.image_tokenizer is None and any(modality == "image" for modality, _, _ in spans):
            self.image_tokenizer = media_tokenizer(v, "image")
        images = sequence_images(v, np.asarray(ids), self.image_tokenizer)
        inside = {i for _, start, end in spans for i in range(start, end)}
        text = v.text.decode([t for i, t in enumerate(ids) if t < v.text.size and i not in inside])
        return Routed(tasks[0], text, boxes, images, image)

    def route(self, ids: Sequence[int], image: np.ndarray | None = None) -> Any:
        """The answer of the expert the sequence's task token names."""
        request = self.parse(ids, image)
        expert = self.experts.get(request.task)
        if expert is None:
            known = ", ".join(sorted(self.experts)) or "none"
            raise InvalidTokensError(f"no expert for <task:{request.task}> (registered: {known})")
        return expert(request)
