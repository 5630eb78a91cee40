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

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kvt.errors import KvtError, unknown
from kvt.exports import CHECK_STEP_K

#: The options of ``kvt export`` that only some formats take (the CLI's names, without dashes).
GRID_OPTIONS = ("levels", "temps", "layout", "units", "direction")


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked ``kvt export`` for, after the CLI checked each value."""

    run: object  # kvt.runs.folder.Run
    output: Path
    levels: list[int]
    temperatures: object  # np.ndarray
    layout: str = "wide"
    units: str = "m3/s"
    direction: str = "down"
    prefix: str = "kvt"
    allow_extrapolation: bool = False
    allow_nonphysical: bool = False

    @property
    def source(self) -> str:
        return f"run directory {self.run.path}"


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
    ``write(request, checked)`` gets what the check found (``{"extrapolated", "nonphysical"}``).
    """

    name: str
    summary: str
    write: Callable[[ExportRequest, dict], Written]
    grid: str = "network"
    check_step_K: float | None = None  # None: kvt.kinetics.validity's dense grid (every 10 K)
    can_be_nonphysical: bool = True
    takes_prefix: bool = False
    refusal: Callable[[dict], str] = field(default=lambda region: _refusal(region, "export it"))

    @property
    def takes_grid(self) -> bool:
        return self.grid == "request"


def _refusal(region: dict, action: str) -> str:
    from kvt.kinetics import validity

    return validity.refusal_message(region, action)


# ---------------------------------------------------------------- the writers
def _csv(request: ExportRequest, checked: dict) -> Written:
    from kvt.runs import rates

    header = rates.header_lines(request.run, request.layout, request.units, request.direction, checked)
    text = rates.iter_table(request.run, request.levels, request.temperatures, request.layout, request.units,
                            request.direction, header)
    return Written(text, [], f"wrote {len(request.levels)} levels x {len(request.temperatures)} temperatures "
                             f"({request.layout}, {request.units}, {request.direction}) to {request.output}")


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
        text = generate(request.run.network, request.prefix, request.source, nonphysical, request.output.name)
        return Written(text, [], f"wrote the network of {request.run.path} as {name} to {request.output}")
    return write


def _c_header(network, prefix, source, nonphysical, file_name):
    from kvt.exports.c_header import c_header

    return c_header(network, prefix, source, nonphysical, file_name)


def _fortran(network, prefix, source, nonphysical, file_name):
    from kvt.exports.fortran import fortran_module

    return fortran_module(network, prefix, source, nonphysical, file_name)


def _fho_poly(request: ExportRequest, checked: dict) -> Written:
    from kvt.exports import fho_poly

    network, process = request.run.network, request.run.process
    result = fho_poly.fit_network(network)
    report = [f"fho-poly fit of {len(result.levels)} transitions on {result.temperatures.size} temperatures "
              f"({result.temperatures[0]:g}-{result.temperatures[-1]:g} K), vs the network: {fho_poly.summary(result)}"]
    reference = None
    if process is not None:
        reference = fho_poly.fit_exact(process, result.levels, result.temperatures)
        report.append(f"the same form fitted to exact FHO-FR data of {process.name}: {fho_poly.summary(reference)}")
    return Written(fho_poly.to_csv(result, request.source, network, reference), report,
                   f"wrote the network of {request.run.path} as fho-poly to {request.output}")


def _fho_poly_refusal(region: dict) -> str:
    from kvt.kinetics import validity

    return (f"the network gives {validity.region_clause(region)}; fho-poly fits ln k and needs k > 0 everywhere; "
            f"retrain with --mode accurate, whose log-space target avoids them")


#: The formats, in the order ``kvt export --help`` lists them.
FORMATS = {f.name: f for f in (
    ExportFormat("csv", "a k_VT table", _csv, grid="request",
                 refusal=lambda region: _refusal(region, "write them")),
    ExportFormat("weights", "the network as JSON", _weights,
                 refusal=lambda region: _refusal(region, "export the network")),
    ExportFormat("weights-text", "plain text for examples/kvt_eval.c", _weights_text,
                 refusal=lambda region: _refusal(region, "export the network")),
    ExportFormat("c-header", "a C99 header", _solver(_c_header, "c-header"), check_step_K=CHECK_STEP_K,
                 takes_prefix=True),
    ExportFormat("fortran", "a Fortran 2008 module", _solver(_fortran, "fortran"), check_step_K=CHECK_STEP_K,
                 takes_prefix=True),
    ExportFormat("fho-poly", "per-transition fits in the SPbU solver's form", _fho_poly,
                 check_step_K=CHECK_STEP_K, can_be_nonphysical=False, refusal=_fho_poly_refusal),
)}

#: The ``--format`` help of ``kvt export``.
FORMAT_HELP = "; ".join(f"{f.name}: {f.summary}" for f in FORMATS.values()) + " (docs/solver-exports.md)."


def _names(formats) -> str:
    names = [f.name for f in formats]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def export_format(name: str) -> ExportFormat:
    """The format called ``name``; an unknown name is refused with the closest one suggested."""
    if name not in FORMATS:
        raise unknown("format", name, FORMATS)
    return FORMATS[name]


def check_options(fmt: ExportFormat, prefix: str | None, grid_given: bool) -> None:
    """Refuse an option that does not apply to ``fmt`` (before the run is opened)."""
    if prefix is not None and not fmt.takes_prefix:
        raise KvtError(f"--prefix applies to --format {_names(f for f in FORMATS.values() if f.takes_prefix)}, "
                       f"not {fmt.name}")
    if fmt.takes_prefix:
        from kvt.exports.codegen import check_prefix

        check_prefix("kvt" if prefix is None else prefix, fortran=fmt.name == "fortran")
    if grid_given and not fmt.takes_grid:
        options = [f"--{name}" for name in GRID_OPTIONS]
        raise KvtError(f"{', '.join(options[:-1])} and {options[-1]} apply to --format "
                       f"{_names(f for f in FORMATS.values() if f.takes_grid)}, not {fmt.name} "
                       f"(which covers the run's whole trained range)")


def check(fmt: ExportFormat, request: ExportRequest) -> dict:
    """The one k <= 0 check of every format (and the range check of a grid): ``{"extrapolated", "nonphysical"}``.

    Raises ``KvtError`` (the format's refusal) where the rates are <= 0 unless the user allowed it and the format
    can carry them; then warns.
    """
    from kvt.kinetics import validity
    from kvt.runs import rates

    run = request.run
    if fmt.takes_grid:
        extrapolated = rates.check_range(run, request.levels, request.temperatures, request.allow_extrapolation)
        region = rates.scan_nonphysical(run, request.levels, request.temperatures)
    else:
        extrapolated, region = False, validity.dense_grid_region(run.network, fmt.check_step_K or validity.DENSE_T_STEP_K)
    validity.refuse_nonphysical(region, request.allow_nonphysical and fmt.can_be_nonphysical, fmt.refusal)
    return {"extrapolated": extrapolated, "nonphysical": region}


def export(fmt: ExportFormat, request: ExportRequest) -> Written:
    """Check, then write ``request`` in ``fmt``: the file's text and what to tell the user."""
    return fmt.write(request, check(fmt, request))
