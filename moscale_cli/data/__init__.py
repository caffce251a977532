"""Datasets in the HumanML3D layout: reading (``dataset``), layout helpers (``layout``), BVH import, merging.

Names are imported lazily so that ``import moscale_cli.data.synth`` does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DatasetSpec": "moscale_cli.data.dataset",
    "DatasetReport": "moscale_cli.data.dataset",
    "DatasetWarning": "moscale_cli.data.dataset",
    "MotionDataset": "moscale_cli.data.dataset",
    "MotionLoader": "moscale_cli.data.dataset",
    "collate": "moscale_cli.data.dataset",
    "make_loader": "moscale_cli.data.dataset",
    "CaptionLine": "moscale_cli.data.layout",
    "read_captions": "moscale_cli.data.layout",
    "read_split": "moscale_cli.data.layout",
    "load_stats": "moscale_cli.data.layout",
    "import_bvh_folder": "moscale_cli.data.bvh_import",
    "ImportConfig": "moscale_cli.data.bvh_import",
    "merge_datasets": "moscale_cli.data.merge",
    "dataset_stats": "moscale_cli.data.merge",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moscale_cli.data' has no attribute {name!r}")
