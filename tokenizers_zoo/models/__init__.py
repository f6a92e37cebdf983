"""Neural building blocks of the learned tokenizers."""

from tokenizers_zoo.models.autoencoder import Decoder, Encoder
from tokenizers_zoo.models.gaussian import DiagonalGaussian

__all__ = ["Decoder", "DiagonalGaussian", "Encoder"]
