"""The benchmarks' figures, saved as 256-colour PNGs (atomically).

Loss curves per pair, grouped bars of MSE and time beside the study's values, the
k_VT(32→31)(T) of the best run per pair (retrained, deterministic), the performance
profiles of the time to result, and the synthetic test's time, epochs and loss curves.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kvt.bench.records import _curve_name
from kvt.bench.runs import train_vt
from kvt.bench.settings import SYNTHETIC, VTSettings
from kvt.bench.statistics import performance_profile, performance_ratios, profile_measure
from kvt.bench.study import (PAIR_LABEL, STUDY_VT, _ordered_optimizers, _ordered_pairs, figure_level,
                             study_best_mse)
from kvt.files import atomic

SMOOTHING = 9  # the loss figures draw a centred rolling median over this many stored points
PNG_DPI = 100


def _save_png(fig, path: Path) -> Path:
    """Save ``fig`` as a 256-colour PNG (dpi PNG_DPI; a third of the bytes) atomically and close it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(colors=256)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return atomic.write_bytes(path, buffer.getvalue(), force=True)


def _smoothed(values: pd.Series, window: int = SMOOTHING) -> pd.Series:
    """A centred rolling median (the validation loss of small-batch training is very noisy), positive only."""
    values = values.where(values > 0)
    return values.rolling(window, center=True, min_periods=1).median()


def _style(index: int, name: str):
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab20").colors
    return {"color": colors[index % len(colors)], "linestyle": "-" if name in STUDY_VT.index else "--"}


#: Above this many optimizers the validation-loss figure becomes small multiples (one panel each) and the
#: performance profiles show the PROFILE_LEADERS best of each panel in colour, the others in grey.
SINGLE_AXIS_MAX = 8
PROFILE_LEADERS = 6


def _seed0_curves(out: Path, pair: str, optimizers: list[str]) -> dict[str, pd.DataFrame]:
    """Each optimizer's validation-loss curve of seed 0 (or its first seed) on ``pair``."""
    curves = {}
    for optimizer in optimizers:
        files = sorted((out / "curves").glob(f"{pair}__{optimizer}__*.csv"))
        path = out / "curves" / _curve_name(pair, optimizer, 0)
        path = path if path.exists() else (files[0] if files else None)
        if path is not None:
            curves[optimizer] = pd.read_csv(path)
    return curves


def vt_loss_figure(out: Path, pair: str, optimizers: list[str]):
    """Validation loss against epoch, seed 0: one axis for a few optimizers; for more, small multiples (one panel
    per optimizer in colour over every other optimizer in grey), since 21 colours cannot be told apart."""
    import matplotlib.pyplot as plt

    curves = _seed0_curves(out, pair, optimizers)
    study = study_best_mse(pair) if f"{pair}_mse" in STUDY_VT else None
    title = (f"{PAIR_LABEL.get(pair, pair)}: validation loss of every optimizer "
             f"(seed 0, rolling median of {SMOOTHING} points)")
    if len(curves) <= SINGLE_AXIS_MAX:
        fig, ax = plt.subplots(figsize=(8.0, 4.6))
        for index, optimizer in enumerate(optimizers):
            if optimizer in curves:
                curve = curves[optimizer]
                ax.plot(curve["epoch"], _smoothed(curve["val_loss"]), lw=1.1, label=optimizer,
                        **_style(index, optimizer))
        if study is not None:
            ax.axhline(study, color="k", lw=0.8, ls=":", label=f"study's best ({study:g})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation MSE (scaled target)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        return fig
    names = [name for name in optimizers if name in curves]
    columns = 4
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.1 * rows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    for ax, optimizer in zip(axes.ravel(), names):
        for other in names:
            if other != optimizer:
                ax.plot(curves[other]["epoch"], _smoothed(curves[other]["val_loss"]), color="0.82", lw=0.7)
        curve = curves[optimizer]
        ax.plot(curve["epoch"], _smoothed(curve["val_loss"]), color="C0", lw=1.5)
        if study is not None:
            ax.axhline(study, color="k", lw=0.7, ls=":")
        ax.set_title(optimizer, fontsize=9, pad=2)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.2)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for column in range(columns):  # the lowest panel of each column carries the epoch axis
        lowest = axes[max(r for r in range(rows) if r * columns + column < len(names)), column]
        lowest.xaxis.set_tick_params(labelbottom=True)
        lowest.set_xlabel("epoch", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("val. MSE", fontsize=8)
    note = f"; dotted: the study's best ({study:g})" if study is not None else ""
    fig.suptitle(f"{title}\neach panel: one optimizer (blue) over the others (grey){note}", fontsize=10)
    fig.tight_layout()
    return fig


def _grouped_bars(summary: pd.DataFrame, value: str, error: str, study: str, ylabel: str, title: str,
                  log: bool, goal: bool):
    import matplotlib.pyplot as plt

    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    colors = {pair: plt.get_cmap("tab10").colors[i] for i, pair in enumerate(pairs)}
    width = 0.8 / len(pairs)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(optimizers) + 2), 4.4))
    x = np.arange(len(optimizers))
    shown = []  # every value drawn: a log axis needs one > 0 (an air pair has no study values to fall back on)
    for i, pair in enumerate(pairs):
        part = summary[summary["pair"] == pair].set_index("optimizer").reindex(optimizers)
        shown += [part[value].to_numpy(dtype=float), part[study].to_numpy(dtype=float)]
        positions = x - 0.4 + width * (i + 0.5)
        ax.bar(positions, part[value], width, yerr=part[error].fillna(0), capsize=2, color=colors[pair],
               label=PAIR_LABEL.get(pair, pair), error_kw={"lw": 0.8})
        studied = part[study].notna()
        if studied.any():
            ax.plot(positions[studied.to_numpy()], part[study][studied], "x", color="k", ms=5,
                    label="study" if i == 0 else None)
        if goal and f"{pair}_mse" in STUDY_VT:
            ax.axhline(study_best_mse(pair), color=colors[pair], ls="--", lw=0.9)
    ax.set_xticks(x)
    ax.set_xticklabels(optimizers, rotation=60, ha="right")
    values = np.concatenate(shown)
    if log and (values[np.isfinite(values)] > 0).any():
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return fig


def vt_level_figure(out: Path, pair: str, info: dict, training: dict, level: int | None = None):
    """Retrain the best optimizer's best seed (deterministic), save the run, draw k_VT(level).

    ``level`` defaults to :func:`kvt.bench.study.figure_level` of the pair (the study's 32).
    """
    from kvt.runs import figures

    level = figure_level(pair) if level is None else level
    from kvt.runs.folder import open_run, save_run

    settings = VTSettings.from_training(training, [pair], [info["optimizer"]])
    result = train_vt(settings, pair, info["optimizer"], info["seed"], 
                      opt=info.get("hyperparameters") if settings.protocol == "tuned" else None)
    tmp = Path(tempfile.mkdtemp(prefix=".best-run.", dir=out))
    try:
        run = open_run(save_run(result, tmp / "run", plot_level=level))
        fig = figures.level_figure(run, level)
        fig.axes[0].set_title(f"{PAIR_LABEL.get(pair, pair)}: $k_{{VT}}^{{{level}\\to{level - 1}}}(T)$, best optimizer "
                              f"{info['optimizer']} (seed {info['seed']}, val. MSE "
                              f"{result.metrics['val_mse_scaled']:.3g})", fontsize=10)
        _save_png(fig, out / f"k_vt_{level}_{pair}.png")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result.metrics["val_mse_scaled"]


#: The panels of profiles.png: results.csv column, what it counts, the target it reaches.
PROFILE_PANELS = (("target_steps", "optimizer steps", "validation MSE ≤ {target_mse}"),
                  ("target_time_s", "seconds", "validation MSE ≤ {target_mse}"),
                  ("rel_target_steps", "optimizer steps", "dense-grid median rel. error ≤ {rel_target}"))
PROFILE_TAU_MAX = 4.0


def _first_value(results: pd.DataFrame, column: str) -> str:
    """The first value of ``column`` (a target the runs record), or "target" when none is recorded."""
    values = pd.to_numeric(results[column], errors="coerce").dropna() if column in results else pd.Series([])
    return format(float(values.iloc[0]), "g") if len(values) else "target"


def profiles_figure(results: pd.DataFrame):
    """Dolan–Moré performance profiles (tau 1..4) of the cost to reach the targets, one panel per measure.

    Problems are the (pair, seed) of results.csv, solvers the optimizers
    (:func:`kvt.bench.statistics.profile_measure`); y is the share of problems an optimizer
    solved within tau times the best optimizer's cost. A panel without any reached value says so.
    With more than ``SINGLE_AXIS_MAX`` optimizers each panel colours and names its ``PROFILE_LEADERS`` best
    (largest area under the profile) and draws the others in grey.
    """
    import matplotlib.pyplot as plt

    targets = {"target_mse": _first_value(results, "target_mse"), "rel_target": _first_value(results, "rel_target")}
    optimizers = _ordered_optimizers(results["optimizer"].unique())
    fig, axes = plt.subplots(1, len(PROFILE_PANELS), figsize=(5.0 * len(PROFILE_PANELS), 4.2), sharey=True)
    drawn = False
    for ax, (column, unit, target) in zip(axes, PROFILE_PANELS):
        measure = profile_measure(results, column).reindex(columns=optimizers)
        ax.set_title(f"{unit} to {target.format(**targets)}", fontsize=10)
        ax.set_xlim(1.0, PROFILE_TAU_MAX)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("τ (cost ÷ best optimizer's cost on the same pair × seed)")
        ax.grid(True, alpha=0.25)
        ratios = performance_ratios(measure).to_numpy()
        if not np.isfinite(ratios).any():
            why = "no run reached the target" if column in results else "not recorded in this results.csv"
            ax.text(0.5, 0.5, f"{why}\n({column})", ha="center", va="center", transform=ax.transAxes)
            continue
        # the profiles are step functions: evaluate them at every ratio inside [1, tau_max] and on a fine grid
        breaks = ratios[np.isfinite(ratios) & (ratios <= PROFILE_TAU_MAX)]
        taus = np.unique(np.concatenate([np.linspace(1.0, PROFILE_TAU_MAX, 301), breaks]))
        profile = performance_profile(measure, taus)
        if len(optimizers) <= SINGLE_AXIS_MAX:
            for index, optimizer in enumerate(optimizers):
                ax.step(taus, profile[optimizer], where="post", lw=1.2, label=optimizer, **_style(index, optimizer))
        else:  # many optimizers: the best few (largest area under the profile) in colour, the others in grey
            area = {name: float(np.trapezoid(profile[name], taus)) for name in optimizers}
            leaders = sorted(optimizers, key=lambda name: (-area[name], name))[:PROFILE_LEADERS]
            for optimizer in optimizers:
                if optimizer not in leaders:
                    ax.step(taus, profile[optimizer], where="post", lw=0.8, color="0.78")
            for index, optimizer in enumerate(leaders):
                ax.step(taus, profile[optimizer], where="post", lw=1.6, color=f"C{index}",
                        label=optimizer)
            ax.plot([], [], color="0.78", lw=0.8, label=f"the other {len(optimizers) - len(leaders)} (grey)")
            ax.legend(fontsize=7, loc="lower right")
        drawn = True
    axes[0].set_ylabel(f"share of the {len(results[['pair', 'seed']].drop_duplicates())} (pair, seed) problems")
    if drawn and len(optimizers) <= SINGLE_AXIS_MAX:
        fig.legend(*next(ax for ax in axes if ax.lines).get_legend_handles_labels(), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=7, ncol=1 if len(optimizers) <= 16 else 2)
    fig.suptitle("Performance profiles (Dolan–Moré) of the time to result; not reached = ∞")
    fig.tight_layout()
    return fig


def synthetic_figures(out: Path, summary: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    part = summary.set_index("optimizer").reindex(optimizers)
    x = np.arange(len(optimizers))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 0.6 * len(optimizers) + 3), 4.2))
    for ax, value, error, study, label in ((axes[0], "time_mean", "time_std", "study_time", "training time, s"),
                                           (axes[1], "epochs_mean", "epochs_std", "study_epochs", "epochs")):
        ax.bar(x, part[value], 0.7, yerr=part[error].fillna(0), capsize=2, color="tab:blue", label="kvt",
               error_kw={"lw": 0.8})
        studied = part[study].notna().to_numpy()
        if studied.any():
            ax.plot(x[studied], part[study][studied], "x", color="k", ms=6, label="study")
        ax.set_xticks(x)
        ax.set_xticklabels(optimizers, rotation=60, ha="right")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.25)
        ax.legend(fontsize=8)
    fig.suptitle("Synthetic test: time and epochs until early stopping (mean ± std)")
    _save_png(fig, out / "synthetic_time_epochs.png")

    fig, ax = plt.subplots(figsize=(8.0, 4.6))
    for index, optimizer in enumerate(optimizers):
        files = sorted((out / "curves").glob(f"{optimizer}__*.csv"))
        if not files:
            continue
        curve = pd.read_csv(files[0])
        ax.plot(curve["epoch"], _smoothed(curve["val_loss"], 3), lw=1.1, label=optimizer, **_style(index, optimizer))
    ax.axhline(SYNTHETIC["noise"] ** 2, color="k", ls=":", lw=0.8, label="noise floor")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE")
    ax.set_title("Synthetic test: validation loss (first seed, rolling median of 3 epochs)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, ncol=1 if len(optimizers) <= 16 else 2)
    _save_png(fig, out / "synthetic_val_loss.png")
