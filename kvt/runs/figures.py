"""Figures of a run: a transition's k_VT(T), loss curves, relative-error map (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kvt.files import atomic  # noqa: E402

STUDY_LEVEL = 32  # the study's figure shows k_VT(32 -> 31)


def default_level(predictions) -> int:
    levels = set(int(v) for v in predictions["level"])
    return STUDY_LEVEL if STUDY_LEVEL in levels else max(levels)


def save_figure(fig, path: str | Path, force: bool = True) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return atomic.write_bytes(path, buffer.getvalue(), force=force)


def level_figure(run, level: int, n_points: int = 400):
    """k_VT(level -> level-1) against T: dataset points and the model's curve, log y."""
    import pandas as pd

    from kvt.runs.rates import predict_grid

    lo_t, hi_t = run.temperature_range
    temps = np.linspace(lo_t, hi_t, n_points)
    curve = predict_grid(run, [level], temps)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    predictions_file = Path(run.path) / "predictions.csv"
    if predictions_file.is_file():
        # only this level's rows are kept, read in blocks: bounded memory on a table of any size
        blocks = pd.read_csv(predictions_file, usecols=["level", "T_K", "k_true_m3_s", "split"], chunksize=1 << 18)
        points = pd.concat([block[block["level"] == level] for block in blocks])
        for split, marker in (("train", "o"), ("val", "s")):
            part = points[points["split"] == split]
            if len(part):
                ax.plot(part["T_K"], part["k_true_m3_s"], marker, ms=5, mfc="none",
                        label=f"FHO-FR data ({split})")
    positive = curve["k_m3_s"] > 0
    options = run.metadata["options"]
    ax.plot(curve["T_K"][positive], curve["k_m3_s"][positive], "-", lw=1.8,
            label=f"network ({options['optimizer']}, {options.get('mode', 'study')} mode)")
    if not positive.all():
        bad = curve["T_K"][~positive]
        ax.text(0.02, 0.02, f"network gives k ≤ 0 at {bad.min():g}–{bad.max():g} K (not drawable on a log axis)",
                transform=ax.transAxes, fontsize=8, color="tab:red")
    ax.set_yscale("log")
    ax.set_xlabel("T, K")
    ax.set_ylabel(r"$k_{VT}$, m$^3$/s")
    ax.set_title(f"{run.label}: $k_{{VT}}^{{{level}\\to{level - 1}}}(T)$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def loss_figure(history, metadata):
    """Training (and validation) loss per epoch, the best epoch marked (its weights are the run's), and the
    L-BFGS finish of accurate mode after the last epoch (one iteration a step, BatchNorm frozen)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(history["epoch"], history["loss"], label="training")
    if "val_loss" in history:
        ax.plot(history["epoch"], history["val_loss"], label="validation")
    metrics = metadata.get("metrics", {})
    best = metrics.get("best_epoch")
    if best is not None and len(history):
        monitor = "val_loss" if "val_loss" in history else "loss"
        at = history[history["epoch"] == best]
        if len(at):
            ax.axvline(best, color="0.5", ls=":", lw=1)
            ax.plot([best], [at[monitor].iloc[0]], "o", mfc="none", color="k",
                    label=f"best epoch {best} (the run's weights)" if not metrics.get("finish") else
                    f"best epoch {best}")
    finish = metrics.get("finish")
    if finish and len(history):
        last = int(history["epoch"].iloc[-1])
        trace = finish.get("mse_per_iteration") or [finish["final_mse"]]
        steps = np.linspace(1, finish["iterations"], len(trace)) if len(trace) > 1 else [finish["iterations"]]
        ax.plot([last, *(last + np.asarray(steps))], [finish["initial_mse"], *trace], color="C3",
                label=f"L-BFGS finish (BatchNorm frozen), {finish['iterations']} iterations (the run's weights)")
        ax.axvspan(last, last + max(finish["iterations"], 1), color="C3", alpha=0.06)
        ax.set_xlabel("epoch, then L-BFGS iteration")
    else:
        ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_ylabel("MSE (scaled target)")
    ax.set_title(f"{_label(metadata)}, {metadata['options']['optimizer']}: loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def error_figure(table, metadata, title: str = "relative error"):
    """Relative error |k_pred - k| / k over (level, T) with a log colour scale.

    ``table`` has columns level, T_K, rel_error (a run's predictions or a dense-grid
    evaluation), on any set of points: a table filling most of its (level, T) grid is
    drawn as a heat map with its cells at their real temperatures and missing cells left
    blank; scattered points (e.g. different temperatures per level) as coloured markers.
    """
    from matplotlib.colors import LogNorm

    rel = np.clip(table["rel_error"].to_numpy(dtype=float), 1e-8, None)
    finite = rel[np.isfinite(rel)]
    vmin = float(finite.min()) if finite.size else 1e-8
    norm = LogNorm(vmin=vmin, vmax=max(float(finite.max()) if finite.size else vmin, vmin * 10))
    levels, level_index = np.unique(table["level"].to_numpy(dtype=float), return_inverse=True)
    temps, temp_index = np.unique(table["T_K"].to_numpy(dtype=float), return_inverse=True)
    cells = np.full((len(levels), len(temps)), np.nan)
    np.fmax.at(cells, (level_index, temp_index), rel)  # the worst error of a repeated cell
    values = np.ma.masked_invalid(cells)
    fig, ax = plt.subplots(figsize=(7.2, 5.0))
    if values.count() >= 0.5 * values.size:  # (nearly) a full grid: a heat map, gaps blank
        mesh = ax.pcolormesh(_edges(temps), _edges(levels), values, cmap="viridis", shading="flat", norm=norm)
    else:
        mesh = ax.scatter(table["T_K"], table["level"], c=np.ma.masked_invalid(rel), cmap="viridis", norm=norm,
                          s=14, marker="s")
    ax.set_xlabel("T, K")
    ax.set_ylabel("level i (transition i → i−1)")
    mode = metadata["options"].get("mode", "study")
    ax.set_title(f"{_label(metadata)}, {metadata['options']['optimizer']} ({mode}): {title}")
    fig.colorbar(mesh, ax=ax, label="|k_pred − k| / k")
    return fig


def _edges(centres):
    """Cell edges around sorted cell centres (half-way between neighbours)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[:-1] + centres[1:]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def _label(metadata) -> str:
    dataset = metadata["dataset"]
    return dataset["pair"] or Path(dataset["file"]).stem
