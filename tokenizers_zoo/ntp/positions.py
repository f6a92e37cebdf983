"""Where each id of a sequence sits, for the 2-D rotary embedding (``rope="2d"``).

The rule: an id outside image grids (text, specials, class and resolution tokens) sits at
``(t, t)``, ``t`` its index in the sequence, so text keeps 1-D relative positions. An image
span ``<boi> <res:HxW> codes... <eoi>`` whose first code is at index ``s`` gives the codes of
grid cell (row ``r``, column ``c``) the pair ``(s + r, s + c)`` (every codebook of a cell the
same pair), and the ``<eol>`` ending row ``r`` the pair ``(s + r, s + W)``, as if it were one
more column. So within an image, attention sees how far apart two cells are in rows and in
columns, not how many ids lie between them; the ids after the image go on at their index.
Every pair is at most the id's own index, so the model's tables of ``block_size`` angles
cover them.

Left padding shifts every pair of a row by the same amount, which relative rotations do not
see: padded and unpadded prompts get the same attention.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.ntp.vocabulary import Vocabulary


def grid_positions(vocab: Vocabulary, ids: Tensor) -> Tensor:
    """``(B, T, 2)`` int64 (row, column) pairs of ids ``(B, T)`` (the module's rule); a span
    cut off by the end of ``ids`` gets pairs for the ids it has."""
    rows = ids.detach().cpu().numpy()
    b, t = rows.shape
    pairs = np.repeat(np.broadcast_to(np.arange(t), (b, t))[..., None], 2, axis=-1).copy()
    if "<boi>" not in vocab or not any(m.modality == "image" for m in vocab.media):
        return torch.from_numpy(pairs).to(ids.device)
    grids = {vocab.resolution_token(g): g for g in vocab.resolutions}
    books = vocab.codes("image").num_codebooks
    for row, begin in zip(*np.nonzero(rows[:, :-1] == vocab["<boi>"]), strict=True):
        grid = grids.get(int(rows[row, begin + 1]))
        if grid is None:
            continue
        h, w = grid
        start, per_row = begin + 2, w * books + 1
        local = np.arange(min(h * per_row, t - start))
        r, within = np.divmod(local, per_row)
        pairs[row, start : start + len(local), 0] = start + r
        pairs[row, start : start + len(local), 1] = start + within // books
    return torch.from_numpy(pairs).to(ids.device)


def positions_for(rope: str, vocab: Vocabulary, ids: Tensor) -> Tensor | None:
    """What a model with rotary embedding ``rope`` takes as ``positions``: the 2-D pairs,
    or ``None`` for 1-D (the ids' indices)."""
    return grid_positions(vocab, ids) if rope == "2d" else None
