"""kvt: learn state-to-state VT rate coefficients of O2, N2 and NO with neural networks."""

import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter (CPU features, CUDA probing) is noise on a terminal.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The same numbers for the same seed on any x86-64 machine: TensorFlow's CPU matrix products run
# in oneDNN, which picks its kernels by the processor's instruction set at run time (AVX2,
# AVX-512, AMX), and each rounds differently, so two machines train the same seed apart (the
# training loss agrees to 4 digits, the validation loss does not, and early stopping ends
# elsewhere). Capped at AVX2, which every x86-64 processor of the last decade has, the kernels
# and so the numbers are the same everywhere; measured, it costs nothing at this network's size.
# Thread counts do not change the numbers. A user who sets the variable keeps their choice.
# It must be set before TensorFlow first runs an operation: importing kvt first does that.
REPRODUCIBLE_CPU_ISA = "AVX2"
_os.environ.setdefault("ONEDNN_MAX_CPU_ISA", REPRODUCIBLE_CPU_ISA)

from kvt.errors import KvtError  # noqa: E402

__all__ = ["KvtError", "__version__"]
