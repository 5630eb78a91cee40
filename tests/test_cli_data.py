import pandas as pd
import pytest
from conftest import error_line

from kvt.cli import main
from kvt.data.datasets import bundled_path


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == "kvt, version 0.1.0"


def test_generate_to_stdout_matches_bundled_rows(runner):
    result = runner.invoke(main, ["data", "generate", "--pair", "O2-Ar", "--levels", "32", "--temps", "1000,2000"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "level,T_K,k_m3_s"
    bundled = bundled_path("O2-Ar").read_text().splitlines()
    assert lines[1] in bundled and lines[2] in bundled


def test_generate_dense_grid_to_file_and_force(runner, tmp_path):
    out = tmp_path / "dense.csv"
    args = ["data", "generate", "--pair", "O2-O", "--levels", "1-35", "--temps", "250:10000:10", "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 35 * 976 and frame["k_m3_s"].gt(0).all()
    before = out.read_text()
    again = runner.invoke(main, args)
    assert error_line(again) == f"Error: {out} already exists; pass --force to overwrite it"
    assert out.read_text() == before
    forced = runner.invoke(main, ["data", "generate", "--pair", "O2-O", "--levels", "1", "--temps", "250:10000:10",
                                  "-o", str(out), "--force"])
    assert forced.exit_code == 0 and len(pd.read_csv(out)) == 976


@pytest.mark.parametrize("args, message", [
    (["--pair", "O2-Xe"], "Error: unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar"),
    (["--pair", "O2-Ar", "--levels", "0"], "Error: level 0 is out of range; O2 levels are 1..35"),
    (["--pair", "O2-Ar", "--levels", "36"], "Error: level 36 is out of range; O2 levels are 1..35"),
    (["--pair", "O2-Ar", "--levels", "1.5"], "Error: level '1.5' in '1.5' is not an integer; use e.g. 32, 1-35 or 1,2,5"),
    (["--pair", "O2-Ar", "--temps", "0"], "Error: temperature 0 K in '0' is not allowed; temperatures must be > 0 K"),
    (["--pair", "O2-Ar", "--temps", "hot"], "Error: temperature 'hot' is not a number"),
    (["--pair", "O2-Ar", "--temps", "250:1000"],
     "Error: malformed temperature range '250:1000'; use start:stop:step, e.g. 250:10000:10"),
    ([], "Error: Missing option '--pair'."),
])
def test_generate_errors(runner, tmp_path, args, message):
    out = tmp_path / "x.csv"
    result = runner.invoke(main, ["data", "generate", *args, "-o", str(out)])
    assert error_line(result) == message
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_info_bundled_and_user_file(runner, tmp_path):
    result = runner.invoke(main, ["data", "info", "--pair", "O2-O2"])
    assert result.exit_code == 0
    assert "rows            525" in result.output
    assert "levels          1..35 (35 distinct)" in result.output
    assert "temperatures_K  250..10000 (15 distinct)" in result.output
    assert "FHO-FR" in result.output
    user = tmp_path / "u.csv"
    user.write_text("level,T_K,k_m3_s\n3,300,1e-20\n4,300,2e-20\n")
    result = runner.invoke(main, ["data", "info", "--file", str(user)])
    assert result.exit_code == 0 and f"user file {user}" in result.output and "rows            2" in result.output


def test_info_errors(runner, tmp_path):
    assert error_line(runner.invoke(main, ["data", "info"])) == "Error: give exactly one of --pair or --file"
    missing = tmp_path / "none.csv"
    assert error_line(runner.invoke(main, ["data", "info", "--file", str(missing)])) == f"Error: {missing}: no such file"
    bad = tmp_path / "bad.csv"
    bad.write_text("level,T_K,k_m3_s\n1,300,-1e-20\n")
    assert (error_line(runner.invoke(main, ["data", "info", "--file", str(bad)]))
            == f"Error: {bad}: column k_m3_s, line 2: -1e-20 must be > 0 m^3/s")


def test_unknown_option_is_one_line(runner):
    assert error_line(runner.invoke(main, ["data", "generate", "--bogus"])) == "Error: No such option '--bogus'."
