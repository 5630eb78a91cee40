"""The package's shape: no import cycle between kvt modules, no module over 500 lines, the CLI's commands.

The import graph is read statically (ast) from the files pkgutil finds in the package, without
importing them, so it costs well under a second. The CLI is compared with what commit 817a1b4
printed and declared (tests/data/cli_help/, captured from that commit before the split).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

import kvt
from conftest import kvt_in_one_process

MAX_LINES = 500

# The command tree of `kvt` at commit 817a1b4 (before the CLI was split into modules): group -> commands.
COMMANDS_AT_817A1B4 = {
    "kvt": ["app", "bench", "data", "evaluate", "export", "optimizers", "plot", "predict", "relax", "train", "tune"],
    # + app: the Streamlit app (issue 26)
    "kvt bench": ["synthetic", "vt"],
    "kvt data": ["generate", "info", "pairs"],  # + pairs: the 18 air pairs (issue 14)
}

HELP_AT_817A1B4 = Path(__file__).parent / "data" / "cli_help"


def package_modules(package_path, prefix: str) -> dict[str, Path]:
    """Every module of the package at ``package_path``, found by pkgutil without importing: name -> source file."""
    modules = {prefix.rstrip("."): Path(package_path[0]) / "__init__.py"}
    for info in pkgutil.iter_modules(package_path, prefix):
        folder = Path(info.module_finder.path)
        if info.ispkg:
            modules.update(package_modules([str(folder / info.name.rpartition(".")[2])], info.name + "."))
        else:
            modules[info.name] = folder / (info.name.rpartition(".")[2] + ".py")
    return modules


def _top_level_statements(body):
    """The statements Python runs when it imports a module: its body, if/try/with blocks, class bodies (not def)."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _top_level_statements(getattr(node, field, None) or [])


def module_imports(name: str, path: Path, modules, module_level: bool = True) -> set[str]:
    """The modules of ``modules`` that module ``name`` imports (at import time, or anywhere if not module_level).

    ``from a.b import c`` imports a.b.c when that is a module, else a.b; a package's own __init__,
    which Python imports before any of its modules, is not an edge unless it is named.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = _top_level_statements(tree.body) if module_level else ast.walk(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    return {imported for imported in found if imported in modules and imported != name}


def import_graph(modules, module_level: bool = True) -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    return {name: module_imports(name, path, modules, module_level) for name, path in modules.items()}


def find_cycle(graph) -> list[str] | None:
    """One import cycle of ``graph`` as [a, b, ..., a], or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


MODULES = package_modules(kvt.__path__, "kvt.")


def test_the_walk_finds_every_source_file():
    on_disk = {p.resolve() for p in Path(kvt.__path__[0]).rglob("*.py") if "__pycache__" not in p.parts}
    assert {p.resolve() for p in MODULES.values()} == on_disk
    assert {"kvt.cli", "kvt.cli.options", "kvt.physics.fho", "kvt.optimizers.registry"} <= set(MODULES)


def test_every_package_is_installed():
    """A package missing from pyproject.toml's list is left out of a (non-editable) `pip install .`."""
    import tomllib

    listed = set(tomllib.loads((Path(kvt.__path__[0]).parent / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert packages == listed - {"kvt.bundled"}


def test_no_import_cycle_between_kvt_modules():
    """Function-level imports count: a lazy import closes a cycle as surely as one at the top (it hid
    exports/fho_poly.py <-> the solver export's module for a while)."""
    cycle = find_cycle(import_graph(MODULES, module_level=False))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cli_modules_import_no_command_module_even_lazily():
    """Only the group (kvt.cli) gathers the command modules; they share kvt.cli.options and kvt.cli.quiet.

    Function-level imports count here too: at 817a1b4 kvt.cli imported kvt.cli.bench, whose commands
    imported kvt.cli's TensorFlow quieting back.
    """
    cli = {name: path for name, path in MODULES.items() if name.startswith("kvt.cli")}
    graph = import_graph(cli, module_level=False)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
    assert graph.pop("kvt.cli.__main__") == {"kvt.cli"}
    assert graph.pop("kvt.cli") == set(cli) - {"kvt.cli", "kvt.cli.__main__", "kvt.cli.options", "kvt.cli.quiet"}
    for name, imported in graph.items():
        assert imported <= {"kvt.cli.options", "kvt.cli.quiet"}, f"{name} imports {', '.join(sorted(imported))}"


def _package(tmp_path, files):
    root = tmp_path / "pkg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return package_modules([str(root)], "pkg.")


def test_the_cycle_check_finds_a_cycle_it_is_shown(tmp_path):
    modules = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.sub import b\n",
        "sub/__init__.py": "",
        "sub/b.py": "import os\nif True:\n    from ..c import thing\n",
        "c.py": "def f():\n    import pkg.d\nclass K:\n    from pkg import a\n",
        "d.py": "from pkg.c import f\n",
    })
    graph = import_graph(modules)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    lazy = import_graph(modules, module_level=False)
    assert lazy["pkg.c"] == {"pkg.a", "pkg.d"} and lazy["pkg.d"] == {"pkg.c"}
    graph["pkg.c"] = set()
    assert find_cycle(graph) is None


def test_no_module_over_500_lines():
    too_long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not too_long, "modules over 500 lines: " + ", ".join(
        f"{name} ({n} lines)" for name, n in sorted(too_long.items()))


def _command_tree(command, path="kvt"):
    tree = {}
    if isinstance(command, click.Group):
        tree[path] = sorted(command.commands)
        for name, sub in command.commands.items():
            tree.update(_command_tree(sub, f"{path} {name}"))
    return tree


def test_the_cli_lists_the_commands_of_817a1b4():
    from kvt.cli import main

    assert _command_tree(main) == COMMANDS_AT_817A1B4


def _every_command_path():
    paths = [[]]
    for group, names in COMMANDS_AT_817A1B4.items():
        paths += [group.split()[1:] + [name] for name in names]
    return paths


@pytest.mark.parametrize("path", _every_command_path(), ids=lambda p: " ".join(["kvt", *p]))
def test_help_is_the_help_of_817a1b4(runner, path):
    """`kvt ... --help` says, word for word, what the text saved from 817a1b4 says.

    Words, not lines: where click wraps a line or how far it indents a column is click's choice and
    may change between its versions; what each option is called and what its help says is kvt's.
    The additions since 817a1b4 are listed in test_every_parameter_is_declared_as_at_817a1b4."""
    from kvt.cli import main

    result = runner.invoke(main, [*path, "--help"], prog_name="kvt", terminal_width=78)
    assert result.exit_code == 0, result.output
    expected = (HELP_AT_817A1B4 / ("-".join(["kvt", *path]) + ".txt")).read_text()
    assert result.stdout.split() == expected.split(), "the words of the help differ (wrapping is click's)"


def describe_command(command: click.Command, ctx: click.Context) -> dict:
    """What kvt declares for ``command`` and its subcommands: the command's texts and each parameter.

    Built from click's public attributes, not from ``to_info_dict`` (whose keys and internal names,
    such as the help option's, change between click versions).
    """
    entry = {"help": command.help, "short_help": command.short_help, "epilog": command.epilog,
             "hidden": command.hidden, "deprecated": bool(command.deprecated),
             "params": [describe_parameter(p, ctx) for p in command.get_params(ctx)]}
    if isinstance(command, click.Group):
        entry["commands"] = {name: describe_command(sub, click.Context(sub, info_name=name, parent=ctx))
                             for name, sub in sorted(command.commands.items())}
    return entry


def describe_type(kind: click.ParamType) -> dict:
    described = {"class": type(kind).__name__}
    if isinstance(kind, click.Path):
        described.update(exists=kind.exists, file_okay=kind.file_okay, dir_okay=kind.dir_okay,
                         readable=kind.readable, writable=kind.writable, allow_dash=kind.allow_dash)
    elif isinstance(kind, click.Choice):
        described.update(choices=list(kind.choices), case_sensitive=kind.case_sensitive)
    elif isinstance(kind, (click.IntRange, click.FloatRange)):
        described.update(min=kind.min, max=kind.max, min_open=kind.min_open, max_open=kind.max_open)
    return described


def describe_parameter(param: click.Parameter, ctx: click.Context) -> dict:
    """Name (the function's argument, None where the command's function does not receive it), flags, type,
    default, and what the help shows."""
    described = {"kind": "option" if isinstance(param, click.Option) else "argument",
                 "name": param.name if param.expose_value else None,
                 "opts": sorted(param.opts), "secondary_opts": sorted(param.secondary_opts),
                 "type": describe_type(param.type), "required": param.required, "nargs": param.nargs,
                 "multiple": param.multiple, "envvar": param.envvar,
                 "default": param.to_info_dict()["default"]}
    if isinstance(param, click.Option):
        described.update(help=param.help, is_flag=param.is_flag, count=param.count, hidden=param.hidden,
                         prompt=param.prompt)
    return described


def test_every_parameter_is_declared_as_at_817a1b4():
    """Each option's name (the function's argument), flags, type, default, required and help.

    parameters.json holds what the code at 817a1b4 declared, in the form describe_command writes; it
    was converted once from that commit's ``to_info_dict()``. Since then these were changed on purpose:
    ``--process`` (default vt) of data generate, data info, train, tune, relax and evaluate; ``--levels-b`` and
    ``--units`` of data generate and ``--with-vv`` of relax (VV exchange); ``--mixture`` of relax (air, issue 24); ``--levels-b`` of predict, export,
    evaluate and plot, ``--at-temp`` of plot, ``--vv-run`` of relax and ``--level`` of plot no longer required
    (learned VV and VV' rates, issue 24); ``--vv-table`` of relax and the help of export's ``--layout`` (VV rates
    from a table, the wide layout of VV runs, issue 24); in ``kvt export``
    (issue 25: Cantera, the Chebyshev kernel, the SPbU layout), ``--run`` repeatable (several runs make one
    ``cantera`` mechanism), the new ``--kernel`` and ``--tolerance``, and ``--layout`` and ``--units`` without a
    click default (their defaults depend on the format, so their help states them; ``--units`` now also applies
    to c-header, fortran and fho-poly, ``--layout spbu`` to fho-poly), with the command's help naming Cantera;
    and one command, ``kvt app`` (issue 26); the help of ``kvt`` itself, ``predict``, ``export`` and ``relax`` naming VV exchange and the mixture (issue 24). The help text alone would not show a
    changed destination name or a default that is not displayed. Checked to hold under click 8.1.7,
    8.4.0 and 8.5.1.
    """
    from kvt.cli import main

    described = describe_command(main, click.Context(main, info_name="kvt", **main.context_settings))
    assert json.loads(json.dumps(described)) == json.loads((HELP_AT_817A1B4 / "parameters.json").read_text())


def test_every_saved_help_is_checked():
    saved = {p.stem for p in HELP_AT_817A1B4.glob("*.txt")}
    assert saved == {"-".join(["kvt", *path]) for path in _every_command_path()}


def test_the_cli_imports_no_tensorflow():
    """Importing kvt.cli, `kvt --help` and `kvt optimizers` leave TensorFlow and Keras unimported."""
    commands = [["--help"], ["optimizers"], ["train", "--help"], ["data", "info", "--pair", "O2-Ar"]]
    imported_by_cli, runs, stdout, _ = kvt_in_one_process(commands)
    assert imported_by_cli == []
    assert runs == [[0, []]] * len(commands)
    assert "Commands:" in stdout and "adamod" in stdout


def test_python_dash_m_kvt_cli_runs_the_group():
    done = subprocess.run([sys.executable, "-m", "kvt.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"kvt, version {kvt.__version__}\n"


# The packages in the order of the data's path (docs/architecture.md): a module may import
# modules of its own layer or of layers before it, never after (function-level imports count).
LAYERS = [
    {"kvt", "kvt.errors", "kvt.patches", "kvt.files"},
    {"kvt.physics"},
    {"kvt.data"},
    {"kvt.network"},
    {"kvt.optimizers"},
    {"kvt.kinetics"},
    {"kvt.training"},
    {"kvt.runs"},
    {"kvt.exports", "kvt.reports"},
    {"kvt.bench", "kvt.tuning"},
    {"kvt.cli", "kvt.app"},  # the two interfaces: `kvt app` starts the app, whose pages share the CLI's helpers
]


def layer_of(module: str) -> int:
    """Index in LAYERS of the package holding ``module`` (the longest matching package name)."""
    best = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and (
                    best is None or len(package) > len(best[1])):
                best = (index, package)
    assert best is not None, f"{module} is in no layer of LAYERS"
    return best[0]


def layer_violations(graph) -> list[str]:
    return sorted(f"{importer} imports {imported}" for importer, targets in graph.items() for imported in targets
                  if layer_of(imported) > layer_of(importer) and not imported.startswith(importer + "."))


def test_every_module_imports_only_its_own_or_earlier_layers():
    violations = layer_violations(import_graph(MODULES, module_level=False))
    assert not violations, "imports against the data's path: " + "; ".join(violations)


def test_the_layer_check_finds_an_import_against_the_path():
    graph = {"kvt.physics.fho": {"kvt.errors"}, "kvt.data.grid": {"kvt.physics.fho", "kvt.runs.folder"},
             "kvt.runs.folder": {"kvt.files.atomic"}, "kvt.files.atomic": set(), "kvt.errors": set()}
    assert layer_violations(graph) == ["kvt.data.grid imports kvt.runs.folder"]


def test_every_kvt_name_the_benchmarks_import_exists():
    """The benchmark scripts are not run by the suite; a name one imports from kvt that moved breaks it silently
    (benchmarks/c_header_speed.py did after the CLI split)."""
    import importlib

    missing = []
    for script in sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kvt":
                module = importlib.import_module(node.module)
                missing += [f"{script.name}: {node.module}.{alias.name}" for alias in node.names
                            if not hasattr(module, alias.name) and f"{node.module}.{alias.name}" not in MODULES]
    assert not missing, "benchmarks import names kvt does not have: " + ", ".join(missing)
