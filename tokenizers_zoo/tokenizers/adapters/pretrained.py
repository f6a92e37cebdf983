"""What every adapter of another library's pretrained tokenizer shares: its weights come
from that library's own files (``hub.resolve``), and its model is the library's, built by
the library from them.

The zoo adds the rest: the entry says what the tokenizer is from its config alone
(``describe`` imports neither transformers nor diffusers, so ``tzoo list`` and the
registry stay cheap), applies the model's preprocessing itself, maps the library's
outputs to ``Tokens``, and checks on loading that the files hold the model the entry
describes (``check_library_config``), so a wrong directory is a clear ``CheckpointError``
rather than tokens of the wrong shape.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from tokenizers_zoo.errors import CheckpointError, TokenizersZooError, WeightsNotFoundError
from tokenizers_zoo.published import HubSource, require
from tokenizers_zoo.registry import RegistryEntry
from tokenizers_zoo.tokenizer import Tokenizer
from tokenizers_zoo.tokenizers.adapters.hub import resolve


@dataclass(frozen=True)
class AdapterConfig:
    """Where the published weights are (``tokenizers_zoo.published.HubSource``); subclasses add what the
    model is (rates, factors, codebooks) so the entry describes itself unbuilt."""

    repository: str = ""
    revision: str = "main"
    files: tuple[str, ...] = ()
    licence: str = ""
    subfolder: str = ""
    shards_of: str = ""


class PretrainedAdapter(Tokenizer):
    """A tokenizer whose model is ``library``'s class ``library_class``, loaded from its own
    files; ``self.model`` is ``None`` until then (``tz.load(..., pretrained=False)``)."""

    library: ClassVar[str]
    library_class: ClassVar[str]

    def __init__(self, config: AdapterConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.model: nn.Module | None = None

    @property
    def source(self) -> HubSource:
        return HubSource.from_config(self.config)

    @property
    def needs_weights(self) -> bool:
        return True

    @property
    def library_model(self) -> Any:
        """The library's model, or a clear error when it was never loaded."""
        if self.model is None:
            raise WeightsNotFoundError(
                f"{self.name} wraps {self.library}'s published weights and was built without them "
                f"(pretrained=False); load it with tz.load({self.name!r})"
            )
        return self.model

    def locate_weights(self, weights: Path | None) -> Path:
        return resolve(self.source, weights, self.name)

    def load_weights(self, path: str | Path) -> None:
        """Build the library's model from the directory ``locate_weights`` found."""
        directory = Path(path)
        module = require(self.library, self.name)
        library_class = getattr(module, self.library_class)
        try:
            with quiet(self.library):
                model, report = library_class.from_pretrained(
                    str(directory), local_files_only=True, output_loading_info=True
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{directory} is not a {self.library} {self.library_class} checkpoint: {exc}"
            ) from exc
        # Both libraries fill tensors the files lack with random ones and only log it; a
        # tokenizer with random layers would give wrong tokens silently. (Unexpected tensors are
        # fine: a vision tower read from a whole CLIP checkpoint skips the text tower's.)
        missing = sorted(report["missing_keys"]) + sorted(str(k) for k in report.get("mismatched_keys", ()))
        if missing:
            raise CheckpointError(
                f"{directory} lacks {len(missing)} of {self.library_class}'s tensors "
                f"(e.g. {', '.join(missing[:3])}): not the weights of {self.name}"
            )
        self.check_library_config(model.config, directory)
        # In fp32 whatever dtype the files hold (transformers keeps a checkpoint's own dtype):
        # tz.load's dtype= then casts it, as for every other tokenizer.
        self.model = self.keep(model).float().eval()

    def keep(self, model: nn.Module) -> nn.Module:
        """The part of the library's model this tokenizer runs (Whisper's encoder)."""
        return model

    @abstractmethod
    def library_facts(self, config: Any) -> dict[str, Any]:
        """What the library's config says of the facts ``describe`` takes from the entry,
        by the entry's field names; ``check_library_config`` compares the two."""

    def check_library_config(self, config: Any, directory: Path) -> None:
        theirs = self.library_facts(config)
        ours = {key: getattr(self.config, key) for key in theirs}
        wrong = {k: (ours[k], theirs[k]) for k in ours if not _same(ours[k], theirs[k])}
        if wrong:
            detail = ", ".join(f"{k} is {t!r}, not {o!r}" for k, (o, t) in wrong.items())
            raise CheckpointError(f"{directory} does not hold the model {self.name} describes: {detail}")

    def save_pretrained(self, directory: str | Path, training: dict[str, Any] | None = None) -> Path:
        raise CheckpointError(
            f"{self.name}'s weights are {self.library}'s: save the library model itself "
            f"(tok.model.save_pretrained(DIR)) and load it with tz.load({self.name!r}, weights=DIR)"
        )


@contextmanager
def quiet(library: str) -> Iterator[None]:
    """``library``'s warnings and progress bars held back while it loads a model. Its load
    report lists every tensor of a whole checkpoint beside the part kept (a vision tower of a
    whole CLIP: expected here) and its bars draw on stderr, so each ``tzoo`` command printed
    dozens of lines around its one. What matters, ``load_weights`` checks itself and raises as
    zoo errors (missing tensors, another model's config); the library's errors still show."""
    logging = importlib.import_module(f"{library}.utils.logging")
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def entry_source(entry: RegistryEntry) -> HubSource:
    """The published weights a registry entry of an adapter names (``tzoo fetch``)."""
    if not issubclass(entry.architecture, PretrainedAdapter):
        raise TokenizersZooError(
            f"{entry.name} is not another library's pretrained tokenizer: its weights ship with the "
            "zoo or are given with weights=, so there is nothing to fetch"
        )
    return HubSource.from_config(entry.architecture.config_from_dict(entry.settings()))


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) or isinstance(theirs, float):
        return abs(float(ours) - float(theirs)) <= 1e-9 * max(1.0, abs(float(ours)))
    if isinstance(ours, list | tuple):
        return list(ours) == list(theirs)
    return ours == theirs
