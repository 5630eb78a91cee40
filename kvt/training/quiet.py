"""Importing TensorFlow without its start-up noise on the terminal.

Commands import it only when they need it (training, tuning, benchmarks, an optimizer's
signature), so ``kvt --help`` and the TF-free commands start in well under a second;
``kvt bench vt --workers`` imports it so in each worker process.
"""

from __future__ import annotations

import sys


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null.

    TensorFlow's C++ start-up lines (CPU features, CUDA probing) are written before its
    logging is configured, so no environment variable silences them; real failures
    still surface as Python exceptions.
    """
    if "tensorflow" in sys.modules:
        return
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow

            tensorflow.config.list_physical_devices()  # the CUDA probe logs here, not later
    finally:
        os.dup2(saved, 2)
        os.close(saved)
