"""The options kvt's commands share, each declared once: its flags, destination, type and default.

A command applies one with ``option(name)``, giving its own help where commands word the
option differently (``kvt train`` states its defaults, ``kvt tune`` defers to the mode's).
This module imports no command module, so every command module can import it.
"""

from __future__ import annotations

import click

#: What --pair (and bench's --pairs) accept, in the words of the help texts.
PAIRS_ACCEPTED = "any of the 18 air pairs MOLECULE-PARTNER, e.g. N2-N (see `kvt data pairs`)"

# name -> (flags and destination, click.option attributes, the help of the commands that word it alike or None)
DECLARATIONS = {
    # the dataset: kvt train, kvt tune (and --pair of data, evaluate, relax)
    "pair": (("--pair",), {}, f"Bundled dataset: {PAIRS_ACCEPTED}."),
    "process": (("--process", "process_kind"), {"default": "vt", "show_default": True},
                "Energy-exchange process of --pair: vt (vibrational-translational); vv (O2-O2, N2-N2, NO-NO) "
                "and vv' (N2-O2, N2-NO, O2-NO): vibrational-vibrational exchange."),
    "data": (("--data", "data_file"), {"type": click.Path(dir_okay=False)}, "Your own CSV (level,T_K,k_m3_s)."),
    # training: kvt train, kvt tune (and kvt bench)
    "mode": (("--mode",), {"default": "study", "show_default": True}, None),
    "epochs": (("--epochs",), {"type": int}, None),
    "batch-size": (("--batch-size",), {"type": int}, None),
    "val-fraction": (("--val-fraction",), {"type": float}, None),
    "patience": (("--patience",), {"type": int}, None),
    "units": (("--units",), {"type": int}, None),
    "seed": (("--seed",), {"type": int, "default": 0, "show_default": True}, None),
    "allow-implausible": (("--allow-implausible",), {"is_flag": True}, None),
    "quiet": (("--quiet",), {"is_flag": True}, None),
    # benchmarks: kvt bench vt, kvt bench synthetic
    "optimizers": (("--optimizers", "optimizers_spec"), {"default": "all", "show_default": True}, None),
    "repeats": (("--repeats",), {"type": int}, None),
    "quick": (("--quick",), {"is_flag": True}, None),
    # a trained network and the grid it is read on: predict, export, evaluate, plot, relax
    "run": (("--run", "run_dir"), {"type": click.Path()}, "Run directory from `kvt train`."),
    "level": (("--level",), {"type": str}, None),
    "levels": (("--levels", "levels_spec"), {}, None),
    "levels-b": (("--levels-b", "levels_b_spec"), {},
                 "VV/VV' runs: levels B leaves, level_b of A(level_a) + B(level_b) -> A(level_a - 1) + B(level_b + 1) "
                 "(--levels gives level_a) [default: the trained ones]."),
    "temps": (("--temps", "temps_spec"), {}, None),
    "direction": (("--direction",), {"default": "down", "show_default": True}, None),
    "allow-extrapolation": (("--allow-extrapolation",), {"is_flag": True}, None),
    "allow-nonphysical": (("--allow-nonphysical",), {"is_flag": True}, None),
    "csv": (("--csv", "as_csv"), {"is_flag": True}, None),
    # what a command writes
    "out": (("--out",), {"type": click.Path(file_okay=False)}, None),
    "output": (("-o", "--output"), {"type": click.Path(dir_okay=False)}, None),
    "force": (("--force",), {"is_flag": True}, None),
    "resume": (("--resume",), {"is_flag": True}, None),
}


def option(name: str, help: str | None = None, **changes):
    """``click.option`` of the declared option ``name``, with this command's ``help`` and ``changes`` (required, ...).

    Without ``help`` the declaration's shared wording is used; an option without one must be given it.
    """
    flags, attributes, shared_help = DECLARATIONS[name]
    text = shared_help if help is None else help
    if text is None:
        raise TypeError(f"--{name} is worded by each command: give option('{name}', help=...)")
    return click.option(*flags, **{**attributes, **changes}, help=text)


def resolve_process(pair: str | None, kind: str = "vt", supported: tuple[str, ...] = ("vt",), command: str = "kvt",
                    instead: str | None = None):
    """The process the user typed (--pair, any case, and --process; :func:`kvt.physics.process.resolve`), resolved
    once and passed along; None without --pair. One line for what is unknown, or a kind ``command`` does not take
    (``supported``; ``instead``: what to do then, when the command knows better than "takes --process ...")."""
    from kvt.physics.process import check_kind, check_supported, resolve

    key = check_kind(kind)
    check_supported(key, supported, command, instead)
    return resolve(pair, key) if pair else None
