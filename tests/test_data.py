import numpy as np
import pandas as pd
import pytest

from kvt import KvtError
from kvt.data.datasets import PAIRS, bundled_path, generate, load_dataset, to_csv_text
from kvt.data.grid import STUDY_TEMPERATURES, parse_levels, parse_temperatures
from kvt.data.exchange import LAYOUT_HELP as VV_LAYOUT_HELP
from kvt.data.tables import LAYOUT_HELP

#: What kvt adds to a level error of a table that names no molecule (it is read as O2).
UNNAMED_MOLECULE = " (the table names no molecule, so it is read as O2's; give it a '# pair: MOLECULE-PARTNER' line)"


@pytest.mark.parametrize("pair", PAIRS)
def test_bundled_file_is_regenerated_exactly(pair):
    bundled = pd.read_csv(bundled_path(pair))
    fresh = generate(pair)
    assert list(bundled.columns) == ["level", "T_K", "k_m3_s"]
    assert len(bundled) == 525
    assert sorted(bundled["level"].unique()) == list(range(1, 36))
    assert sorted(bundled["T_K"].unique()) == list(STUDY_TEMPERATURES)
    np.testing.assert_array_equal(bundled[["level", "T_K"]].to_numpy(), fresh[["level", "T_K"]].to_numpy())
    np.testing.assert_allclose(bundled["k_m3_s"], fresh["k_m3_s"], rtol=1e-12, atol=0)
    assert bundled_path(pair).read_text() == to_csv_text(fresh)


def test_load_bundled_pair():
    ds = load_dataset("O2-Ar")
    assert ds.pair == "O2-Ar" and len(ds.frame) == 525 and len(ds.sha256) == 64
    assert ds.frame["level"].dtype.kind == "i"


def test_load_user_csv_round_trip(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(to_csv_text(generate("O2-O", [3, 4], [300.0, 600.0])))
    ds = load_dataset(path)
    assert ds.pair is None and ds.name == "mine" and len(ds.frame) == 4


def write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("", f"file is empty; expected a CSV with columns level,T_K,k_m3_s ({LAYOUT_HELP})"),
    ("level,T_K,k_m3_s\n", "has a header but no data rows"),
    ("level,T_K\n1,300\n", f"missing column(s) k_m3_s; expected columns level,T_K,k_m3_s ({LAYOUT_HELP})"),
    ("level,T_K,k_m3_s,extra\n1,300,1e-20,0\n",
     f"unexpected column(s) extra; expected columns level,T_K,k_m3_s ({LAYOUT_HELP})"),
    ("level,T,k\n1,300,1e-20\n", "missing column(s) T_K, k_m3_s; unexpected column(s) T, k; "
                                 f"expected columns level,T_K,k_m3_s ({LAYOUT_HELP})"),
    ("T,k\n300,1e-20\n", f"columns T,k are not a layout kvt reads; {LAYOUT_HELP}; {VV_LAYOUT_HELP}"),
    ("level,T_K,k_m3_s\n1,300,1e-20\n2,abc,1e-20\n", "column T_K, line 3: 'abc' is not a number"),
    ("level,T_K,k_m3_s\n1,300,1e-20\n2,400,\n", "column k_m3_s, line 3: value is missing, NaN or infinite"),
    ("level,T_K,k_m3_s\n1,300,nan\n", "column k_m3_s, line 2: value is missing, NaN or infinite"),
    ("level,T_K,k_m3_s\n1,inf,1e-20\n", "column T_K, line 2: value is missing, NaN or infinite"),
    ("level,T_K,k_m3_s\n1,300,1e-20\n1,400,0\n", "column k_m3_s, line 3: 0 must be > 0 m^3/s"),
    ("level,T_K,k_m3_s\n1,-300,1e-20\n", "column T_K, line 2: -300 must be > 0 K"),
    ("level,T_K,k_m3_s\n1.5,300,1e-20\n", "column level, line 2: 1.5 must be an integer 1..35"),
    ("level,T_K,k_m3_s\n36,300,1e-20\n", "column level, line 2: 36 must be an integer 1..35" + UNNAMED_MOLECULE),
    ("level,T_K,k_m3_s\n1,300,1e-20\n2,300,1e-20\n1,300.0,2e-20\n",
     "columns level,T_K, line 4: duplicate of an earlier row (level 1, T 300 K)"),
])
def test_user_csv_errors_name_file_column_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(KvtError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}: {message}"


def test_missing_file_and_unknown_pair(tmp_path):
    with pytest.raises(KvtError, match="no such file"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(KvtError) as info:
        load_dataset("O2-Xe")
    assert str(info.value) == "unknown partner 'Xe' in pair 'O2-Xe'; partners: O2, N2, NO, O, N, Ar"
    assert load_dataset("O2-N2").pair == "O2-N2"  # a generated pair, bundled since the air species


@pytest.mark.parametrize("spec, expected", [
    ("32", [32]), ("1-5,10", [1, 2, 3, 4, 5, 10]), (" 3 , 1 ", [1, 3]), ("1-35", list(range(1, 36))),
])
def test_parse_levels(spec, expected):
    assert parse_levels(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("0", "level 0 is out of range; allowed levels are 1..35"),
    ("1-36", "level 36 in '1-36' is out of range; allowed levels are 1..35"),
    ("2.5", "level '2.5' in '2.5' is not an integer; use e.g. 32, 1-35 or 1,2,5"),
    ("x", "level 'x' in 'x' is not an integer; use e.g. 32, 1-35 or 1,2,5"),
    ("5-1", "malformed level range '5-1': start 5 is above end 1"),
    ("1-x", "malformed level range '1-x'; use e.g. 1-35"),
    ("1,,2", "malformed level list '1,,2'; use e.g. 32, 1-35 or 1,2,5"),
])
def test_parse_levels_errors(spec, message):
    with pytest.raises(KvtError) as info:
        parse_levels(spec)
    assert str(info.value) == message


def test_parse_temperatures():
    assert parse_temperatures("1000").tolist() == [1000.0]
    assert parse_temperatures("500,300,500").tolist() == [300.0, 500.0]
    assert parse_temperatures("250:1000:250,5000").tolist() == [250.0, 500.0, 750.0, 1000.0, 5000.0]
    dense = parse_temperatures("250:10000:10")
    assert len(dense) == 976 and dense[0] == 250 and dense[-1] == 10000


@pytest.mark.parametrize("spec, message", [
    ("0", "temperature 0 K in '0' is not allowed; temperatures must be > 0 K"),
    ("-5", "temperature -5 K in '-5' is not allowed; temperatures must be > 0 K"),
    ("abc", "temperature 'abc' is not a number"),
    ("0.25,10", "temperature 0.25 K in '0.25,10' is outside 50..100000 K, the temperatures of VT rate tables; "
                "temperatures are in kelvin (not kK or degrees C)"),
    ("1e6", "temperature 1e6 K in '1e6' is outside 50..100000 K, the temperatures of VT rate tables; "
            "temperatures are in kelvin (not kK or degrees C)"),
    ("1:2", "malformed temperature range '1:2'; use start:stop:step, e.g. 250:10000:10"),
    ("1000:500:1", "malformed temperature range '1000:500:1': start 1000 is above stop 500"),
    ("100:200:0", "step 0 in '100:200:0' must be a number > 0"),
    ("100:200:x", "step 'x' in '100:200:x' is not a number"),
])
def test_parse_temperatures_errors(spec, message):
    with pytest.raises(KvtError) as info:
        parse_temperatures(spec)
    assert str(info.value) == message
