"""rFVD: the Fréchet distance between I3D features of original clips and of their
reconstructions, the video counterpart of rFID (TokenBench, Cosmos, MAGVIT report it).

An rFVD is only comparable with the literature when it comes from the I3D network FVD was
defined with (Kinetics-400, Unterthiner et al. 2018), in the TorchScript port StyleGAN-V
published and the video-generation literature reuses, file ``i3d_torchscript.pt``. So rFVD
is computed with that file or not at all, and nothing is downloaded. Its only public record
here is a repository that holds it (JunyaoHu/common_metrics_on_video_quality,
``fvd/styleganv/``), so the file is identified by the id git gives its bytes, which
``git hash-object i3d_torchscript.pt`` prints; a TorchScript archive runs code when loaded,
so the id is checked before ``torch.jit.load``.

Each clip is brought to the network as that port's users do: the shorter side resized to
224 (bilinear), the centre 224 x 224 cropped, values in [-1, 1], called with
``rescale=False, resize=False, return_features=True`` (the 400 logits before the softmax).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers_zoo.benchmarks.weights_file import MetricWeights, MetricWeightsError, git_blob_id

if TYPE_CHECKING:  # torch is imported on use: the CLI reads the constants below without it
    import torch
    from torch import Tensor

FVD_WEIGHTS_FILE = "i3d_torchscript.pt"
FVD_WEIGHTS_GIT_BLOB = "93daef59c7ae0e9e8f76225521407e60cbafa6aa"
FVD_WEIGHTS_ENV = "TZOO_FVD_WEIGHTS"
I3D_SIDE = 224


class FvdWeightsError(MetricWeightsError):
    """A file given as the FVD I3D weights that is not that file."""


FVD_WEIGHTS = MetricWeights(
    file=FVD_WEIGHTS_FILE,
    expected=FVD_WEIGHTS_GIT_BLOB,
    digest=git_blob_id,
    digest_name="git blob id",
    env=FVD_WEIGHTS_ENV,
    flag="--fvd-weights",
    error=FvdWeightsError,
    what=f"StyleGAN-V's FVD I3D TorchScript file {FVD_WEIGHTS_FILE}",
)


def i3d_input(clip: Tensor) -> Tensor:
    """A uint8 ``(T, 3, H, W)`` clip as the I3D port takes it: ``(1, 3, T, 224, 224)`` in [-1, 1]."""
    import torch.nn.functional as F

    frames = clip.float() / 255.0
    height, width = frames.shape[-2:]
    scale = I3D_SIDE / min(height, width)
    size = (max(I3D_SIDE, math.ceil(height * scale)), max(I3D_SIDE, math.ceil(width * scale)))
    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
    top, left = (size[0] - I3D_SIDE) // 2, (size[1] - I3D_SIDE) // 2
    frames = frames[..., top : top + I3D_SIDE, left : left + I3D_SIDE]
    return (frames * 2 - 1).permute(1, 0, 2, 3)[None].contiguous()


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two ``(N, D)`` feature sets, in float64:
    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, the trace of the root taken from the
    eigenvalues of ``S1 S2`` (as torchmetrics' FID does)."""
    import torch

    real, fake = real.double(), fake.double()
    mean_term = (real.mean(0) - fake.mean(0)).square().sum()
    s_real, s_fake = torch.cov(real.T), torch.cov(fake.T)
    root_trace = torch.linalg.eigvals(s_real @ s_fake).sqrt().real.sum()
    return float(mean_term + s_real.trace() + s_fake.trace() - 2 * root_trace)


class VideoFrechetDistance:
    """The I3D network and, per compared run, the features of the originals and the
    reconstructions. Tests give another TorchScript file of the same call signature."""

    def __init__(self, weights: Path, device: torch.device) -> None:
        import torch

        self.network = torch.jit.load(str(FVD_WEIGHTS.verify(weights)), map_location=device).eval()
        self.device = device
        self.real: list[Tensor] = []
        self.fake: list[Tensor] = []

    def start_run(self) -> None:
        self.real, self.fake = [], []

    def add(self, original: Tensor, recon: Tensor) -> None:
        """One uint8 ``(T, 3, H, W)`` clip and its reconstruction."""
        self.real.append(self._features(original))
        self.fake.append(self._features(recon))

    def value(self) -> tuple[float | None, str]:
        """The distance and ``""``, or ``None`` and why there is none."""
        import torch

        if len(self.fake) < 2:
            return None, f"rFVD needs at least 2 clips, this run has {len(self.fake)}"
        return frechet_distance(torch.cat(self.real), torch.cat(self.fake)), ""

    def _features(self, clip: Tensor) -> Tensor:
        import torch

        with torch.no_grad():
            x = i3d_input(clip).to(self.device)
            return self.network(x, rescale=False, resize=False, return_features=True).cpu()
