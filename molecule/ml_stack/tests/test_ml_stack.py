"""Testinfra checks of the ml_stack role, installed offline from the wheelhouse (CPU torch)."""

import json
import os
import re
import subprocess
from pathlib import Path

VENV = "/opt/onprem-mlops/venv"
PY = f"{VENV}/bin/python"
KEY = "cp311-x86_64-cpu"
WHEELHOUSE = f"/opt/onprem-mlops/wheelhouse/{KEY}"
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
LOCAL_WHEELHOUSE = PROJECT / ".cache" / "wheelhouse" / KEY


def test_venv_is_a_venv_owned_by_root(host):
    assert host.file(f"{VENV}/pyvenv.cfg").is_file
    assert host.file(VENV).user == "root"
    assert host.file(VENV).mode == 0o755
    assert (
        host.check_output(f"{PY} -c 'import sys; print(sys.prefix != sys.base_prefix)'") == "True"
    )


def test_torch_cpu_build_computes(host):
    out = host.check_output(
        f"{PY} -c 'import torch; x = torch.randn(2, 2) @ torch.randn(2, 2); "
        "print(torch.__version__, torch.version.cuda, tuple(x.shape), torch.cuda.is_available())'"
    )
    assert out == "2.13.0+cpu None (2, 2) False"


def test_stack_imports_with_pinned_versions(host):
    out = host.check_output(
        f"{PY} -c 'import numpy, scipy, pandas, sklearn, mlflow; "
        "print(numpy.__version__, scipy.__version__, pandas.__version__, sklearn.__version__, "
        "mlflow.__version__)'"
    )
    assert out.split() == ["2.2.6", "1.15.3", "2.3.3", "1.7.2", "3.17.2"]
    # A tiny real use of each: a fitted model logged nowhere, a DataFrame.
    host.check_output(
        f"{PY} -c 'import pandas as pd; from sklearn.linear_model import LinearRegression; "
        'df = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 3.0, 5.0]}); '
        'm = LinearRegression().fit(df[["x"]], df["y"]); assert abs(m.coef_[0] - 2) < 1e-9\''
    )


def test_dependencies_consistent(host):
    assert host.run(f"{VENV}/bin/pip check").rc == 0


def test_everything_installed_came_from_the_wheelhouse(host):
    lock = {
        line.strip().lower()
        for line in host.file(f"{WHEELHOUSE}/requirements.lock").content_string.splitlines()
        if line.strip() and not line.startswith("#")
    }
    frozen = host.check_output(f"{VENV}/bin/pip freeze --all").splitlines()
    normalised = {
        re.sub(r"[-_.]+", "-", x.split("==")[0]).lower() + "==" + x.split("==")[1]
        for x in frozen
        if "==" in x
    }
    extra = normalised - lock - {x for x in normalised if x.startswith("pip==")}
    assert not extra, f"installed but not in the wheelhouse lock: {sorted(extra)}"


def test_pip_in_the_venv_is_offline(host):
    config = host.check_output(f"{VENV}/bin/pip config list")
    assert "global.no-index='true'" in config
    assert f"global.find-links='{WHEELHOUSE}'" in config
    # A package that is not in the wheelhouse cannot be fetched: pip looks at no index.
    result = host.run(f"{VENV}/bin/pip download --no-deps -d /tmp/x six==1.16.0")
    assert result.rc != 0
    assert "No matching distribution found for six" in result.stderr
    assert "Looking in indexes" not in result.stdout + result.stderr
    assert "http" not in result.stdout + result.stderr


def test_wheelhouse_copied_and_intact(host):
    assert host.file(WHEELHOUSE).mode == 0o755
    assert host.run(f"cd {WHEELHOUSE} && sha256sum --check --quiet --strict SHA256SUMS").rc == 0
    local = (LOCAL_WHEELHOUSE / "SHA256SUMS").read_text()
    assert host.file(f"{WHEELHOUSE}/SHA256SUMS").content_string == local
    assert "torch-2.13.0+cpu-cp311-cp311-manylinux" in local


def test_local_wheelhouse_has_manifest_lock_and_requirements():
    names = {p.name for p in LOCAL_WHEELHOUSE.iterdir()}
    assert {"SHA256SUMS", "requirements.lock", "requirements.in"} <= names
    requirements = (LOCAL_WHEELHOUSE / "requirements.in").read_text()
    assert "torch==2.13.0+cpu" in requirements.splitlines()
    assert "# python 3.11, abi cp311, glibc 2.36\n" in requirements
    assert "mlflow-skinny==3.17.2" in (LOCAL_WHEELHOUSE / "requirements.lock").read_text()
    wheels = sorted(p.name for p in LOCAL_WHEELHOUSE.glob("*.whl"))
    assert len(wheels) == len((LOCAL_WHEELHOUSE / "SHA256SUMS").read_text().splitlines()) - 1


def test_post_install_check_script(host):
    out = host.check_output(f"{PY} {VENV}/bin/onprem-mlops-ml-check --import=sklearn")
    result = json.loads(out)
    assert result["torch_version"] == "2.13.0+cpu"
    assert result["cuda_available"] is False
    assert result["devices"] == []
    assert result["cpu_matmul_ok"] is True
    assert result["versions"]["sklearn"] == "1.7.2"
    assert result["import_errors"] == {}


def test_login_shell_knows_the_venv(host):
    snippet = host.file("/etc/profile.d/onprem-mlops-ml.sh")
    assert snippet.mode == 0o644
    assert host.run(f"sh -n {snippet.path}").rc == 0
    out = host.check_output(
        "bash -lc 'echo $ONPREM_MLOPS_VENV; alias ml-activate; command -v python3'"
    )
    lines = out.splitlines()
    assert lines[0] == VENV
    assert f". {VENV}/bin/activate" in lines[1]
    assert lines[2] == "/usr/bin/python3"  # not on PATH unless ml_stack_add_to_path


def test_rebuilding_the_wheelhouse_is_a_no_op():
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / "prepare.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", "PY_COLORS": "0"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    recaps = re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert recaps, result.stdout[-3000:]
    assert all(changed == "0" for _, changed in recaps), recaps
    assert "up to date" in result.stdout
