"""``kvt app``: check what the app needs, then run ``streamlit run`` on :mod:`kvt.app.main`.

Imports neither Streamlit nor TensorFlow: a missing Streamlit or a port in use is one line at once.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
from pathlib import Path

from kvt.errors import KvtError

#: The script Streamlit runs.
SCRIPT = Path(__file__).with_name("main.py")
#: The largest table the Data page accepts, in MiB (Streamlit's own upload limit is set to it too).
MAX_UPLOAD_MB = 50
MISSING = "kvt app needs Streamlit, which is not installed; install it with: pip install 'kvt[app]' (in a clone of kvt: pip install '.[app]')"


def check_streamlit() -> None:
    """Refuse with one line, saying how to install it, when Streamlit is not installed."""
    try:
        found = importlib.util.find_spec("streamlit") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise KvtError(MISSING)


def check_address(address: str, port: int) -> None:
    """Refuse with one line when nothing can listen on ``address:port`` (a port in use, an address not here)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise KvtError(f"--address {address}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(where)
        except OSError as exc:
            raise KvtError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None


def streamlit_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of the app: headless, no usage statistics, the upload limit."""
    return [sys.executable, "-m", "streamlit", "run", str(SCRIPT), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB), "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def launch(port: int, address: str, echo=print) -> int:
    """Start the app and wait for it; returns its exit status (0 after Ctrl-C).

    A SIGTERM or SIGHUP to ``kvt app`` is passed on to the app, which stops (with its worker process): ending
    ``kvt app`` never leaves a server behind.
    """
    check_streamlit()
    check_address(address, port)
    shown = f"[{address}]" if ":" in address else address
    echo(f"kvt app: http://{shown}:{port}  (files are written under {Path.cwd()}; Ctrl-C stops it)")
    process = subprocess.Popen(streamlit_command(port, address))
    passed_on = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    before = {s: signal.signal(s, lambda number, frame: process.send_signal(number)) for s in passed_on}
    try:
        code = process.wait()
    except KeyboardInterrupt:  # the app got the same Ctrl-C and stops by itself
        process.wait()
        return 0
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
    return 128 - code if code < 0 else code  # ended by a signal: the shell's status for it
