"""The Train page: ``kvt train``'s settings as widgets, training in the background, the runs panel.

The optimizer's hyper-parameter widgets are made from its declaration (:mod:`kvt.app.fields`); the other
widgets say what ``kvt train``'s options say. Training checks what ``kvt train`` checks, in the same
order, then runs in a thread (:mod:`kvt.app.jobs`) and writes an ordinary run folder, whose metadata
records the ``kvt train`` command line that trains the same run.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import streamlit as st

from kvt.app import fields, jobs, ui
from kvt.cli.train import train_command
from kvt.optimizers import registry
from kvt.training.config import FINISHES, MODE_DEFAULTS, MODES, SCHEDULES


def _help(name: str) -> str | None:
    return ui.option_help(train_command, name)


def _widget(field: fields.Field, key: str):
    """The widget of one hyper-parameter: its kind, range, starting value, format and help from ``field``."""
    if field.kind == "checkbox":
        return st.checkbox(field.name, value=bool(field.default), key=key, help=field.help)
    if field.kind == "choice":
        choices = list(field.choices)
        return st.selectbox(field.name, choices, index=choices.index(field.default) if field.default in choices
                            else 0, key=key, help=field.help)
    if field.kind in ("number", "integer"):
        cast = int if field.kind == "integer" else float
        return st.number_input(field.name, value=None if field.default is None else cast(field.default),
                               min_value=None if field.low is None else cast(field.low),
                               max_value=None if field.high is None else cast(field.high),
                               step=cast(field.step), format=field.format, key=key, help=field.help)
    return st.text_input(field.name, value=fields.text_of(field), key=key, help=field.help)


def _hyperparameters(mode: str, optimizer: str) -> tuple[list[fields.Field], dict]:
    """Every hyper-parameter widget of ``optimizer`` (the mode's learning rate as the default where it sets one)."""
    all_fields = fields.fields(optimizer, MODE_DEFAULTS[mode]["learning_rate"])
    shown = {}
    declared = [f for f in all_fields if f.group == "declared"]
    columns = st.columns(3)
    for index, field in enumerate(declared):
        with columns[index % 3]:
            shown[field.name] = _widget(field, f"hp.{mode}.{optimizer}.{field.name}")
    base = [f for f in all_fields if f.group == "base"]
    if base:
        with st.expander("Arguments every Keras optimizer takes (clipping, EMA)"):
            columns = st.columns(3)
            for index, field in enumerate(base):
                with columns[index % 3]:
                    shown[field.name] = _widget(field, f"hp.{mode}.{optimizer}.{field.name}")
    return all_fields, shown


def _settings() -> dict:
    """The page's widgets, read: everything ``kvt train`` takes but the strategy (one device here)."""
    source = ui.select("Data (a bundled pair, or a table uploaded on the Data page)", ui.data_sources(),
                       st.session_state.get("data_source", "O2-Ar"), key="train.data")
    columns = st.columns(2)
    with columns[0]:
        mode = ui.select("Mode", MODES, "study", key="train.mode", help=_help("mode"))
    defaults = MODE_DEFAULTS[mode]
    with columns[1]:
        names = registry.names()
        optimizer = ui.select("Optimizer", names, defaults["optimizer"], key=f"train.{mode}.optimizer",
                              format_func=lambda n: f"{n}: {registry.entry(n).description}")
    st.markdown(f"**Hyper-parameters of {optimizer}** (each widget is made from its declaration: range, default, "
                f"meaning)")
    all_fields, shown = _hyperparameters(mode, optimizer)
    key = f"train.{mode}."
    st.markdown("**Training**")
    c = st.columns(3)
    settings = {"data": source, "mode": mode, "optimizer": optimizer, "fields": all_fields, "shown": shown}
    settings["epochs"] = c[0].number_input("Epochs", min_value=1, value=defaults["epochs"], step=1,
                                           key=key + "epochs", help=_help("epochs"))
    settings["batch_size"] = c[1].number_input("Batch size (0: full batch)", min_value=0, value=defaults["batch_size"],
                                               step=1, key=key + "batch_size", help=_help("batch_size"))
    settings["val_fraction"] = c[2].number_input("Validation fraction", min_value=0.0, max_value=1.0,
                                                 value=float(defaults["val_fraction"]), step=0.05, format="%g",
                                                 key=key + "val_fraction", help=_help("val_fraction"))
    c = st.columns(3)
    settings["patience"] = c[0].number_input("Patience", min_value=1, value=defaults["patience"], step=1,
                                             key=key + "patience", help=_help("patience"))
    settings["schedule"] = c[1].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(defaults["schedule"]),
                                          key=key + "schedule", help=_help("schedule"))
    settings["seed"] = c[2].number_input("Seed", min_value=0, value=0, step=1, key=key + "seed", help=_help("seed"))
    with st.expander("More: network width, final learning rate, L-BFGS finish, precision"):
        c = st.columns(3)
        settings["units"] = c[0].number_input("Units", min_value=1, value=defaults["units"], step=1,
                                              key=key + "units", help=_help("units"))
        settings["min_lr"] = c[1].number_input("Final learning rate (cosine)", min_value=0.0,
                                               value=float(defaults["min_lr"]), format="%g", step=1e-5,
                                               key=key + "min_lr", help=_help("min_lr"))
        settings["precision"] = c[2].selectbox("Precision", ("float32", "float64"),
                                               index=("float32", "float64").index(defaults["precision"]),
                                               key=key + "precision", help=_help("precision"))
        c = st.columns(3)
        settings["finish"] = c[0].selectbox("Finish", FINISHES, index=FINISHES.index(defaults["finish"]),
                                            key=key + "finish", help=_help("finish"))
        settings["finish_iterations"] = c[1].number_input("Finish iterations", min_value=0,
                                                          value=defaults["finish_iterations"], step=100,
                                                          key=key + "finish_iterations",
                                                          help=_help("finish_iterations"))
    c = st.columns([3, 1, 1])
    settings["out"] = c[0].text_input("Run folder", value="", key="train.out",
                                      placeholder="runs/<data>-<optimizer>-<time>", help=_help("out"))
    settings["force"] = c[1].checkbox("Replace it (--force)", key="train.force", help=_help("force"))
    settings["allow_implausible"] = c[2].checkbox("--allow-implausible", key="train.allow_implausible",
                                                  value=bool(st.session_state.get("data_allow_implausible")),
                                                  help=_help("allow_implausible"))
    return settings


def command_line(source_flag: str, source: str, config, learning_rate, opt: dict, out, force: bool) -> list[str]:
    """The ``kvt train`` command that trains what the page trains (every setting written out)."""
    args = ["kvt", "train", source_flag, source, "--mode", config.mode, "--optimizer", config.optimizer]
    if learning_rate is not None:
        args += ["--lr", repr(learning_rate)]
    for name, value in opt.items():
        args += ["--opt", f"{name}={fields.opt_text(value)}"]
    args += ["--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
             "--val-fraction", repr(config.val_fraction), "--patience", str(config.patience),
             "--units", str(config.units), "--schedule", config.schedule, "--min-lr", repr(config.min_lr),
             "--finish", config.finish, "--finish-iterations", str(config.finish_iterations),
             "--precision", config.precision, "--seed", str(config.seed), "--out", str(out)]
    return args + ["--force"] * force + ["--allow-implausible"] * config.allow_implausible


def prepare(settings: dict) -> jobs.TrainRequest:
    """What ``kvt train`` checks before TensorFlow, in its order: the settings, the optimizer and its
    hyper-parameters, the run folder (--force rules), the dataset. A refusal is its one line."""
    from kvt.data.datasets import load_dataset
    from kvt.files import atomic
    from kvt.physics import species
    from kvt.physics.process import resolve
    from kvt.runs.folder import default_run_dir
    from kvt.training.config import TrainConfig

    source = settings["data"]
    process = resolve(source) if source in species.PAIRS else None
    data_file = None if process else source
    learning_rate, opt = fields.overrides(settings["fields"], settings["shown"])
    config = TrainConfig(data=process.name if process else data_file, mode=settings["mode"],
                         optimizer=settings["optimizer"], learning_rate=learning_rate, opt=opt,
                         epochs=int(settings["epochs"]), batch_size=int(settings["batch_size"]),
                         val_fraction=float(settings["val_fraction"]), patience=int(settings["patience"]),
                         units=int(settings["units"]), seed=int(settings["seed"]), schedule=settings["schedule"],
                         min_lr=float(settings["min_lr"]), finish=settings["finish"],
                         finish_iterations=int(settings["finish_iterations"]), precision=settings["precision"],
                         allow_implausible=bool(settings["allow_implausible"])).resolved()
    config.optimizer_hyperparameters()
    inputs = [data_file] if data_file else []
    out = Path(settings["out"].strip()) if settings["out"].strip() else None
    if out is not None:
        atomic.check(out, "run", settings["force"], inputs)
    dataset = load_dataset(process or data_file, config.allow_implausible)
    if out is None:
        out = default_run_dir(dataset.name, config.optimizer)
        atomic.check(out, "run", settings["force"], inputs)
    command = command_line("--pair" if process else "--data", process.name if process else data_file, config,
                           learning_rate, opt, out, settings["force"])
    return jobs.TrainRequest(config, dataset, out, bool(settings["force"]), tuple(inputs), tuple(command))


def _loss_figure(rows: list[dict], unit: str):
    fig, ax = ui.new_figure(6.4, 3.6)
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["loss"] for r in rows], label="training")
    if any(r["val_loss"] == r["val_loss"] for r in rows):  # not all NaN: there is a validation split
        ax.plot(epochs, [r["val_loss"] for r in rows], label="validation")
    ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel("MSE (scaled target)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def progress_panel() -> None:
    """The training job: progress bar, live loss curve and Stop while it runs; its summary (or its one error line)
    when it has ended."""
    job = jobs.active()
    if job is None or job.kind != "train":
        return
    done, total, rows, _ = job.snapshot()
    st.progress(min(1.0, done / total) if total else 0.0, text=f"{job.label}: {job.unit} {done}/{total}")
    if rows:  # drawn every second while it runs; once when it has ended
        ended = ("loss", job.started, len(rows))
        if job.running:
            st.pyplot(_loss_figure(rows, job.unit))
        else:
            ui.figure(ended, lambda: _loss_figure(rows, job.unit))
    if job.running:
        st.button("Stop", key="train.stop", on_click=job.stop,
                  help="End the training at its next step and write the run with the best weights so far, as one "
                       "Ctrl-C does to kvt train.")
        return
    if st.session_state.get("train.polling"):  # it ended while only this panel was refreshing: refresh the page
        st.session_state["train.polling"] = False
        st.rerun()
    if job.status == "failed":
        st.error(job.error)
        return
    outcome = job.result
    stopped = " (stopped: the run holds the best weights so far)" if outcome.interrupted else ""
    st.success(f"wrote {outcome.path}{stopped}")
    st.code("\n".join(outcome.summary), language=None)


def render() -> None:
    st.header("Train")
    st.caption("kvt train in widgets: the result is an ordinary run folder that kvt predict, export, relax, "
               "evaluate and plot read.")
    settings = _settings()
    job = jobs.active()
    running = job is not None and job.running
    if st.button("Train", key="train.start", type="primary", disabled=running):
        with ui.one_line():
            request = prepare(settings)
            jobs.start(jobs.Job("train", f"{request.config.optimizer} on {request.dataset.name}",
                                request.config.epochs), jobs.train_task, request)
            st.session_state["train.command"] = shlex.join(request.command)
            running = True
    if st.session_state.get("train.command"):
        st.caption("The same run from the command line:")
        st.code(st.session_state["train.command"], language="bash")
    st.session_state["train.polling"] = running
    st.fragment(run_every=1.0 if running else None)(progress_panel)()
    ui.runs_panel("train.runs")
