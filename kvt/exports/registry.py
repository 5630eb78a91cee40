"""Every format ``kvt export`` writes, declared once: its name, what it is, the options that apply, its check, its writer.

``kvt export --format NAME`` reads this registry for everything: the ``--format`` help, the refusal
of an option that does not apply to the format, the k <= 0 check and the writer. The k <= 0 check
is done here once, for every format, before anything is written:

* a format that writes a table on the grid the user asked for (``csv``) checks that grid
  (and the trained range, unless ``--allow-extrapolation``);
* a format that writes the network itself checks every trained level x every
  ``check_step_K`` kelvin of the trained temperatures, the range the file will serve.

A rate <= 0 is refused with one line unless the user passes ``--allow-nonphysical`` and the
format can carry such a network (then the file says so and a warning is printed); ``fho-poly``
fits ln k and can never carry one. A new format is one :class:`ExportFormat` in :data:`FORMATS`
and the module of its writer (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kvt.errors import KvtError, unknown
from kvt.exports import CHECK_STEP_K

#: The options of ``kvt export`` that only some formats take (the CLI's names, without dashes), in --help order.
OPTIONS = ("levels", "levels-b", "temps", "layout", "units", "direction", "prefix", "kernel", "tolerance")
#: The options of the requested grid: only a format that writes a table on it takes them.
GRID_OPTIONS = ("levels", "levels-b", "temps", "direction")
#: Every process kind kvt learns; a format declares the ones it writes (``ExportFormat.processes``).
ALL_PROCESSES = ("vt", "vv", "vv'")
#: --kernel of the generated C and Fortran code: the network itself, or a per-transition Chebyshev fit of it.
KERNELS = ("network", "chebyshev")
#: The default --tolerance of the Chebyshev fits: the Cantera mechanism's and the chebyshev kernel's.
DEFAULT_TOLERANCE = {"cantera": 1e-4, "chebyshev": 1e-6}
#: The reduced-temperature axis of each Chebyshev fit (kvt.exports.chebyshev.AXES): Cantera's is fixed.
FIT_AXIS = {"cantera": "inverse_T", "chebyshev": "inverse_cbrt_T"}


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked ``kvt export`` for, after the CLI checked each value.

    ``runs``: every run of a format that takes several (``cantera``); empty means ``(run,)``. ``layout`` None is
    the format's default; ``tolerance`` None the fit's default (:data:`DEFAULT_TOLERANCE`).
    """

    run: object  # kvt.runs.folder.Run
    output: Path
    levels: list[int]
    temperatures: object  # np.ndarray
    layout: str | None = None
    units: str = "m3/s"
    direction: str = "down"
    prefix: str = "kvt"
    allow_extrapolation: bool = False
    allow_nonphysical: bool = False
    kernel: str = "network"
    tolerance: float | None = None
    runs: tuple = ()
    levels_b: list[int] | None = None  # an exchange run's level_b (``levels`` are then its level_a)

    @property
    def source(self) -> str:
        return f"run directory {self.run.path}"

    @property
    def all_runs(self) -> tuple:
        return tuple(self.runs) or (self.run,)

    def fit_tolerance(self, what: str) -> float:
        return DEFAULT_TOLERANCE[what] if self.tolerance is None else float(self.tolerance)


@dataclass(frozen=True)
class Written:
    """A format's file text (a string or chunks), the lines to print, and the line that says what was written."""

    text: str | Iterable[str]
    report: list[str]
    message: str


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its name, its help, the options it takes, how k <= 0 is checked and the writer.

    ``grid``: ``"request"`` checks the --levels x --temps grid (and extrapolation), ``"network"`` every trained
    level x every ``check_step_K`` K. ``can_be_nonphysical``: whether --allow-nonphysical can write a network
    with k <= 0 (the file then says so). ``refusal``: the error line for a region with k <= 0.
    ``options``: which of :data:`OPTIONS` it takes; ``layouts``: its --layout values, the default first;
    ``several_runs``: whether --run may be repeated; ``units_note``: why it refuses --units, when it does.
    ``write(request, checked)`` gets what the check found (``{"extrapolated", "nonphysical"}``).
    """

    name: str
    summary: str
    write: Callable[[ExportRequest, dict], Written]
    grid: str = "network"
    check_step_K: float | None = None  # None: kvt.kinetics.validity's dense grid (every 10 K)
    can_be_nonphysical: bool = True
    options: frozenset = frozenset()
    layouts: tuple = ()
    several_runs: bool = False
    units_note: str = ""
    refusal: Callable[[dict], str] = field(default=lambda region: _refusal(region, "export it"))
    #: The process kinds (vt, vv, vv') whose networks it writes.
    processes: tuple = ("vt",)
    #: The --kernel values it takes for an exchange network (the Chebyshev kernel fits one level input).
    exchange_kernels: tuple = ("network",)
    #: What the writer needs decided before the k <= 0 check (and any fit), refusing what cannot be written:
    #: ``plan(request)``, handed to the writer as ``checked["plan"]``.
    plan: Callable[[ExportRequest], object] | None = None

    @property
    def takes_grid(self) -> bool:
        return self.grid == "request"

    @property
    def takes_prefix(self) -> bool:
        return "prefix" in self.options


def _refusal(region: dict, action: str) -> str:
    from kvt.kinetics import validity

    return validity.refusal_message(region, action)


def _log_fit_refusal(what: str) -> Callable[[dict], str]:
    def refusal(region: dict) -> str:
        from kvt.kinetics import validity

        return (f"the network gives {validity.region_clause(region)}; {what} fits ln k and needs k > 0 everywhere; "
                f"retrain with --mode accurate, whose log-space target avoids them")
    return refusal


# ---------------------------------------------------------------- the writers
def _csv(request: ExportRequest, checked: dict) -> Written:
    from kvt.runs import rates

    if request.levels_b is not None:  # an exchange run: the layouts of kvt.data.exchange, long by default
        from kvt.runs import exchange_rates

        run, layout = request.run, request.layout or "long"
        header = exchange_rates.header_lines(run, request.units, request.direction, checked, layout)
        text = exchange_rates.iter_table(run, request.levels, request.levels_b, request.temperatures, request.units,
                                         request.direction, header, layout=layout)
        return Written(text, [], f"wrote {len(request.levels)} level_a x {len(request.levels_b)} level_b x "
                                 f"{len(request.temperatures)} temperatures ({layout}, {request.units}, "
                                 f"{request.direction}) to {request.output}")
    layout = request.layout or "wide"
    header = rates.header_lines(request.run, layout, request.units, request.direction, checked)
    text = rates.iter_table(request.run, request.levels, request.temperatures, layout, request.units,
                            request.direction, header)
    return Written(text, [], f"wrote {len(request.levels)} levels x {len(request.temperatures)} temperatures "
                             f"({layout}, {request.units}, {request.direction}) to {request.output}")


def _weights(request: ExportRequest, checked: dict) -> Written:
    return Written(json.dumps(request.run.network.spec, indent=1), [],
                   f"wrote the network of {request.run.path} to {request.output}")


def _weights_text(request: ExportRequest, checked: dict) -> Written:
    from kvt.network.inference import to_text

    return Written(to_text(request.run.network.spec), [],
                   f"wrote the network of {request.run.path} as plain text to {request.output}")


def _solver(generate: Callable, name: str) -> Callable[[ExportRequest, dict], Written]:
    def write(request: ExportRequest, checked: dict) -> Written:
        nonphysical = checked["nonphysical"] if checked["nonphysical"]["count"] else None
        fit, report, kernel = None, [], ""
        if request.kernel == "chebyshev":
            from kvt.exports import chebyshev

            fit = chebyshev.fit_network(request.run.network, request.fit_tolerance("chebyshev"),
                                        FIT_AXIS["chebyshev"])
            report.append(f"chebyshev kernel: {chebyshev.summary(fit)}")
            kernel = " (chebyshev kernel)"
        text = generate(request.run.network, request.prefix, request.source, nonphysical, request.output.name,
                        units=request.units, fit=fit)
        return Written(text, report, f"wrote the network of {request.run.path} as {name}{kernel} to {request.output}")
    return write


def _c_header(network, prefix, source, nonphysical, file_name, **options):
    if network.process is not None:  # an exchange network: the whole level-pair table at one T
        from kvt.exports.exchange_code import c_header
    else:
        from kvt.exports.c_header import c_header

    return c_header(network, prefix, source, nonphysical, file_name, **options)


def _fortran(network, prefix, source, nonphysical, file_name, **options):
    if network.process is not None:
        from kvt.exports.exchange_code import fortran_module
    else:
        from kvt.exports.fortran import fortran_module

    return fortran_module(network, prefix, source, nonphysical, file_name, **options)


def _fho_poly(request: ExportRequest, checked: dict) -> Written:
    from kvt.exports import fho_poly

    network, process = request.run.network, request.run.process
    layout = request.layout or "csv"
    result = fho_poly.fit_network(network, request.units)
    report = [f"fho-poly fit of {len(result.levels)} transitions on {result.temperatures.size} temperatures "
              f"({result.temperatures[0]:g}-{result.temperatures[-1]:g} K), vs the network: {fho_poly.summary(result)}"]
    reference = None
    if process is not None:
        reference = fho_poly.fit_exact(process, result.levels, result.temperatures, request.units)
        report.append(f"the same form fitted to exact FHO-FR data of {process.name}: {fho_poly.summary(reference)}")
    if layout == "spbu":
        text = fho_poly.to_spbu(result)
        report += fho_poly.spbu_notes(result, request.source, network, process, request.output.name)
    else:
        text = fho_poly.to_csv(result, request.source, network, reference)
    return Written(text, report, f"wrote the network of {request.run.path} as fho-poly ({layout}) to {request.output}")


def _cantera_plan(request: ExportRequest) -> list:
    """The mechanism's parts before any fit: each run's process and the transitions it gives (each a distinct
    reaction, :meth:`kvt.physics.process.Process.distinct`), checked to fit together in one mechanism."""
    from kvt.exports import cantera, chebyshev

    parts = []
    for run in request.all_runs:
        process = run.process
        if process is None:
            raise KvtError(f"run directory {run.path} was trained on a user table that names no pair; a Cantera "
                           f"mechanism needs the partner (train it with --pair)")
        labels = chebyshev.trained_labels(run.network)
        labels = labels[process.distinct(*labels.reshape(len(labels), -1).T)]
        parts.append(cantera.Part(process, labels, f"run directory {run.path}", run.network.spec))
    cantera.check_parts(parts)
    return parts


def _cantera(request: ExportRequest, checked: dict) -> Written:
    from kvt.exports import cantera, chebyshev

    parts, report = list(checked["plan"]), []
    for n, (run, part) in enumerate(zip(request.all_runs, parts)):
        fit = chebyshev.fit_network(run.network, request.fit_tolerance("cantera"), FIT_AXIS["cantera"],
                                    labels=part.labels)
        parts[n] = dataclasses.replace(part, fit=fit)
        report.append(f"{part.process.label}: {chebyshev.summary(fit)}")
    text = cantera.mechanism(parts)
    return Written(text, report, f"wrote a Cantera mechanism of {len(parts)} run{'s' if len(parts) > 1 else ''} "
                                 f"({', '.join(p.process.label for p in parts)}) to {request.output}")


_CODE_OPTIONS = frozenset({"prefix", "kernel", "units", "tolerance"})

#: The formats, in the order ``kvt export --help`` lists them.
FORMATS = {f.name: f for f in (
    ExportFormat("csv", "a k_VT table (VV: level_a,level_b,T_K,k)", _csv, grid="request",
                 options=frozenset({"levels", "levels-b", "temps", "layout", "units", "direction"}),
                 layouts=("wide", "long"), refusal=lambda region: _refusal(region, "write them"),
                 processes=ALL_PROCESSES),
    ExportFormat("weights", "the network as JSON", _weights,
                 refusal=lambda region: _refusal(region, "export the network"), processes=ALL_PROCESSES),
    ExportFormat("weights-text", "plain text for examples/kvt_eval.c", _weights_text,
                 refusal=lambda region: _refusal(region, "export the network")),
    ExportFormat("c-header", "a C99 header", _solver(_c_header, "c-header"), check_step_K=CHECK_STEP_K,
                 options=_CODE_OPTIONS, processes=ALL_PROCESSES),
    ExportFormat("fortran", "a Fortran 2008 module", _solver(_fortran, "fortran"), check_step_K=CHECK_STEP_K,
                 options=_CODE_OPTIONS, processes=ALL_PROCESSES),
    ExportFormat("fho-poly", "per-transition fits in the SPbU solver's form", _fho_poly,
                 check_step_K=CHECK_STEP_K, can_be_nonphysical=False, options=frozenset({"layout", "units"}),
                 layouts=("csv", "spbu"), refusal=_log_fit_refusal("fho-poly")),
    ExportFormat("cantera", "a Cantera YAML mechanism of one or several runs (VT, VV, VV')", _cantera,
                 check_step_K=CHECK_STEP_K, can_be_nonphysical=False, options=frozenset({"tolerance"}),
                 several_runs=True, units_note="a Cantera mechanism has fixed units: k in m^3/(kmol s)",
                 refusal=_log_fit_refusal("cantera"), processes=ALL_PROCESSES, plan=_cantera_plan),
)}

#: The ``--format`` help of ``kvt export``.
FORMAT_HELP = "; ".join(f"{f.name}: {f.summary}" for f in FORMATS.values()) + " (docs/solver-exports.md)."


def _names(formats) -> str:
    names = [f.name for f in formats]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def _flags(options) -> str:
    flags = [f"--{name}" for name in options]
    return " and ".join([", ".join(flags[:-1]), flags[-1]]) if len(flags) > 1 else flags[0]


def export_format(name: str) -> ExportFormat:
    """The format called ``name``; an unknown name is refused with the closest one suggested."""
    if name not in FORMATS:
        raise unknown("format", name, FORMATS)
    return FORMATS[name]


def _not_taken(fmt: ExportFormat, options: list[str]) -> KvtError:
    """The refusal of ``options`` (which all apply to the same formats) for ``fmt``."""
    takers = [f for f in FORMATS.values() if options[0] in f.options]
    verb = "applies" if len(options) == 1 else "apply"
    where = f"--format {_names(takers)}"
    if options == ["tolerance"]:
        where = "--format cantera and to --kernel chebyshev (c-header, fortran)"
    why = ""
    if set(options) <= set(GRID_OPTIONS):
        why = " (which covers the run's whole trained range)"
    elif options == ["units"] and fmt.units_note:
        why = f" ({fmt.units_note})"
    return KvtError(f"{_flags(options)} {verb} to {where}, not {fmt.name}{why}")


def check_options(fmt: ExportFormat, given: dict, n_runs: int = 1) -> None:
    """Refuse an option that does not apply to ``fmt``, or a value it does not take (before the run is opened).

    ``given``: the options of :data:`OPTIONS` the user gave (name -> value); ``n_runs``: how many --run.
    """
    if n_runs > 1 and not fmt.several_runs:
        raise KvtError(f"--format {fmt.name} takes one --run, got {n_runs}; several runs make one file only with "
                       f"--format {_names(f for f in FORMATS.values() if f.several_runs)}")
    refused = [name for name in OPTIONS if name in given and name not in fmt.options]
    if refused:
        takers = {name: frozenset(f.name for f in FORMATS.values() if name in f.options) for name in refused}
        first = [name for name in refused if takers[name] == takers[refused[0]]]
        raise _not_taken(fmt, first)
    if "layout" in given and given["layout"] not in fmt.layouts:
        raise unknown("layout", given["layout"], fmt.layouts)
    if "kernel" in given and given["kernel"] not in KERNELS:
        raise unknown("kernel", given["kernel"], KERNELS)
    if "tolerance" in given:
        if fmt.name != "cantera" and given.get("kernel") != "chebyshev":
            raise KvtError("--tolerance applies to --kernel chebyshev (the fit's tolerance), not the network kernel, "
                           "which is the network itself")
        tolerance = given["tolerance"]
        if not (0.0 < tolerance < 1.0):
            raise KvtError(f"--tolerance must be a relative deviation between 0 and 1, got {tolerance:g}")
    if fmt.takes_prefix:
        from kvt.exports.codegen import check_prefix

        check_prefix(given.get("prefix", "kvt"), fortran=fmt.name == "fortran")


def check_process(fmt: ExportFormat, runs, given: dict) -> None:
    """Refuse, in one line, a format (or an option of it) that does not write networks of the runs' process, naming
    the formats that do (each format declares its ``processes``); once the runs are open, before anything slow."""
    for run in runs:
        process = run.process
        kind = process.kind if process is not None else "vt"
        if kind not in fmt.processes:
            takers = [f for f in FORMATS.values() if kind in f.processes]
            raise KvtError(f"--format {fmt.name} writes VT networks; run directory {run.path} is a {kind} network "
                           f"({process.label}): export it with --format {_names(takers)}")
        if kind == "vt" and "levels-b" in given:
            raise KvtError(f"--levels-b applies to VV and VV' runs; run directory {run.path} is a VT network")
        if kind != "vt" and given.get("kernel", "network") not in fmt.exchange_kernels:
            raise KvtError(f"--kernel {given['kernel']} fits one level input; a {kind} network takes --kernel "
                           f"{' or '.join(fmt.exchange_kernels)}")


def check(fmt: ExportFormat, request: ExportRequest) -> dict:
    """The one k <= 0 check of every format (and the range check of a grid): ``{"extrapolated", "nonphysical"}``.

    Raises ``KvtError`` (the format's refusal) where the rates are <= 0 unless the user allowed it and the format
    can carry them; then warns. A format of several runs checks each; a Chebyshev kernel fits ln k, so it refuses
    k <= 0 as fho-poly does.
    """
    from kvt.kinetics import validity
    from kvt.runs import rates

    run = request.run
    can_carry, refusal = fmt.can_be_nonphysical, fmt.refusal
    if request.kernel == "chebyshev":
        can_carry, refusal = False, _log_fit_refusal("--kernel chebyshev")
    if fmt.takes_grid and request.levels_b is not None:
        from kvt.runs import exchange_rates

        return exchange_rates.check_rates(run, request.levels, request.levels_b, request.temperatures,
                                          request.allow_extrapolation, request.allow_nonphysical and can_carry,
                                          refusal=refusal)
    if fmt.takes_grid:
        return rates.check_rates(run, request.levels, request.temperatures, request.allow_extrapolation,
                                 request.allow_nonphysical and can_carry, refusal=refusal)
    step = fmt.check_step_K or validity.DENSE_T_STEP_K
    several = len(request.all_runs) > 1
    for other in request.all_runs:
        if other.network.process is not None:  # an exchange network: every trained level pair
            from kvt.kinetics import exchange

            region = exchange.dense_grid_region(other.network, step)
        else:
            region = validity.dense_grid_region(other.network, step)
        prefix = f"run directory {other.path}: " if several and region["count"] else ""
        validity.refuse_nonphysical(region, request.allow_nonphysical and can_carry,
                                    lambda r, prefix=prefix: prefix + refusal(r))
        if other is run:
            first = region
    return {"extrapolated": False, "nonphysical": first}


def export(fmt: ExportFormat, request: ExportRequest) -> Written:
    """Plan (where the format does), check, then write ``request`` in ``fmt``: the file's text and what to tell the
    user."""
    plan = fmt.plan(request) if fmt.plan is not None else None
    checked = check(fmt, request)
    if plan is not None:
        checked["plan"] = plan
    return fmt.write(request, checked)
