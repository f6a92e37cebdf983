"""Token datasets: folders of images or audio tokenized once into memory-mappable shards,
for training next-token-prediction models (``tzoo tokenize-dataset``).

``tokenize_dataset`` writes one (``build.py``: engines, resume, the lock), ``TokenDataset``
reads it with random access, ``dataset_info`` and ``verify_dataset`` describe and check it
(``shards.py``: the format). The per-batch work shared by the engines is in ``items.py``.
"""

from tokenizers_zoo.datasets.build import DatasetInUseError, Summary, tokenize_dataset
from tokenizers_zoo.datasets.items import DatasetInputError, Limits
from tokenizers_zoo.datasets.shards import (
    DatasetFormatError,
    Sample,
    TokenDataset,
    dataset_info,
    verify_dataset,
)

__all__ = [
    "DatasetFormatError",
    "DatasetInUseError",
    "DatasetInputError",
    "Limits",
    "Sample",
    "Summary",
    "TokenDataset",
    "dataset_info",
    "tokenize_dataset",
    "verify_dataset",
]
