"""Tokenizers that transformers publishes only as part of a whole model's checkpoint: the VQ of
Emu3 or Chameleon sits inside the sharded vision-language checkpoint, its config under
``vq_config`` and its tensors under ``vqmodel.`` (``model.vqmodel.`` in older layouts), and
``from_pretrained`` of the VQ class on that directory loads none of them.

So the entry's ``HubSource.shards_of`` names the part (the cache lookup and ``tzoo fetch``
then ask for only the shards that hold it), and loading builds the part from its config
and reads just its tensors, strictly: a missing or misshapen tensor is a ``CheckpointError``.
A directory the part's own ``save_pretrained`` wrote loads as for any adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor

from tokenizers_zoo.errors import CheckpointError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.published import SHARD_INDEX, require
from tokenizers_zoo.tokenizers.adapters.pretrained import PretrainedAdapter
from tokenizers_zoo.tokenizers.image.base import ImageTokenizer

VQ_PREFIX = "vqmodel."


class CheckpointPartAdapter(PretrainedAdapter):
    """``library_class`` built from ``library_config_class(**config[part_config])``."""

    library = "transformers"
    library_config_class: ClassVar[str]
    part_config: ClassVar[str] = "vq_config"
    part_prefix: ClassVar[str] = VQ_PREFIX

    def load_weights(self, path: str | Path) -> None:
        directory = Path(path)
        meta = json.loads((directory / "config.json").read_text())
        if self.part_config not in meta:
            return super().load_weights(directory)
        transformers = require(self.library, self.name)
        config = getattr(transformers, self.library_config_class)(**meta[self.part_config])
        self.check_library_config(config, directory)
        model = getattr(transformers, self.library_class)(config)
        try:
            model.load_state_dict(part_tensors(directory, self.part_prefix), strict=True)
        except RuntimeError as exc:  # missing, unexpected or misshapen tensors
            raise CheckpointError(
                f"{directory} does not hold {self.name}'s {self.library_class}: {exc}"
            ) from exc
        self.model = model.float().eval()


class ImageVQPart(CheckpointPartAdapter, ImageTokenizer):
    """An image VQ part of one codebook (``config.codebook_size``, ``config.spatial_factor``)."""

    @classmethod
    def describe(cls, config: Any, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="image",
            kind="discrete",
            vocab_size=(config.codebook_size,),
            spatial_factor=config.spatial_factor,
        )


class SquareVQPart(ImageVQPart):
    """An image VQ of one square input resolution (``config.image_size``): tokens are
    ``(grid, grid)`` whatever the media's size, and the library gives them flat."""

    @property
    def grid(self) -> int:
        return self.config.image_size // self.config.spatial_factor

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        if len(original_size) != 2 or min(original_size) < 1:
            raise ValueError(f"an image size is (height, width), got {original_size}")
        return (self.grid, self.grid)

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        ids = self.library_model.encode(x).image_tokens  # flat: (B * grid * grid,)
        return ids.view(x.shape[0], self.grid, self.grid)


def part_tensors(directory: Path, prefix: str) -> dict[str, Tensor]:
    """The tensors whose names contain ``prefix``, with it and what precedes it removed, read
    only from the shards that hold them."""
    from safetensors import safe_open

    index = directory / SHARD_INDEX
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted({file for key, file in weight_map.items() if prefix in key})
    else:
        shards = ["model.safetensors"]
    state = {}
    for shard in shards:
        with safe_open(str(directory / shard), framework="pt") as f:
            for key in f.keys():
                if prefix in key:
                    state[key.split(prefix, 1)[1]] = f.get_tensor(key)
    return state
