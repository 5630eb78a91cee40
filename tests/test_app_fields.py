"""The app's hyper-parameter widgets come from the optimizers' declarations (kvt/app/fields.py), and each check's
stated constraint is what the check enforces; ``kvt app`` refuses what it cannot do with one line. No Streamlit
import here, no TensorFlow (tests/test_app.py drives the pages)."""

from __future__ import annotations

import math
import socket
import sys

import pytest

from conftest import error_line
from kvt.app import fields
from kvt.cli import main
from kvt.optimizers import _common, registry
from kvt.optimizers._common import BASE_ARGUMENTS

CONSTRAINED = [name for name in dir(_common) if getattr(getattr(_common, name), "constraint", None) is not None]


def _accepts(check, value) -> bool:
    try:
        check("x", value)
    except ValueError:
        return False
    return True


def test_every_check_an_optimizer_declares_states_its_constraint():
    used = {p.check.__name__ for name in registry.names() if registry.entry(name).declaration
            for p in registry.entry(name).declaration.parameters}
    assert used <= set(CONSTRAINED), f"checks without a constraint: {sorted(used - set(CONSTRAINED))}"
    assert {"rate", "fraction", "positive", "unit_interval", "positive_int", "sam_base"} <= set(CONSTRAINED)


@pytest.mark.parametrize("name", CONSTRAINED)
def test_each_constraint_is_what_its_check_enforces_at_its_bounds(name):
    """A bound the constraint calls closed is accepted and the number just past it refused; an open one refused;
    None is accepted exactly when the constraint says optional; a choice's every option is accepted."""
    check = getattr(_common, name)
    c = check.constraint
    assert _accepts(check, None) == c.optional, name
    if c.kind == "choice":
        options = c.choices()
        assert options and all(_accepts(check, option) for option in options)
        assert not _accepts(check, "no-such-optimizer")
        return
    if c.kind == "text":
        return
    integer = c.kind == "integer"
    step = 1 if integer else 1e-9
    for bound, is_open, outward in ((c.low, c.low_open, -1), (c.high, c.high_open, +1)):
        if bound is None:  # no bound on this side: a value far out on it is taken
            assert _accepts(check, outward * (10**9 if integer else 1e9)), f"{name} far out"
            continue
        value = int(bound) if integer else float(bound)
        assert _accepts(check, value) == (not is_open), f"{name} at {value}"
        assert not _accepts(check, value + outward * step), f"{name} past {value}"
        assert _accepts(check, value - outward * step), f"{name} inside {value}"
    if integer:
        assert not _accepts(check, (c.low or 0) + 1.5)


@pytest.mark.parametrize("name", registry.names())
def test_the_fields_of_an_optimizer_are_its_declaration(name):
    entry = registry.entry(name)
    made = {f.name: f for f in fields.fields(name)}
    assert list(made) == entry.hyperparameter_names()
    defaults = entry.resolved_defaults()
    for key, field in made.items():
        assert field.default == defaults.get(key)
        assert field.group == ("base" if key in BASE_ARGUMENTS else "declared")
        if entry.declaration is not None and key in entry.declaration.names:
            declared = entry.declaration[key]
            c = declared.check.constraint
            assert field.help.startswith(declared.meaning)
            assert (field.low, field.high, field.optional) == ((c.low, c.high, c.optional) if c.kind in (
                "number", "integer") else (None, None, c.optional if c.kind == "text" else False))
            assert field.kind == c.kind
        elif isinstance(defaults.get(key), bool):
            assert field.kind == "checkbox"


def test_the_mode_s_learning_rate_is_the_default_shown():
    assert fields.fields("adam", 1e-2)[0].default == 1e-2
    assert fields.fields("adam")[0].default == 1e-3


def test_only_what_differs_from_its_default_becomes_lr_or_opt_and_reads_back_as_the_cli_reads_it():
    made = fields.fields("lars")
    shown = {f.name: (fields.text_of(f) if f.kind == "text" else f.default) for f in made}
    assert fields.overrides(made, shown) == (None, {})
    shown.update(learning_rate=0.05, momentum=0.8, exclude_from_adaptation="('kernel', 'bias')", use_ema=True,
                 clipnorm="1.5")
    lr, opt = fields.overrides(made, shown)
    assert lr == 0.05
    assert opt == {"momentum": 0.8, "exclude_from_adaptation": ("kernel", "bias"), "use_ema": True, "clipnorm": 1.5}
    typed = [f"{k}={fields.opt_text(v)}" for k, v in opt.items()]
    assert registry.parse_options(typed) == opt  # what the recorded `kvt train --opt` gives back
    assert registry.hyperparameters("lars", {"learning_rate": lr, **opt})["momentum"] == 0.8


def test_a_field_s_format_and_step_follow_its_default():
    adamod = {f.name: f for f in fields.fields("adamod")}
    assert (adamod["epsilon"].format, adamod["beta_1"].format) == ("%.3e", "%g")
    assert math.isclose(adamod["epsilon"].step, 1e-9) and math.isclose(adamod["beta_1"].step, 0.01)
    assert {f.name: f for f in fields.fields("apollo")}["warmup"].format == "%d"


# ---------------------------------------------------------------- kvt app: refusals before anything starts
def test_kvt_app_without_streamlit_says_in_one_line_how_to_install_it(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "streamlit", None)  # as if it were not installed
    result = runner.invoke(main, ["app"], prog_name="kvt")
    assert error_line(result) == ("Error: kvt app needs Streamlit, which is not installed; install it with: "
                                  "pip install 'kvt[app]' (in a clone of kvt: pip install '.[app]')")


def test_kvt_app_refuses_a_port_in_use_and_an_address_not_here(runner):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["app", "--port", str(port)], prog_name="kvt")
    assert error_line(result) == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    result = runner.invoke(main, ["app", "--port", "0"], prog_name="kvt")
    assert error_line(result) == "Error: Invalid value for '--port': 0 is not in the range 1<=x<=65535."


def test_the_app_listens_on_127_0_0_1_unless_told(monkeypatch):
    from kvt.app import launch

    command = launch.streamlit_command(8600, "127.0.0.1")
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.maxUploadSize") + 1] == str(launch.MAX_UPLOAD_MB)
    assert launch.SCRIPT.is_file()
    started = []
    monkeypatch.setattr(launch.subprocess, "Popen", lambda args: started.append(args) or type(
        "Done", (), {"wait": lambda self: 0})())
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["app", "--port", "8601"], prog_name="kvt")
    assert result.exit_code == 0, result.output
    assert started[0][started[0].index("--server.address") + 1] == "127.0.0.1"
    assert "kvt app: http://127.0.0.1:8601" in result.stderr
