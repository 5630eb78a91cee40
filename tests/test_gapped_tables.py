"""Tables that are not a full (level, T) grid: a gap, or different temperatures per level."""

import json

import numpy as np
import pandas as pd
import pytest

from kvt.physics import fho
from kvt.cli import main
from kvt.data.datasets import generate, load_dataset, to_csv_text


def _gap_table():
    """The bundled O2-Ar table without its (level 17, 3000 K) row."""
    frame = load_dataset("O2-Ar").frame
    return frame[~((frame["level"] == 17) & (frame["T_K"] == 3000))].reset_index(drop=True)


def _irregular_table():
    """Levels 1-8, six temperatures each, different for every level (no two levels share one)."""
    rng = np.random.default_rng(5)
    rows = []
    for level in range(1, 9):
        temps = np.sort(rng.uniform(300, 9000, 6)).round(1)
        temps[0], temps[-1] = (300.0 + level, 9000.0 - level) if level > 1 else (300.0, 9000.0)
        rows.append(pd.DataFrame({"level": level, "T_K": temps,
                                  "k_m3_s": fho.rate_coefficient(np.full(6, level), temps, "Ar")}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("name, table", [("gap", _gap_table), ("irregular", _irregular_table)])
def test_train_plot_evaluate_a_table_that_is_not_a_grid(runner, tmp_path, name, table):
    data = tmp_path / f"{name}.csv"
    frame = table()
    data.write_text(to_csv_text(frame))
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--data", str(data), "--epochs", "2", "--units", "4", "--quiet",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "relative_error.png").read_bytes()[:4] == b"\x89PNG"
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == len(frame)
    top = int(frame["level"].max())
    plot = runner.invoke(main, ["plot", "--run", str(out), "--level", str(top), "-o", str(tmp_path / "k.png")])
    assert plot.exit_code == 0, plot.output
    lo_t, hi_t = frame["T_K"].min(), frame["T_K"].max()
    evaluated = runner.invoke(main, ["evaluate", "--run", str(out), "--pair", "O2-Ar", "--levels", f"1-{top}",
                                     "--temps", f"{lo_t:g},{(lo_t + hi_t) / 2:g},{hi_t:g}",
                                     "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["grid"]["points"] == top * 3
    # the reference: FHO-FR and the run's weights, recomputed here
    from kvt.runs.folder import open_run

    levels, temps = np.repeat(np.arange(1, top + 1), 3), np.tile([lo_t, (lo_t + hi_t) / 2, hi_t], top)
    k = open_run(out).network.predict_k(levels, temps)
    rel = np.abs(k / fho.rate_coefficient(levels, temps, "Ar") - 1)
    assert summary["overall"]["max"] == pytest.approx(rel.max(), rel=1e-9)


def test_error_map_shows_what_exists():
    from kvt.runs.figures import error_figure

    meta = {"options": {"optimizer": "adam", "mode": "study"}, "dataset": {"pair": "O2-Ar"}}
    gap = _gap_table().assign(rel_error=lambda f: np.linspace(1e-3, 1.0, len(f)))
    mesh = error_figure(gap, meta).axes[0].collections[0]
    cells = mesh.get_array()
    assert cells.size == 35 * 15 and np.ma.count_masked(cells) == 1  # the missing row is a blank cell
    irregular = _irregular_table().assign(rel_error=0.01)
    points = error_figure(irregular, meta).axes[0].collections[0]
    assert len(points.get_offsets()) == len(irregular) == 48  # every point drawn where it is
