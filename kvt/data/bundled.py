"""Rewriting the bundled files of the generated pairs (a maintainer's tool; the three O2 VT files are the study's):
the 15 generated VT pairs and the six VV and VV' pairs (``<A-B>.vv.csv``)."""

from __future__ import annotations

import os
from pathlib import Path

from kvt.data import datasets, exchange
from kvt.files import atomic
from kvt.physics.process import EXCHANGE_PAIRS, resolve


def write_generated_files(folder: str | os.PathLike | None = None, pairs=datasets.GENERATED_PAIRS) -> list[Path]:
    """(Re)write the generated VT pairs' files into ``folder`` (default: the bundled data folder), atomically."""
    folder = Path(folder) if folder is not None else datasets.bundled_data_dir()
    written = []
    for name in pairs:
        process = resolve(name)
        path = folder / datasets.bundled_path(process).name
        atomic.write_text(path, datasets.generated_file_text(process), force=True)
        written.append(path)
    return written


def write_exchange_files(folder: str | os.PathLike | None = None) -> list[Path]:
    """(Re)write the VV and VV' pairs' files (every level pair x the study's 15 temperatures) into ``folder``."""
    folder = Path(folder) if folder is not None else datasets.bundled_data_dir()
    written = []
    for kind, names in EXCHANGE_PAIRS.items():
        for name in names:
            process = resolve(name, kind)
            path = folder / datasets.bundled_path(process).name
            atomic.write_text(path, exchange.bundled_text(process), force=True)
            written.append(path)
    return written
