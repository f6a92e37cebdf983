"""Neural building blocks of the learned tokenizers."""

from tokenizers_zoo.models.autoencoder import Decoder, Encoder
from tokenizers_zoo.models.causal3d import CausalDecoder3d, CausalEncoder3d
from tokenizers_zoo.models.causal_blocks import CausalState
from tokenizers_zoo.models.gaussian import DiagonalGaussian
from tokenizers_zoo.models.inflation import inflate_decoder, inflate_encoder

__all__ = [
    "CausalDecoder3d",
    "CausalEncoder3d",
    "CausalState",
    "Decoder",
    "DiagonalGaussian",
    "Encoder",
    "inflate_decoder",
    "inflate_encoder",
]
