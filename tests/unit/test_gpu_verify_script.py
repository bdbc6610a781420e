"""scripts/gpu-verify.sh itself, on this machine (no GPU): usage, clear failures, offline wheels."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-verify.sh"


def run(*argv, python=sys.executable, timeout=180, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GPU_VERIFY_")}
    environ.update(PYTHON=str(python), **env)
    environ.pop("PYTHONPATH", None)
    return subprocess.run(
        ["bash", str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        cwd="/",
        check=False,
    )


def test_help_describes_the_options_without_starting_python():
    started = time.monotonic()
    result = run("--help", python="/nonexistent/python3")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert result.stdout.startswith("Usage: scripts/gpu-verify.sh [--wheels DIR] [--record DIR]")
    for text in ("GPU_VERIFY_WHEELS", "--system-site-packages", "--sections", "Exit status"):
        assert text in result.stdout, text
    assert result.stderr == ""


def test_script_is_strict_bash():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(SCRIPT, os.X_OK)


def test_without_cuda_it_stops_with_a_clear_message_and_exit_3():
    started = time.monotonic()
    result = run()
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 120
    assert "gpu-verify: error: no CUDA device" in result.stderr
    doc = json.loads(result.stdout)  # still one JSON document
    assert doc["errors"][0].startswith("preflight: no CUDA device")
    assert doc["sections"]["smoke"] == "error" and doc["sections"]["benchmarks"] == "error"
    assert doc["sections"]["assessment"] in {"ok", "failed"}  # NVML: no driver here
    assert doc["assessment"]["document"]["host"]["hostname"] == "redacted"
    assert doc["machine"]["torch"].startswith("2.")


def test_without_pytorch_it_says_so(tmp_path):
    no_site = tmp_path / "python3"
    no_site.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')  # no site-packages: no torch
    no_site.chmod(0o755)
    result = run(python=no_site)
    assert result.returncode == 3
    assert "gpu-verify: error: PyTorch is not importable" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["sections"] == {} and "No module named 'torch'" in doc["errors"][0]


def test_without_python_it_says_so():
    result = run(python="/nonexistent/python3")
    assert result.returncode == 3
    assert "/nonexistent/python3 not found" in result.stderr
    assert json.loads(result.stdout)["errors"] == [
        "/nonexistent/python3 not found: install Python 3.10+ (or set PYTHON)"
    ]


def test_usage_errors_exit_2():
    assert run("--wheels").returncode == 2
    bad = run("--sections", "gpu")
    assert bad.returncode == 2 and "unknown gpu" in bad.stderr and bad.stdout == ""


def _wheel(folder, name, version, module, source):
    """A minimal pure-Python wheel (what pip install --no-index --find-links accepts)."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {
        f"{module}.py": source.encode(),
        f"{dist}.dist-info/METADATA": metadata.encode(),
        f"{dist}.dist-info/WHEEL": wheel.encode(),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name_in_zip, data in files.items():
            zf.writestr(name_in_zip, data)
    return path


def test_missing_pynvml_comes_from_the_wheel_folder_into_a_throwaway_venv(tmp_path):
    """An interpreter (a venv, like /opt/onprem-mlops/venv) with torch but without pynvml."""
    site = tmp_path / "site"
    site.mkdir()
    venv_site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for entry in venv_site.iterdir():
        if not entry.name.startswith(("pynvml", "nvidia_ml_py")):
            (site / entry.name).symlink_to(entry)
    host = tmp_path / "host-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(host)], check=True)
    host_python = host / "bin" / "python"
    purelib = subprocess.run(
        [host_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "torch-here.pth").write_text(f"{site}\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "nvidia-ml-py", "0.0.1", "pynvml", "raise OSError('fake NVML from the wheel')\n")

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run(
        "--sections",
        "assessment",
        python=host_python,
        GPU_VERIFY_WHEELS=str(wheels),
        TMPDIR=str(scratch),
    )
    assert result.returncode == 3, result.stderr  # no CUDA here
    assert "installing nvidia-ml-py from" in result.stderr
    nvml = json.loads(result.stdout)["assessment"]["document"]["nvml"]
    # The wheel's pynvml was imported (and raised), torch came from the host venv.
    assert nvml["status"] == "library_missing"
    assert "fake NVML from the wheel" in nvml["error"]
    assert list(scratch.iterdir()) == []  # the throw-away venv is gone
    assert not (Path(purelib) / "pynvml.py").exists()  # nothing installed into the host venv
