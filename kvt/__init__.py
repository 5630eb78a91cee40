"""kvt: learn state-to-state VT rate coefficients of O2, N2 and NO with neural networks."""

import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter (CPU features, CUDA probing) is noise on a terminal.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kvt.errors import KvtError  # noqa: E402

__all__ = ["KvtError", "__version__"]
