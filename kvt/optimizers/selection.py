"""Reading a list of optimizer names from the command line (``kvt bench``, ``kvt tune``)."""

from __future__ import annotations

from typing import Iterable

from kvt.errors import KvtError


def parse_optimizers(spec: str | Iterable[str], option: str = "--optimizers") -> tuple[str, ...]:
    """``"adamod"``, ``"adam,sgd"`` or ``"all"`` -> registry names, validated, in the order given.

    An empty name, ``all`` beside other names, an unknown name or a name given twice is
    refused with one ``KvtError`` naming ``option``.
    """
    from kvt.optimizers import registry

    text = spec if isinstance(spec, str) else ",".join(str(s) for s in spec)
    names = [part.strip().lower() for part in text.split(",")]
    if names == ["all"]:
        return tuple(registry.names())
    if any(not name for name in names):
        raise KvtError(f"malformed {option} '{text}'; give a name, a comma-separated list or all")
    if "all" in names:
        raise KvtError(f"{option} '{text}': 'all' cannot be combined with other optimizer names")
    for name in names:
        registry.entry(name)  # "unknown optimizer 'X'; valid names: ..."
    if len(set(names)) != len(names):
        raise KvtError(f"{option} '{text}' lists an optimizer twice")
    return tuple(names)
