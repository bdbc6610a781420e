"""``onprem-mlops pipeline validate-data`` and ``profile-data``: contract, cells, drift, CLI."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import yaml

from onprem_mlops.cli import main
from onprem_mlops.pipeline import drift
from onprem_mlops.pipeline.schema import ContractError, parse_contract
from onprem_mlops.pipeline.table import DataError, read_csv
from onprem_mlops.pipeline.validate import build_profile, load_reference, validate

CONTRACT = {
    "dataset": "sensors",
    "min_rows": 100,
    "max_missing_fraction": 0.05,
    "drift": {"bins": 10, "warn": 0.1, "fail": 0.25},
    "columns": [
        {"name": "machine_id", "type": "str"},
        {"name": "vibration", "type": "float", "min": 0},
        {"name": "temperature", "type": "float"},
        {"name": "cycles", "type": "int", "min": 0},
        {"name": "failed", "type": "int", "allowed": [0, 1]},
    ],
}
HEADER = ["machine_id", "vibration", "temperature", "cycles", "failed"]


def rows(n: int = 400, seed: int = 1, temp_shift: float = 0.0) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        [
            f"m{i % 40:03d}",
            f"{abs(rng.gauss(1.0, 0.3)):.4f}",
            f"{rng.gauss(60.0 + temp_shift, 5.0):.3f}",
            str(rng.randint(0, 5000)),
            str(int(rng.random() < 0.1)),
        ]
        for i in range(n)
    ]


def write(path: Path, data: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(data)
    return path


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "contract.yml"
    path.write_text(yaml.safe_dump(CONTRACT))
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write(tmp_path / "reference.csv", rows(seed=1))


def check(tmp_path: Path, data: list[list[str]], header: list[str] = HEADER, ref: bool = True):
    contract = parse_contract(CONTRACT, "contract.yml")
    profile = build_profile(contract, read_csv(write(tmp_path / "ref.csv", rows(seed=1))))
    table = read_csv(write(tmp_path / "drop.csv", data, header))
    return validate(contract, table, profile if ref else None)


def test_a_drop_like_the_reference_passes(tmp_path):
    report = check(tmp_path, rows(seed=2))
    assert report["ok"], report["problems"]
    assert report["rows"] == 400
    assert report["problems"] == [] and report["reason"] == ""
    assert all(c["psi"] < 0.1 for n, c in report["columns"].items() if "psi" in c)
    assert set(report["columns"]) == set(HEADER)
    assert "psi" not in report["columns"]["machine_id"]  # text: no drift
    assert "psi" not in report["columns"]["failed"]  # allowed values: a label, no drift


def test_a_missing_column_is_named(tmp_path):
    data = [row[:2] + row[3:] for row in rows()]
    header = [h for h in HEADER if h != "temperature"]
    report = check(tmp_path, data, header)
    assert not report["ok"]
    assert report["reason"] == "column(s) missing from the data: temperature"


def test_wrong_types_are_counted_and_the_first_line_named(tmp_path):
    data = rows()
    data[4][3] = "many"
    data[9][3] = "12.5"
    report = check(tmp_path, data)
    assert report["problems"] == ["column cycles: 2 value(s) are not int (first at line 6: 'many')"]
    assert report["columns"]["cycles"]["invalid"] == 2


def test_an_all_null_feature_is_refused_by_name(tmp_path):
    data = rows()
    for row in data:
        row[2] = "NA" if len(data) % 2 else ""
    report = check(tmp_path, data)
    assert report["reason"] == "column temperature has no values (all 400 missing)"


def test_more_missing_values_than_allowed(tmp_path):
    data = rows()
    for row in data[:40]:
        row[1] = "null"
    report = check(tmp_path, data)
    assert report["problems"] == ["column vibration: 10.0% missing, allowed 5.0%"]
    data = rows()
    for row in data[:20]:
        row[1] = ""
    assert check(tmp_path, data)["ok"]  # 5.0 % is allowed


def test_limits_and_allowed_values(tmp_path):
    data = rows()
    data[0][1] = "-0.5"
    data[3][4] = "2"
    report = check(tmp_path, data)
    assert report["problems"] == [
        "column vibration: 1 value(s) below min 0 (first at line 2: '-0.5')",
        "column failed: 1 value(s) not in [0, 1] (first at line 5: '2')",
    ]


def test_too_few_rows(tmp_path):
    report = check(tmp_path, rows(n=50))
    assert report["reason"] == "50 row(s), the contract asks for at least 100"


def test_a_shifted_feature_is_refused_as_drift(tmp_path):
    report = check(tmp_path, rows(seed=3, temp_shift=8.0))
    assert not report["ok"]
    assert len(report["problems"]) == 1
    assert report["problems"][0].startswith("column temperature drifted from the reference: PSI ")
    assert report["columns"]["temperature"]["psi"] > 0.25
    assert report["columns"]["vibration"]["psi"] < 0.1


def test_a_small_shift_is_a_warning_only(tmp_path):
    report = check(tmp_path, rows(seed=3, temp_shift=1.8))
    assert report["ok"], report["problems"]
    assert 0.1 < report["columns"]["temperature"]["psi"] <= 0.25
    assert report["warnings"][0].startswith("column temperature shifted: PSI ")


def test_without_a_reference_drift_is_not_checked(tmp_path):
    report = check(tmp_path, rows(seed=3, temp_shift=8.0), ref=False)
    assert report["ok"]
    assert "psi" not in report["columns"]["temperature"]


def test_extra_columns_are_a_warning(tmp_path):
    data = [[*row, "x"] for row in rows()]
    report = check(tmp_path, data, [*HEADER, "comment"])
    assert report["ok"]
    assert report["warnings"] == ["column(s) not in the contract, ignored: comment"]


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift():
    assert drift.psi([0.25] * 4, [0.25] * 4) == 0
    small = drift.psi([0.25] * 4, [0.3, 0.2, 0.25, 0.25])
    large = drift.psi([0.25] * 4, [0.7, 0.1, 0.1, 0.1])
    assert 0 < small < large
    assert drift.psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]) > 1  # an empty bin counts, finitely


def test_quantile_edges_do_not_repeat_for_constant_data():
    assert drift.quantile_edges([3.0] * 50, 10) == [3.0]
    assert drift.shares([3.0] * 50, [3.0]) == [0.0, 1.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": ""}, "contract.yml: dataset must be a non-empty string"),
        ({"min_rows": 0}, "contract.yml: min_rows must be a whole number >= 1, not 0"),
        ({"columns": []}, "contract.yml: columns must be a non-empty list"),
        ({"drift": {"warn": 0.3, "fail": 0.2}}, "drift.warn 0.3 is above drift.fail 0.2"),
        ({"drift": {"bins": 1}}, "drift.bins must be a whole number 2-100, not 1"),
        ({"max_missing_fraction": 2}, "max_missing_fraction must be at least 0 and at most 1"),
        ({"owner": "me"}, "contract.yml: unknown key(s) owner"),
        (
            {"columns": [{"name": "a", "type": "decimal"}]},
            "columns[0] (a).type must be one of float, int, str, bool, not 'decimal'",
        ),
        (
            {"columns": [{"name": "a", "type": "str", "min": 1}]},
            "columns[0] (a).min is only for float and int columns",
        ),
        (
            {"columns": [{"name": "a", "type": "float", "min": 2, "max": 1}]},
            "columns[0] (a): min 2 is above max 1",
        ),
        (
            {"columns": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]},
            "column(s) listed twice: a",
        ),
        ({"columns": [{"type": "int"}]}, "columns[0].name must be a non-empty string"),
    ],
)
def test_a_bad_contract_is_refused_naming_the_field(change, message):
    with pytest.raises(ContractError) as err:
        parse_contract({**CONTRACT, **change}, "contract.yml")
    assert message in str(err.value)


def test_a_ragged_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "drop.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match=r"drop.csv: line 3 has 1 fields, the header has 2"):
        read_csv(path)


def test_a_profile_of_another_dataset_is_refused(tmp_path):
    contract = parse_contract(CONTRACT, "c.yml")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "onprem-mlops/data-profile/1", "dataset": "sales"}))
    with pytest.raises(
        DataError, match="profile of dataset 'sales', the contract is for 'sensors'"
    ):
        load_reference(path, contract)


def test_cli_profile_then_validate(tmp_path, contract_file, reference, capsys):
    profile = tmp_path / "out" / "profile.json"
    argv = ["pipeline", "profile-data", "--contract", str(contract_file), "--data", str(reference)]
    assert main([*argv, "--out", str(profile)]) == 0
    assert capsys.readouterr().out == f"profile-data: 400 rows, 3 column(s) profiled -> {profile}\n"
    saved = json.loads(profile.read_text())
    assert saved["rows"] == 400 and set(saved["columns"]) == {"vibration", "temperature", "cycles"}

    good = write(tmp_path / "week2.csv", rows(seed=5))
    summary = tmp_path / "out" / "validate.json"
    argv = ["pipeline", "validate-data", "--contract", str(contract_file), "--data", str(good)]
    assert main([*argv, "--reference", str(profile), "--summary", str(summary)]) == 0
    assert capsys.readouterr().out.startswith("validate-data: ok, 400 rows, 5 column(s), max PSI")
    assert json.loads(summary.read_text())["ok"] is True

    shifted = write(tmp_path / "week3.csv", rows(seed=6, temp_shift=10.0))
    argv = ["pipeline", "validate-data", "--contract", str(contract_file), "--data", str(shifted)]
    assert main([*argv, "--reference", str(profile), "--summary", str(summary)]) == 1
    err = capsys.readouterr().err
    assert "validate-data: refused: column temperature drifted from the reference" in err
    report = json.loads(summary.read_text())
    assert report["ok"] is False and report["data"] == str(shifted)


def test_cli_bad_input_is_exit_2_naming_the_file(tmp_path, contract_file, capsys):
    missing = tmp_path / "nope.csv"
    argv = ["pipeline", "validate-data", "--contract", str(contract_file), "--data", str(missing)]
    assert main(argv) == 2
    assert f"{missing}: cannot read the data" in capsys.readouterr().err
    bad = tmp_path / "bad.yml"
    bad.write_text("dataset: [\n")
    argv = ["pipeline", "validate-data", "--contract", str(bad), "--data", str(missing)]
    assert main(argv) == 2
    assert f"{bad}: not valid YAML" in capsys.readouterr().err


def test_a_summary_is_written_through_links_and_pipes_never_replacing_them(tmp_path):
    import os
    import threading

    from onprem_mlops.commands.pipeline import _write_json

    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    _write_json(link, {"step": "x"})
    assert link.is_symlink() and json.loads(target.read_text()) == {"step": "x"}

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    _write_json(fifo, {"step": "y"})
    reader.join(10)
    assert fifo.is_fifo() and json.loads(received[0]) == {"step": "y"}
