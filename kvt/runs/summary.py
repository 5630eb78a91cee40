"""The summary of a training run: the lines ``kvt train`` prints when it is done (and ``kvt app`` shows).

Built from the run's metrics, the dict a :class:`kvt.training.trainer.TrainResult` holds and a run
folder's ``metadata.json`` keeps, so a run just trained and a run opened later give the same lines.
"""

from __future__ import annotations

from kvt.kinetics.validity import describe_region


def _fmt(value, spec: str = ".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def summary_rows(metrics: dict) -> list[tuple[str, str]]:
    """(what, value) rows of a run's ``metrics``: errors, the physics checks, epochs, the finish, the time."""
    m = metrics
    rows = [("validation MSE (scaled target)", _fmt(m["val_mse_scaled"])),
            ("training MSE (scaled target)", _fmt(m["train_mse_scaled"])),
            ("MAE, m^3/s (validation)", _fmt(m["val"]["mae_m3_s"] if m["val"] else None)),
            ("relative error median / p95 / max (dataset rows)",
             f"{m['all']['rel_err_median']:.3g} / {m['all']['rel_err_p95']:.3g} / {m['all']['rel_err_max']:.3g}")]
    if "dense_grid" in m:
        dense = m["dense_grid"]
        model = "FHO VV" if "what" in dense["grid"] else "FHO-FR"  # an exchange network's grid names its pairs
        rows.append((f"relative error median / p95 / max ({model}, {dense['grid']['points']} points)",
                     f"{dense['overall']['median']:.3g} / {dense['overall']['p95']:.3g} / "
                     f"{dense['overall']['max']:.3g}"))
    if "nonphysical" in m:
        region = m["nonphysical"]
        grid = region["grid"]
        span = grid.get("what") or f"levels {grid['levels'][0]}..{grid['levels'][1]}"
        rows.append((f"k <= 0 on the dense grid ({span}, "
                     f"{grid['T_K'][0]:g}..{grid['T_K'][1]:g} K every {grid['T_step_K']:g} K)",
                     describe_region(region)))
    relaxation = m.get("relaxation")
    if relaxation and "temperatures" in relaxation:
        cells = [f"{row['T_K']:g} K {100 * row['tau_rel_err']:+.2f} %" if row["tau_rel_err"] is not None
                 else f"{row['T_K']:g} K n/a (k <= 0)" for row in relaxation["temperatures"]]
        rows.append((f"relaxation time vs FHO-FR (heat bath, T_v0 {relaxation['tv0_K']:g} K)", ", ".join(cells)))
    elif relaxation:
        rows.append(("relaxation time vs FHO-FR", f"not checked: {relaxation['skipped']}"))
    rows.append(("epochs (best)", f"{m['epochs_run']} ({m['best_epoch']})"))
    if m.get("interrupted"):
        stop = m["interrupted"]
        during = "the L-BFGS finish" if stop["phase"] == "lbfgs" else "training"
        rows.append(("interrupted (Ctrl-C)", f"at epoch {stop['epoch']}, during {during}; the run holds the best "
                                             f"weights so far"))
    if m.get("finish"):
        finish = m["finish"]
        rows.append(("L-BFGS finish (BatchNorm frozen): iterations, MSE",
                     f"{finish['iterations']}, {finish['initial_mse']:.3g} -> {finish['final_mse']:.3g}"))
    rows.append(("training time, s", f"{m['wall_time_s']:.2f}"))
    if m.get("distribution"):
        dist = m["distribution"]
        rows.append(("strategy: replicas, workers", f"{dist['strategy']}: {dist['replicas']}, {dist['workers']}"))
        rows.append(("weights sha256 (the same on every worker)", dist["weights_sha256"]))
    return rows


def advice(metrics: dict, mode: str, pair: str | None, data: str, kind: str = "vt") -> str | None:
    """The summary's last line when the network is not fit for a kinetics code: what that means, and the option
    that avoids it. ``pair``: the bundled pair trained on, else None and ``data`` is the table's path."""
    m = metrics
    bad = (m.get("nonphysical") or {}).get("count", 0)
    relaxation = m.get("relaxation") or {}
    no_tau = [row["T_K"] for row in relaxation.get("temperatures", []) if row["tau_rel_err"] is None]
    if not bad and not no_tau:
        return None
    parts = []
    if bad:
        parts.append(f"k <= 0 at {bad} points of the dense grid, where a kinetics code would get a zero or negative "
                     f"rate")
    if no_tau:
        parts.append(f"no relaxation time at {', '.join(f'{t:g}' for t in no_tau)} K")
    if mode == "study":
        import shlex

        source = (f"--pair {pair}" + (f" --process {shlex.quote(kind)}" if kind != "vt" else "")) if pair \
            else f"--data {data}"
        fix = f"--mode accurate learns log k, which cannot give k <= 0: kvt train {source} --mode accurate"
    else:
        fix = "more epochs or another seed may avoid it"
    return f"Not fit for kinetics as it stands: {'; '.join(parts)}. {fix[0].upper()}{fix[1:]}."


def summary_lines(path, metrics: dict, mode: str, optimizer: str, pair: str | None, data: str,
                  kind: str = "vt") -> list[str]:
    """Every line ``kvt train`` prints after training: the run's folder, the rows, and the advice if any
    (``kind``: the process trained, vt, vv or vv')."""
    rows = summary_rows(metrics)
    width = max(len(name) for name, _ in rows)
    lines = [f"run: {path}  (mode {mode}, optimizer {optimizer})"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    line = advice(metrics, mode, pair, data, kind)
    return lines + ([line] if line else [])


def run_summary_lines(path, metadata: dict) -> list[str]:
    """:func:`summary_lines` of a saved run, from its ``metadata.json``."""
    options = metadata["options"]
    return summary_lines(path, metadata["metrics"], options["mode"], options["optimizer"],
                         metadata["dataset"].get("pair"), options["data"], metadata["dataset"].get("process", "vt"))
