"""Every change kvt makes to a third-party library's private code, in one place.

Each patch module here names the library versions its code was written against and
calls :func:`require` before touching anything, so an upgrade that could silently
break the patch fails loudly instead (one ``KvtError`` naming the library, the
installed version and the versions the patch supports). ``pyproject.toml`` pins the
same upper bounds, and ``tests/test_patches.py`` checks the private names each patch
relies on still exist with the shape it expects.
"""

from __future__ import annotations

from importlib import metadata

from packaging.version import Version

from kvt.errors import KvtError


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution`` (e.g. ``"keras"``)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        raise KvtError(f"{distribution} is not installed; kvt needs it (pip install kvt)") from None


def supported(version: str, lowest: str, below: str) -> bool:
    """True when ``lowest <= version < below`` (PEP 440 ordering)."""
    return Version(lowest) <= Version(version) < Version(below)


def require(distribution: str, lowest: str, below: str, patch: str) -> str:
    """Check that ``lowest <= installed version < below`` before applying ``patch``.

    Returns the installed version; raises ``KvtError`` otherwise, naming what was
    found and what the patch was written for.
    """
    version = installed_version(distribution)
    if not supported(version, lowest, below):
        raise KvtError(f"{patch} was written for {distribution} >={lowest},<{below}; "
                       f"{distribution} {version} is installed (install a supported version)")
    return version
