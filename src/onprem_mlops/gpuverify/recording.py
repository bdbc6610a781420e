"""Write a recorded machine as an assessment fixture, and check that it replays the same.

Layout (tests/fixtures/hwassess/README.md): ``root/`` with the files the probes read,
``nvml.json`` (what fake_nvml.py serves), ``disk_usage.json`` (statvfs per mountpoint) and
``scenario.json`` (data path, description, ``"recorded": true``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from onprem_mlops.gpuverify.recorder_fs import RecordingHostFS
from onprem_mlops.gpuverify.recorder_nvml import NvmlRecorder
from onprem_mlops.hwassess import collect

HOSTNAME_FILE = "/proc/sys/kernel/hostname"
REDACTED_HOSTNAME = "redacted"
ENVIRON_FILE = "/proc/1/environ"
REDACTIONS = {
    HOSTNAME_FILE: f"host name replaced by '{REDACTED_HOSTNAME}'",
    ENVIRON_FILE: "only container= kept (PID 1's environment may hold secrets)",
}
# The checkout's fake pynvml, used to replay a fresh recording (absent outside a checkout).
FAKE_NVML = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "hwassess" / "fake_nvml.py"
MAX_DIFFERENCES = 50


def redact(path: str, data: bytes) -> bytes:
    if path == HOSTNAME_FILE:
        return REDACTED_HOSTNAME.encode() + b"\n"
    if path == ENVIRON_FILE:
        kept = [item for item in data.split(b"\0") if item.startswith(b"container=")]
        return b"".join(item + b"\0" for item in kept)
    return data


def _target(root: Path, host_path: str) -> Path:
    return root / host_path.lstrip("/")


def write_tree(fs: RecordingHostFS, root: Path) -> list[str]:
    """Recreate under ``root`` what ``fs`` saw; returns notes on what could not be kept."""
    notes: list[str] = []
    dirs = sorted(path for path, kind in fs.present.items() if kind == "dir")
    for path in dirs:
        _target(root, path).mkdir(parents=True, exist_ok=True)
    for path, data in sorted(fs.files.items()):
        target = _target(root, path)
        if target.is_dir():
            notes.append(f"{path}: read as a file but seen as a directory; kept as a directory")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(redact(path, data))
    for path, link in sorted(fs.links.items()):
        target = _target(root, path)
        if target.exists() or target.is_symlink():
            notes.append(f"{path}: a symlink that was also read or listed; link left out")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(link)
    for path, kind in sorted(fs.present.items()):
        target = _target(root, path)
        if kind == "file" and not (target.exists() or target.is_symlink()):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")  # only its existence was checked: an empty stand-in
    for path in dirs:  # git keeps no empty directory
        target = _target(root, path)
        if not any(target.iterdir()):
            if fs.listed.get(path) == []:
                notes.append(f"{path}: an empty directory that was listed; .keep will show up")
            (target / ".keep").write_bytes(b"")
    return notes


def tree_size(root: Path) -> tuple[int, int]:
    """(entries, bytes) under ``root``: files and symlinks."""
    count = size = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            count += 1
            size += 0 if path.is_symlink() else path.stat().st_size
    return count, size


def write_recording(
    dest: Path,
    fs: RecordingHostFS,
    nvml: NvmlRecorder,
    *,
    data_path: str,
    machine: dict[str, Any],
    description: str,
    recorded_at: str,
) -> dict[str, Any]:
    """Write the scenario directory ``dest`` (new or empty) and describe what was written."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    notes = write_tree(fs, dest / "root")
    spec = nvml.spec()
    usage = {path: list(fs.usage[path]) for path in sorted(fs.usage)}
    scenario = {
        "description": description,
        "data_path": data_path,
        "recorded": True,
        "recorded_at": recorded_at,
        "recorded_with": "scripts/gpu-verify.sh --record",
        "machine": machine,
        "redacted": [f"{path}: {why}" for path, why in REDACTIONS.items() if path in fs.files],
    }
    for name, content in (("nvml.json", spec), ("disk_usage.json", usage)):
        (dest / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (dest / "scenario.json").write_text(json.dumps(scenario, indent=2) + "\n", encoding="utf-8")
    files, size = tree_size(dest / "root")
    return {
        "status": "ok",
        "path": str(dest),
        "root_files": files,
        "root_bytes": size,
        "nvml_devices": len(spec["devices"]),
        "nvml_functions_unmapped": nvml.unmapped(),
        "notes": notes,
        **fs.summary(),
    }


def differences(a: Any, b: Any, path: str = "", ignore: frozenset[str] = frozenset()) -> list[str]:
    """Dotted paths where two JSON documents differ (keys in ``ignore`` skipped at any depth)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            if key in ignore:
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                out += differences(a[key], b[key], sub, ignore)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            out += differences(a[i], b[i], sub, ignore) if i < len(a) and i < len(b) else [sub]
        return out
    return [] if a == b else [path]


def load_fake_nvml(path: Path = FAKE_NVML) -> Any:
    spec = importlib.util.spec_from_file_location("gpu_verify_fake_nvml", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay(dest: Path, original: dict[str, Any], fake_nvml: Path = FAKE_NVML) -> dict[str, Any]:
    """Assess the recording with the tests' fake NVML and compare with ``original``."""
    if not fake_nvml.is_file():
        return {"checked": False, "reason": f"{fake_nvml} not found (not run from a checkout)"}
    doc = collect.assess(**load_fake_nvml(fake_nvml).scenario(dest))
    diffs = differences(original, doc, ignore=frozenset({"generated_at", "duration_s"}))
    gpu_diffs = [d for d in diffs if d.startswith(("gpus", "nvml"))]
    return {
        "checked": True,
        "gpus_equal": not gpu_diffs,
        "identical": not diffs,
        "differences": diffs[:MAX_DIFFERENCES],
        "differences_count": len(diffs),
    }
