"""Figures of an exchange run (VV, VV'): k against T for level pairs, k over the (level_a, level_b) plane at one T,
and relative-error maps over the plane (PNG; the VT figures are in :mod:`kvt.runs.figures`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kvt.runs.figures import _edges, plt


def _exchange_words(run) -> str:
    p = run.process
    return f"{p.molecule_a.name}(a) + {p.molecule_b.name}(b) → {p.molecule_a.name}(a−1) + {p.molecule_b.name}(b+1)"


def default_pairs(run) -> list[tuple[int, int]]:
    """Level pairs the run's figure shows: the lowest, two in the middle of the ladders, the highest trained."""
    (lo_a, hi_a), (lo_b, hi_b) = (tuple(int(v) for v in run.network.level_ranges[n]) for n in ("level_a", "level_b"))
    mid_a, mid_b = (lo_a + hi_a) // 2, (lo_b + hi_b) // 2
    pairs = [(lo_a, lo_b), (mid_a, mid_b), (mid_a, lo_b), (hi_a, hi_b)]
    return list(dict.fromkeys(pairs))


def pairs_figure(run, pairs, n_points: int = 400):
    """k(level_a, level_b, T) against T for each pair: the run's data points (predictions.csv) and the network."""
    import pandas as pd

    lo_t, hi_t = run.temperature_range
    temps = np.linspace(lo_t, hi_t, n_points)
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    points = None
    predictions_file = Path(run.path) / "predictions.csv"
    if predictions_file.is_file():
        points = pd.read_csv(predictions_file, usecols=["level_a", "level_b", "T_K", "k_true_m3_s"])
    for index, (a, b) in enumerate(pairs):
        colour = f"C{index}"
        k = run.network.predict_k(a, b, temps)
        positive = k > 0
        ax.plot(temps[positive], k[positive], "-", color=colour, lw=1.6, label=f"a = {a}, b = {b}")
        if points is not None:
            rows = points[(points["level_a"] == a) & (points["level_b"] == b)]
            ax.plot(rows["T_K"], rows["k_true_m3_s"], "o", color=colour, ms=4, mfc="none")
    ax.set_yscale("log")
    ax.set_xlabel("T, K")
    ax.set_ylabel("k, m$^3$/s")
    options = (run.metadata or {}).get("options", {})
    ax.set_title(f"{run.process.label}: {_exchange_words(run)}\nnetwork (lines, {options.get('mode', 'study')} mode)"
                 + (", data (circles)" if points is not None else ""), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plane_figure(run, temperature: float):
    """log10 k over the (level_a, level_b) plane at one temperature."""
    (lo_a, hi_a), (lo_b, hi_b) = (tuple(int(v) for v in run.network.level_ranges[n]) for n in ("level_a", "level_b"))
    a, b = np.arange(lo_a, hi_a + 1), np.arange(lo_b, hi_b + 1)
    grid_a, grid_b = np.meshgrid(a, b, indexing="ij")
    k = run.network.predict_k(grid_a.ravel(), grid_b.ravel(), float(temperature)).reshape(grid_a.shape)
    values = np.ma.masked_invalid(np.log10(np.where(k > 0, k, np.nan)))
    fig, ax = plt.subplots(figsize=(6.6, 5.2))
    mesh = ax.pcolormesh(_edges(b.astype(float)), _edges(a.astype(float)), values, cmap="magma", shading="flat")
    ax.set_xlabel("level_b (B: b → b+1)")
    ax.set_ylabel("level_a (A: a → a−1)")
    ax.set_title(f"{run.process.label}: log10 k at {temperature:g} K", fontsize=10)
    fig.colorbar(mesh, ax=ax, label="log10 k, m$^3$/s")
    if (k <= 0).any():
        ax.text(0.02, 0.02, f"k ≤ 0 at {int((k <= 0).sum())} level pairs (blank)", transform=ax.transAxes,
                fontsize=8, color="tab:red")
    return fig


def error_map(table, title: str):
    """The largest relative error over T of each (level_a, level_b), log colour scale (``table``: level_a, level_b,
    rel_error, e.g. a run's predictions or a dense-grid evaluation)."""
    from matplotlib.colors import LogNorm

    worst = table.groupby(["level_a", "level_b"])["rel_error"].max()
    a = np.unique(worst.index.get_level_values(0).to_numpy(dtype=float))
    b = np.unique(worst.index.get_level_values(1).to_numpy(dtype=float))
    cells = np.full((a.size, b.size), np.nan)
    cells[np.searchsorted(a, worst.index.get_level_values(0)), np.searchsorted(b, worst.index.get_level_values(1))] \
        = np.clip(worst.to_numpy(), 1e-12, None)
    finite = cells[np.isfinite(cells)]
    lo = float(finite.min()) if finite.size else 1e-12
    norm = LogNorm(vmin=lo, vmax=max(float(finite.max()) if finite.size else lo, lo * 10))
    fig, ax = plt.subplots(figsize=(6.6, 5.2))
    mesh = ax.pcolormesh(_edges(b), _edges(a), np.ma.masked_invalid(cells), cmap="viridis", shading="flat", norm=norm)
    ax.set_xlabel("level_b (B: b → b+1)")
    ax.set_ylabel("level_a (A: a → a−1)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(mesh, ax=ax, label="max over T of |k_pred − k| / k")
    return fig


def run_figures(run, predictions) -> list[tuple[str, object]]:
    """The figures a new exchange run's folder holds: (file name, figure)."""
    lo_t, hi_t = run.temperature_range
    middle = float(np.clip(2000.0, lo_t, hi_t))
    label = f"{run.process.label}, {run.metadata['options']['optimizer']} ({run.metadata['options'].get('mode')})"
    return [("k_pairs.png", pairs_figure(run, default_pairs(run))),
            (f"k_plane_{middle:g}K.png", plane_figure(run, middle)),
            ("relative_error.png", error_map(predictions, f"{label}: relative error on the table's rows"))]
