"""What an optimizer's file declares, read from its source without importing it.

``kvt optimizers NAME`` and the checks of ``kvt train --optimizer NAME --opt KEY=VALUE`` need
each class's constructor arguments (with their defaults) and whether it defines its own
``train_step``. Importing a Keras optimizer imports TensorFlow (5 s or more), so the class is
found by following ``from X import Name`` statements from the module that an entry names
(``"keras.optimizers:Adam"`` -> ``keras/optimizers/__init__.py`` -> ``keras/src/optimizers/adam.py``)
and its ``def __init__`` is read with :mod:`ast`. Nothing is executed.

Whatever cannot be read this way (a module layout that changed: None; a class whose ``__init__``
is inherited or made at import, a default that is not a literal: no ``arguments``) makes the
caller import the class and ask :mod:`inspect`, as before: slower, never wrong. A train step
inherited from a base class is not seen here; kvt's optimizers define theirs in the class itself.
``tests/test_new_user.py`` checks that every registered class read here matches :func:`inspect.signature`
and the train step of the imported class.

kvt's own optimizers also declare their hyper-parameters and registry entry at the top of their file
(``HYPERPARAMETERS = declare(...)``, ``REGISTRY_ENTRY = Listing(...)``, written with the names of
:mod:`kvt.optimizers._common` alone). :func:`read_declarations` evaluates those assignments, and only
them, with only the names the file imports from that module in scope: the values are those the
imported module holds (equal, as ``tests/test_optimizers.py`` checks), without Keras.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kvt.optimizers import _common

_MISSING = object()

#: The one module whose names a declaration at the top of an optimizer's file may use.
VOCABULARY = _common.__name__

#: The assignments :func:`read_declarations` evaluates, in the order a file makes them.
DECLARATIONS = ("HYPERPARAMETERS", "REGISTRY_ENTRY")


@dataclass(frozen=True)
class ClassSource:
    """A class as its source declares it: ``__init__``'s named arguments in order, with defaults
    (``inspect.Parameter.empty`` where there is none; ``arguments`` is None where the class has no
    ``__init__`` of its own or a default is not a literal), and its own ``train_step`` docstring."""

    name: str
    arguments: dict | None
    has_train_step: bool
    train_step_doc: str | None


def _module_file(module: str) -> Path | None:
    """The source file of ``module``, found from its top-level package's location (nothing imported)."""
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)  # finding a top-level package does not import it
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not spec.submodule_search_locations:
        return Path(spec.origin) if not rest and spec.origin else None
    package = Path(list(spec.submodule_search_locations)[0])
    base = package.joinpath(*rest.split(".")) if rest else package
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _parsed(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _class_node(module: str, name: str, depth: int = 0) -> ast.ClassDef | None:
    """The ``class name`` statement that ``module.name`` refers to, following re-exports (absolute imports)."""
    if depth > 5:
        return None
    path = _module_file(module)
    tree = _parsed(path) if path else None
    if tree is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _class_node(node.module, alias.name, depth + 1)
    return None


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _MISSING


@lru_cache(maxsize=None)
def read_class(target: str) -> ClassSource | None:
    """The declaration of the class ``"module:Name"``, or None where its source cannot be found."""
    import inspect

    module, _, name = target.partition(":")
    node = _class_node(module, name)
    if node is None:
        return None
    methods = {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}
    step = methods.get("train_step")
    doc = ast.get_docstring(step) if step is not None else None
    init = methods.get("__init__")
    if init is None:
        return ClassSource(name, None, step is not None, doc)
    positional = init.args.posonlyargs + init.args.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(init.args.defaults)) + \
        [_literal(d) for d in init.args.defaults]
    arguments = dict(zip((a.arg for a in positional), defaults))
    arguments.update({a.arg: (inspect.Parameter.empty if d is None else _literal(d))
                      for a, d in zip(init.args.kwonlyargs, init.args.kw_defaults)})
    arguments.pop("self", None)
    if any(value is _MISSING for value in arguments.values()):
        arguments = None
    return ClassSource(name, arguments, step is not None, doc)


def _vocabulary_names(node: ast.ImportFrom) -> dict[str, Any]:
    """The names ``from ... import ...`` binds from :data:`VOCABULARY` (the module itself, or names in it)."""
    if node.level != 0:
        return {}
    if node.module == VOCABULARY:
        return {alias.asname or alias.name: getattr(_common, alias.name) for alias in node.names}
    return {alias.asname or alias.name: _common for alias in node.names
            if f"{node.module}.{alias.name}" == VOCABULARY}


@lru_cache(maxsize=None)
def read_declarations(module: str) -> dict[str, Any]:
    """The top-level :data:`DECLARATIONS` of ``module`` (a kvt optimizer's file), evaluated without importing it.

    Raises ``ImportError`` where the file cannot be read or lacks one of them, and ``NameError`` naming
    the file where one uses a name it did not import from :data:`VOCABULARY`.
    """
    path = _module_file(module)
    tree = _parsed(path) if path else None
    if tree is None:
        raise ImportError(f"cannot read the source of {module}")
    scope: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            scope.update(_vocabulary_names(node))
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
              and node.targets[0].id in DECLARATIONS):
            try:
                value = eval(compile(ast.Expression(node.value), str(path), "eval"), dict(scope))  # noqa: S307
            except NameError as exc:
                raise NameError(f"{path}:{node.lineno}: {node.targets[0].id} may use only names imported from "
                                f"{VOCABULARY} ({exc})") from None
            found[node.targets[0].id] = scope[node.targets[0].id] = value
    missing = [name for name in DECLARATIONS if name not in found]
    if missing:
        raise ImportError(f"{path} declares no {' or '.join(missing)} at its top level")
    return found
