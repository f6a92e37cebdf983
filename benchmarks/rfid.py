"""rFID: the Fréchet distance between Inception features of the originals and of their
reconstructions, by torchmetrics' ``FrechetInceptionDistance``.

An rFID is only comparable with the literature when it comes from the standard FID
Inception network (the TensorFlow 2015-12-05 graph ported to PyTorch by pytorch-fid,
file ``pt_inception-2015-12-05-6726825d.pth``; torch-fidelity ships the same bytes as
``weights-inception-2015-12-05-6726825d.pth``). So rFID is computed with that file or
not at all: no other network is ever reported as rFID, and nothing is downloaded.
torch-fidelity opens the file with ``torch.load(weights_only=False)``, i.e. it unpickles
it, so its SHA-256 is checked before it is opened: a wrong file is refused, not run.

Features are resized to 299 x 299 with TensorFlow 1.x's bilinear interpolation
(``antialias=False``), as the original TF FID code and torch-fidelity do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers_zoo.benchmarks.weights_file import MetricWeightsError, sha256_of, verify_weights_file

if TYPE_CHECKING:  # torch is imported on use: the CLI reads the constants below without it
    import torch
    from torch import Tensor, nn

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_WEIGHTS_ENV = "TZOO_FID_WEIGHTS"
#: Where pytorch-fid and torch-fidelity leave the file once they have downloaded it.
CACHED_NAMES = (FID_WEIGHTS_FILE, "weights-inception-2015-12-05-6726825d.pth")


class FidWeightsError(MetricWeightsError):
    """A file given as the FID Inception weights that is not that file."""


def verify_fid_weights(path: str | Path) -> Path:
    """``path`` when it is the standard FID Inception weights file; otherwise a clear error."""
    return verify_weights_file(
        path,
        expected_name=FID_WEIGHTS_FILE,
        expected=FID_WEIGHTS_SHA256,
        digest=sha256_of,
        digest_name="SHA-256",
        error=FidWeightsError,
    )


def find_fid_weights(explicit: str | Path | None = None) -> tuple[Path | None, str]:
    """The verified weights file and ``""``, or ``None`` and why rFID is unavailable.

    Looks at ``explicit`` (``--fid-weights``), then ``$TZOO_FID_WEIGHTS``, then torch's hub
    cache, where pytorch-fid and torch-fidelity keep it. A file named in the first two
    must exist and be the right one; a wrong file in the cache is an error too."""
    import torch

    explicit = explicit or os.environ.get(FID_WEIGHTS_ENV)
    if explicit:
        return verify_fid_weights(explicit), ""
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for name in CACHED_NAMES:
        if (cache / name).is_file():
            return verify_fid_weights(cache / name), ""
    return None, (
        f"the FID Inception weights file {FID_WEIGHTS_FILE} (SHA-256 {FID_WEIGHTS_SHA256[:16]}...) "
        f"was not found: pass --fid-weights FILE or set {FID_WEIGHTS_ENV} (nothing is downloaded)"
    )


class FrechetDistance:
    """One feature network, a fresh ``FrechetInceptionDistance`` per compared run.

    The bench builds it with ``inception``; tests inject another ``extractor`` (it maps
    what ``update`` gets to ``(N, features)``) to check the distance on known features."""

    def __init__(self, extractor: nn.Module, device: str | torch.device = "cpu") -> None:
        import torch

        self.extractor = extractor.to(device)
        self.device = torch.device(device)

    @classmethod
    def inception(cls, weights: Path, device: str | torch.device = "cpu") -> FrechetDistance:
        from torchmetrics.image.fid import NoTrainInceptionV3

        network = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(verify_fid_weights(weights)),
            antialias=False,
        )
        return cls(network, device)

    def metric(self) -> nn.Module:
        """A ``FrechetInceptionDistance`` to ``update(images_uint8, real=...)`` over one run."""
        from torchmetrics.image.fid import FrechetInceptionDistance

        return FrechetInceptionDistance(feature=self.extractor).to(self.device)

    @staticmethod
    def value(metric: nn.Module) -> tuple[float | None, str]:
        """The distance and ``""``, or ``None`` and why there is none."""
        count = int(metric.fake_features_num_samples)
        if count < 2:
            return None, f"rFID needs at least 2 images, this run has {count}"
        return float(metric.compute()), ""

    def add(self, metric: nn.Module, original: Tensor, recon: Tensor) -> None:
        """One batch of uint8 ``(B, 3, H, W)`` originals and their reconstructions."""
        metric.update(original.to(self.device), real=True)
        metric.update(recon.to(self.device), real=False)
