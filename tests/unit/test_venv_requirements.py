"""onprem.mlops.venv_requirements: which pins a venv does not satisfy, without starting pip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ansible_collections.onprem.mlops.plugins.modules import venv_requirements as vr


def test_parse_accepts_pins_with_extras_and_local_labels_only():
    pins, refused = vr.parse(
        ["mlflow[auth]==3.17.2", "torch==2.13.0+cpu", "Scikit_Learn==1.7.2", "numpy>=2", "pandas"]
    )
    assert pins == [
        ("mlflow[auth]==3.17.2", "mlflow", "3.17.2"),
        ("torch==2.13.0+cpu", "torch", "2.13.0+cpu"),
        ("Scikit_Learn==1.7.2", "scikit-learn", "1.7.2"),
    ]
    assert refused == ["numpy>=2", "pandas"]


def test_unmet_lists_missing_and_other_versions():
    pins, _ = vr.parse(["a==1.0", "b==2.0", "c==3.0+cpu"])
    installed = {"a": "1.0", "b": "2.1", "c": None}
    assert vr.unmet(pins, installed) == ["b==2.0", "c==3.0+cpu"]
    assert vr.unmet(pins, {"a": "1.0", "b": "2.0", "c": "3.0+CPU"}) == []


def test_the_query_reads_a_real_environment():
    """The snippet the module runs with the venv's Python, here with this one."""
    pytest_version = __import__("pytest").__version__
    out = subprocess.run(
        [sys.executable, "-c", vr.QUERY, json.dumps(["pytest", "no-such-dist-xyz"])],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = json.loads(out)
    assert data["installed"] == {"pytest": pytest_version, "no-such-dist-xyz": None}
    pins, _ = vr.parse([f"pytest=={pytest_version}", "no-such-dist-xyz==1.0"])
    assert vr.unmet(pins, data["installed"]) == ["no-such-dist-xyz==1.0"]


def test_the_module_reports_a_missing_venv(tmp_path: Path):
    args = {"ANSIBLE_MODULE_ARGS": {"venv": str(tmp_path / "nope"), "requirements": ["x==1"]}}
    module = Path(vr.__file__)
    result = subprocess.run(
        [sys.executable, str(module)], input=json.dumps(args), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["exists"] is False
    assert data["unmet"] == ["x==1"]
    assert data["changed"] is False
