from conftest import error_line

import kvt.optimizers as registry
from kvt.cli import main


def test_list_names_every_optimizer_with_defaults(runner):
    result = runner.invoke(main, ["optimizers"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == registry.names()
    assert "defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, beta_3=0.995, epsilon=1e-08" in result.stdout


def test_plain_optimizer_shows_no_train_step(runner):
    result = runner.invoke(main, ["optimizers", "adamod"])
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("train step:") for line in result.stdout.splitlines())


def test_show_one_in_full(runner):
    result = runner.invoke(main, ["optimizers", "adahessian"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("adahessian: AdaHessian")
    assert "train step: AdaHessian.train_step: Hutchinson Hessian-vector products (nested tapes, " \
           "fresh Rademacher z), then one step" in lines
    declaration = registry.entry("adahessian").declaration
    for parameter in declaration.parameters:  # name, default, then the declared meaning
        at = lines.index(next(line for line in lines if line.split()[:1] == [parameter.name]))
        assert lines[at].split()[1] == repr(parameter.default)
        assert lines[at + 1] == f"  {'':<24} {parameter.meaning}"
    for key in registry.entry("adahessian").hyperparameter_names():
        assert any(line.split()[:1] == [key] for line in lines), key
    assert "  hessian_power            1.0  (kvt default)" in lines
    assert any(line.startswith("notes: ") for line in lines)


def test_unknown_optimizer_lists_valid_names(runner):
    result = runner.invoke(main, ["optimizers", "adamw2"])
    assert error_line(result) == f"Error: unknown optimizer 'adamw2' (did you mean 'adamw'?); valid names: {', '.join(registry.names())}"


def test_listing_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from kvt.cli import main; sys.argv = ['kvt', 'optimizers']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[0] == "adam"


def test_entries_name_their_class_without_importing_it():
    assert registry.entry("adamod").class_path == "kvt.optimizers.adamod.AdaMod"
    assert registry.entry("adam").class_path == "keras.optimizers.Adam"
    import keras

    assert registry.entry("adam").cls is keras.optimizers.Adam
