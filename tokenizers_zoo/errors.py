"""Typed errors, so callers (the CLI, the service) can tell a user's mistake from a bug.

Every error a user can cause derives from ``TokenizersZooError``; the CLI prints its
message and exits non-zero, and the service maps it to a 4xx problem+json answer.
They also derive from the built-in exception a Python user would expect
(``KeyError`` for an unknown name, ``ValueError`` for bad tokens), so existing
``except`` clauses keep working.
"""

from __future__ import annotations


class TokenizersZooError(Exception):
    """Base class of every error caused by input rather than by a bug."""

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownTokenizerError(TokenizersZooError, KeyError):
    """A tokenizer name that is not in the registry."""


class InvalidTokensError(TokenizersZooError, ValueError):
    """Tokens of the wrong kind, dtype or shape, or ids outside a codebook."""


class InvalidMediaError(TokenizersZooError, ValueError):
    """Media a tokenizer cannot take: wrong shape, dtype, value range or channel count."""


class MediaTooLargeError(InvalidMediaError):
    """Media over a size limit (bytes, pixels, seconds), checked before it is decoded in
    full, so a small compressed file cannot expand into gigabytes (a decompression bomb)."""


class WeightsNotFoundError(TokenizersZooError, FileNotFoundError):
    """A tokenizer needs weights that are not on this machine."""


class CheckpointError(TokenizersZooError, ValueError):
    """A checkpoint directory that is incomplete or does not match its config."""


class DeviceUnavailableError(TokenizersZooError, RuntimeError):
    """A device was asked for that this machine does not have (e.g. cuda without a GPU)."""


class UnsupportedMediaTypeError(TokenizersZooError):
    """A file type (a ``Content-Type``, a file's suffix) that the tokenizer cannot take, or
    an output type it cannot write."""


class NotAcceptableError(TokenizersZooError):
    """An ``Accept`` header that names nothing the route can give."""


class MalformedBodyError(TokenizersZooError, ValueError):
    """Bytes that cannot be parsed at all: not JSON, not ``.npy``, not a readable file of
    the type they claim, broken base64."""


class MissingExtraError(TokenizersZooError, ImportError):
    """A tokenizer wraps a library that is an optional extra and is not installed
    (``pip install 'tokenizers-zoo[hf]'``)."""


class EncodeOnlyError(TokenizersZooError, NotImplementedError):
    """Decoding was asked of a tokenizer that only encodes (an embedding encoder such as
    SigLIP's vision tower), or whose library publishes no decoder."""
