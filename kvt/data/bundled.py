"""Rewriting the bundled files of the generated air pairs (a maintainer's tool; the O2 files are the study's)."""

from __future__ import annotations

import os
from pathlib import Path

from kvt.data import datasets
from kvt.files import atomic
from kvt.physics import species


def write_generated_files(folder: str | os.PathLike | None = None, pairs=datasets.GENERATED_PAIRS) -> list[Path]:
    """(Re)write the generated pairs' files into ``folder`` (default: the bundled data folder), atomically."""
    folder = Path(folder) if folder is not None else datasets.bundled_data_dir()
    written = []
    for name in pairs:
        path = folder / f"{species.pair(name).name}.csv"
        atomic.write_text(path, datasets.generated_file_text(name), force=True)
        written.append(path)
    return written
