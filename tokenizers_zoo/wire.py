"""The token codec: tokens as they travel and rest outside Python (JSON, ``.npy`` with
metadata headers, files).

``Tokens.to_dict``/``from_dict``, ``tzoo encode``/``decode``, the service and its client
SDK all read and write tokens through this module, so none of them can drift apart. It
needs numpy only (no torch), which keeps the client light. Parsing is strict and never
trusts a declared size: a ``.npy`` header must match the bytes that follow, and object
arrays (pickles) are refused.
"""

from __future__ import annotations

import ast
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_zoo.errors import InvalidTokensError, MalformedBodyError, TokenizersZooError

H_TOKENIZER = "X-Tzoo-Tokenizer"
H_KIND = "X-Tzoo-Kind"
H_ORIGINAL_SIZE = "X-Tzoo-Original-Size"
H_SAMPLE_RATE = "X-Tzoo-Sample-Rate"
H_EXTRAS = "X-Tzoo-Extras"
#: Headers a browser script may read on a cross-origin npy answer.
TOKEN_HEADERS = (H_TOKENIZER, H_KIND, H_ORIGINAL_SIZE, H_SAMPLE_RATE, H_EXTRAS)

_NPY_MAGIC = b"\x93NUMPY"

#: The ``extras`` key for what encoding measured about each item, as opposed to settings of
#: the whole call: a list with one JSON-able dict per item (EnCodec 48 kHz keeps each item's
#: loudness scales there, without which its ids cannot be decoded). Taking items of a batch
#: takes their entries, so a split batch still decodes.
PER_ITEM = "per_item"

#: The highest sample rate tokens may carry (and the service's ``?sample_rate=`` takes): far
#: above any audio format in use (384 kHz), far below what a WAV header can hold (2**32 - 1).
MAX_SAMPLE_RATE = 1_000_000


@dataclass
class EncodedTokens:
    """Tokens of one or more items as numpy data plus what decoding needs; the numpy twin of
    ``tokenizers_zoo.Tokens`` (same fields; ``Tokens.to_encoded``/``from_encoded`` convert)."""

    tokenizer: str
    kind: str
    data: np.ndarray
    original_size: tuple[int, ...]
    sample_rate: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> np.ndarray | None:
        return self.data if self.kind == "discrete" else None

    @property
    def latents(self) -> np.ndarray | None:
        return self.data if self.kind == "continuous" else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def item(self, index: int) -> EncodedTokens:
        """Item ``index`` of the batch, keeping a batch axis of 1 and its per-item extras."""
        extras = dict(self.extras)
        if isinstance(extras.get(PER_ITEM), list):
            extras[PER_ITEM] = extras[PER_ITEM][index : index + 1]
        return replace(self, data=self.data[index : index + 1], extras=extras)

    # -- JSON ------------------------------------------------------------------------
    def to_json(self, with_data: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tokenizer": self.tokenizer,
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": str(self.data.dtype),
            "original_size": list(self.original_size),
            "sample_rate": self.sample_rate,
            "extras": self.extras,
        }
        if with_data:
            body["ids" if self.kind == "discrete" else "latents"] = self.data.tolist()
        return body

    @classmethod
    def from_json(cls, body: Any, data: np.ndarray | None = None) -> EncodedTokens:
        """Parse the JSON ``to_json`` writes (``data`` supplies the array when the body is
        metadata only). Anything missing or of the wrong type raises ``InvalidTokensError``."""
        if not isinstance(body, dict):
            raise InvalidTokensError("tokens must be a JSON object")
        if data is None:
            has_ids, has_latents = "ids" in body, "latents" in body
            if has_ids == has_latents:
                raise InvalidTokensError(
                    "tokens need exactly one of 'ids' (discrete) or 'latents' (continuous)"
                )
            kind = "discrete" if has_ids else "continuous"
            data = _array_from_lists(body["ids" if has_ids else "latents"], kind)
            if body.get("kind", kind) != kind:
                raise InvalidTokensError(f"'kind' is {body.get('kind')!r} but the body holds {kind} tokens")
        else:
            kind = body.get("kind")
            if kind not in ("discrete", "continuous"):
                raise InvalidTokensError("'kind' must be 'discrete' or 'continuous'")
            data = check_token_array(data, kind)
        shape = body.get("shape")
        if shape is not None:
            if not isinstance(shape, list) or not all(_is_int(v) and v >= 0 for v in shape):
                raise InvalidTokensError("'shape' must be a list of non-negative integers")
            if shape != list(data.shape):
                raise InvalidTokensError(f"'shape' {shape} does not match the data's {list(data.shape)}")
        if body.get("dtype") is not None:
            _string(body["dtype"], "dtype")
        return cls(
            tokenizer=_string(body.get("tokenizer", ""), "tokenizer"),
            kind=kind,
            data=data,
            original_size=_size(body.get("original_size")),
            sample_rate=_sample_rate(body.get("sample_rate")),
            extras=_extras(body.get("extras")),
        )

    # -- npy + headers ---------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        headers = {
            H_TOKENIZER: self.tokenizer,
            H_KIND: self.kind,
            H_ORIGINAL_SIZE: ",".join(map(str, self.original_size)),
            H_EXTRAS: json.dumps(self.extras, separators=(",", ":")),
        }
        if self.sample_rate is not None:
            headers[H_SAMPLE_RATE] = str(self.sample_rate)
        return headers

    def to_npy(self) -> bytes:
        return write_npy(self.data)

    @classmethod
    def from_npy(cls, body: bytes, headers: Mapping[str, str], tokenizer: str = "") -> EncodedTokens:
        """An ``.npy`` body with the headers ``headers()`` writes, all optional: without
        ``X-Tzoo-Kind`` integer data are ids and float data latents; without
        ``X-Tzoo-Original-Size`` the tokenizer decodes the whole token grid."""
        data = read_npy(body)
        meta = {
            "tokenizer": headers.get(H_TOKENIZER, tokenizer),
            "kind": headers.get(H_KIND) or kind_of(data),
            "original_size": _size_header(headers.get(H_ORIGINAL_SIZE)),
            "sample_rate": headers.get(H_SAMPLE_RATE),
            "extras": _json_header(headers.get(H_EXTRAS)),
        }
        return cls.from_json(meta, data=data)


def kind_of(data: np.ndarray) -> str:
    """The kind bare token data stand for: integers are ids, anything else latents."""
    return "discrete" if data.dtype.kind in "iu" else "continuous"


def check_token_array(data: np.ndarray, kind: str) -> np.ndarray:
    """Ids must be integers (made int64), latents numbers (made float32)."""
    if kind == "discrete":
        if data.dtype.kind not in "iu":
            raise InvalidTokensError(f"ids must be integers, got {data.dtype}")
        if data.dtype == np.uint64 and data.size and int(data.max()) > np.iinfo(np.int64).max:
            raise InvalidTokensError("ids do not fit in int64")
        return data.astype(np.int64, copy=False)
    if data.dtype.kind not in "iuf":
        raise InvalidTokensError(f"latents must be numbers, got {data.dtype}")
    return data.astype(np.float32, copy=False)


def _array_from_lists(values: Any, kind: str) -> np.ndarray:
    if not isinstance(values, list):
        raise InvalidTokensError("token data must be a (nested) JSON list")
    try:
        data = np.asarray(values)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidTokensError(f"token data must be a rectangular nested list of numbers: {exc}") from exc
    if data.dtype.kind == "f" and kind == "discrete":
        raise InvalidTokensError("ids must be integers, got floats")
    if data.dtype.kind not in "iuf" or data.size == 0 and data.ndim < 2:
        raise InvalidTokensError("token data must be a rectangular nested list of numbers")
    return check_token_array(data, kind)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidTokensError(f"'{name}' must be a string")
    return value


def _size(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(_is_int(v) and v > 0 for v in value):
        raise InvalidTokensError("'original_size' must be a list of positive integers")
    return tuple(int(v) for v in value)


def _sample_rate(value: Any) -> int | None:
    """None, or a rate in 1..MAX_SAMPLE_RATE Hz (an int, or its digits from a header)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not _is_int(value) or not 0 < value <= MAX_SAMPLE_RATE:
        raise InvalidTokensError(f"'sample_rate' must be an integer from 1 to {MAX_SAMPLE_RATE} Hz")
    return int(value)


def _extras(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidTokensError("'extras' must be a JSON object")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size_header(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise InvalidTokensError(
            f"{H_ORIGINAL_SIZE} must be comma-separated integers, got {value!r}"
        ) from None


def _json_header(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidTokensError(f"{H_EXTRAS} must be a JSON object") from None


# -- .npy ------------------------------------------------------------------------------
def write_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_npy(body: bytes) -> np.ndarray:
    """A numeric ``.npy`` (format 1.0-3.0) whose header matches its length; no pickles,
    no structured dtypes, and no allocation beyond the body itself."""
    if not body.startswith(_NPY_MAGIC) or len(body) < 10:
        raise MalformedBodyError("the body is not an .npy file (bad magic string)")
    major = body[6]
    if major == 1:
        header_len, start = int.from_bytes(body[8:10], "little"), 10
    elif major in (2, 3):
        header_len, start = int.from_bytes(body[8:12], "little"), 12
    else:
        raise MalformedBodyError(f".npy format version {major} is not supported")
    raw_header = body[start : start + header_len]
    try:
        header = ast.literal_eval(raw_header.decode("utf-8" if major == 3 else "latin1"))
        dtype = np.dtype(header["descr"])
        shape = tuple(int(s) for s in header["shape"])
        fortran = bool(header["fortran_order"])
    except (ValueError, TypeError, KeyError, SyntaxError, MemoryError, RecursionError) as exc:
        raise MalformedBodyError(f"the .npy header is malformed: {exc}") from exc
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biuf" or any(s < 0 for s in shape):
        raise MalformedBodyError(f".npy arrays must be plain numbers, got dtype {dtype} shape {shape}")
    offset = start + header_len
    expected = math.prod(shape) * dtype.itemsize
    if len(body) - offset != expected:
        raise MalformedBodyError(
            f"the .npy header declares {shape} {dtype} ({expected} bytes) but {len(body) - offset} follow"
        )
    flat = np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")


# -- files -------------------------------------------------------------------------------
def save_tokens(path: str | Path, tokens: EncodedTokens) -> list[Path]:
    """``x.json``: the JSON the service answers; ``x.npy``: the array, with its metadata in
    ``x.json`` beside it. Returns the files written."""
    path = Path(path)
    if path.suffix == ".npy":
        meta = path.with_suffix(".json")
        path.write_bytes(tokens.to_npy())
        meta.write_text(json.dumps(tokens.to_json(with_data=False), indent=2) + "\n")
        return [path, meta]
    path.write_text(json.dumps(tokens.to_json()) + "\n")
    return [path]


def load_tokens(path: str | Path, tokenizer: str = "") -> EncodedTokens:
    """Inverse of ``save_tokens``; a bare ``.npy`` (no ``.json`` beside it, e.g. a model's
    output) is read with ``tokenizer``'s name, as ids when integer and latents when float."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            data = read_npy(path.read_bytes())
            meta_path = path.with_suffix(".json")
            if meta_path.is_file():
                return EncodedTokens.from_json(json.loads(meta_path.read_text()), data=data)
            return EncodedTokens.from_json({"tokenizer": tokenizer, "kind": kind_of(data)}, data=data)
        return EncodedTokens.from_json(json.loads(path.read_text()))
    except OSError as exc:
        raise InvalidTokensError(f"cannot read tokens from {path}: {exc.strerror}") from exc
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, TokenizersZooError):
            raise
        raise InvalidTokensError(f"{path} is not a tokens file: {exc}") from exc
