"""The study's published values: Table 3 (VT pairs) and Table 2 (synthetic test), and its ordering.

:data:`STUDY_VT` and :data:`STUDY_SYNTHETIC` are the tables as printed in the study;
the benchmark's tables and figures list the study's optimizers and pairs in its order.
"""

from __future__ import annotations

import io
from typing import Iterable

import pandas as pd


#: Table 3 of the study: validation MSE on the scaled target and training time (s), per pair.
#: Columns: registry name, then (MSE, time) for O2-O, O2-Ar, O2-O2, as printed in the study.
_STUDY_VT_TABLE = """\
optimizer,study_name,O2-O_mse,O2-O_time_s,O2-Ar_mse,O2-Ar_time_s,O2-O2_mse,O2-O2_time_s
adamod,AdaMod,0.004,6.23,0.117,4.31,0.015,4.44
madgrad,MADGRAD,0.223,4.76,0.256,4.68,0.168,4.57
radam,RAdam,0.072,6.65,0.069,5.04,0.026,4.94
apollo,Apollo,0.261,2.48,0.300,2.85,0.174,2.46
adahessian,AdaHessian,0.129,5.92,0.087,5.86,0.114,5.85
lars,LARS,0.007,4.43,0.025,4.38,0.029,4.43
lamb,LAMB,0.027,4.47,0.063,4.78,0.036,4.67
adam,Adam,0.100,4.23,0.338,3.11,0.352,3.42
"""

#: Table 2 of the study (synthetic test): training time mean and std (s), epochs to convergence.
_STUDY_SYNTHETIC_TABLE = """\
optimizer,study_name,time_s,time_std_s,epochs
adamod,AdaMod,15.8,1.5,22
madgrad,MADGRAD,19.6,1.3,24
radam,RAdam,17.9,0.4,23
apollo,Apollo,12.6,1.4,17
adahessian,AdaHessian,24.1,0.6,30
lars,LARS,21.5,0.4,30
lamb,LAMB,15.8,1.5,21
adam,Adam,16.36,0.8,21
"""

STUDY_VT = pd.read_csv(io.StringIO(_STUDY_VT_TABLE)).set_index("optimizer")
STUDY_SYNTHETIC = pd.read_csv(io.StringIO(_STUDY_SYNTHETIC_TABLE)).set_index("optimizer")

#: Pairs in the study's column order (O2-O, O2-Ar, O2-O2).
STUDY_PAIR_ORDER = ("O2-O", "O2-Ar", "O2-O2")


def study_best_mse(pair: str) -> float:
    """The study's best validation MSE on ``pair`` (the goal: O2-O 0.004, O2-Ar 0.025, O2-O2 0.015)."""
    return float(STUDY_VT[f"{pair}_mse"].min())


PAIR_LABEL = {"O2-O": "O2–O", "O2-Ar": "O2–Ar", "O2-O2": "O2–O2"}

#: The transition the study plots for the best run of each pair: k_VT(32 -> 31)(T).
STUDY_FIGURE_LEVEL = 32


def figure_level(pair: str) -> int:
    """The upper level of the best-run figure of ``pair``: the study's 32, or the molecule's top level if below."""
    from kvt.physics import species

    return min(STUDY_FIGURE_LEVEL, species.pair(pair).max_level)


def _ordered_optimizers(names: Iterable[str]) -> list[str]:
    """The study's optimizers in its table order, then the others in registry order."""
    from kvt import optimizers

    present = set(names)
    registry = [n for n in optimizers.names() if n in present]
    others = sorted(present - set(registry))
    study = [n for n in STUDY_VT.index if n in present]
    return study + [n for n in registry + others if n not in study]


def _ordered_pairs(pairs: Iterable[str]) -> list[str]:
    """The study's pairs in its column order, then the others sorted."""
    present = set(pairs)
    return [p for p in STUDY_PAIR_ORDER if p in present] + sorted(present - set(STUDY_PAIR_ORDER))
