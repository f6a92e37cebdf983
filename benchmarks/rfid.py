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

from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers_zoo.benchmarks.weights_file import MetricWeights, MetricWeightsError, sha256_of

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


def _hub_cache() -> list[Path]:
    """Where pytorch-fid and torch-fidelity leave the file: torch's hub cache."""
    import torch

    return [Path(torch.hub.get_dir()) / "checkpoints" / name for name in CACHED_NAMES]


FID_WEIGHTS = MetricWeights(
    file=FID_WEIGHTS_FILE,
    expected=FID_WEIGHTS_SHA256,
    digest=sha256_of,
    digest_name="SHA-256",
    env=FID_WEIGHTS_ENV,
    flag="--fid-weights",
    error=FidWeightsError,
    what=f"the FID Inception weights file {FID_WEIGHTS_FILE}",
    cached=_hub_cache,
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
            feature_extractor_weights_path=str(FID_WEIGHTS.verify(weights)),
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
