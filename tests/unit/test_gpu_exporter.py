"""The GPU collector service (hwassess/gpu_exporter.py): --once with the fake pynvml on
PYTHONPATH as a target runs it, the atomic write, the loop until SIGTERM, one NVML session."""

import copy
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onprem_mlops.hwassess import gpu_exporter

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
FAKE_PYNVML = ROOT / "tests" / "fixtures" / "fake_pynvml"  # pynvml.py serving fake_nvml.py
MODULE_UTILS = ROOT / "collections" / "ansible_collections" / "onprem" / "mlops" / "plugins"
MODULE_UTILS = MODULE_UTILS / "module_utils"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import FakeNVML, loader  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_gpu_metrics import parse, series, value  # noqa: E402

KMSG_79 = (
    "4,1893,86400123456,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=2731, GPU has fallen off the bus.\n"
)


def spec_of(name):
    return json.loads((FIXTURES / name / "nvml.json").read_text())


def env_for(spec_path, *pythonpath):
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "ONPREM_FAKE_NVML_SPEC"}}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (FAKE_PYNVML, *pythonpath))
    if spec_path is not None:
        env["ONPREM_FAKE_NVML_SPEC"] = str(spec_path)
    return env


def exporter(module, env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


def test_once_as_on_a_target_with_the_fake_pynvml(tmp_path):
    """python3 -m hwassess.gpu_exporter, hwassess's parent on PYTHONPATH, as the service runs."""
    out = tmp_path / "textfile"
    out.mkdir()
    prom = out / "onprem_gpu.prom"
    prom.write_text("stale\n")
    stale_inode = prom.stat().st_ino
    kmsg = tmp_path / "kmsg"
    kmsg.write_text(KMSG_79)
    env = env_for(FIXTURES / "healthy-h100" / "nvml.json", MODULE_UTILS)
    result = exporter("hwassess.gpu_exporter", env, "--once", "--textfile", prom,
                      "--root", FIXTURES / "healthy-h100" / "root", "--kmsg", kmsg)  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = prom.read_text()
    assert value(text, "onprem_gpu_nvml_up") == 1 and value(text, "onprem_gpu_nvml_devices") == 1
    assert value(text, "onprem_gpu_xid_errors_total", gpu="0", xid="79") == 1
    assert value(text, "onprem_gpu_power_draw_watts", gpu="0") == 47.0
    assert 0 < value(text, "onprem_gpu_collect_duration_seconds") < 10
    # Replaced by rename (a new inode), 0644, and no temporary file left beside it.
    assert prom.stat().st_ino != stale_inode
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert sorted(p.name for p in out.iterdir()) == ["onprem_gpu.prom"]
    # The first state is logged once; a normal round adds nothing else.
    assert "NVML: ok" in result.stderr and "kernel log: ok" in result.stderr
    assert "GPUs: 1 on the PCI bus, 1 in NVML" in result.stderr


def test_once_through_the_python_package_on_a_host_without_gpu(tmp_path):
    prom = tmp_path / "onprem_gpu.prom"
    prom.write_text("onprem_gpu_pci_devices 1\n")
    env = env_for(FIXTURES / "no-gpu" / "nvml.json", ROOT / "src")
    args = ["--once", "--textfile", prom, "--root", FIXTURES / "no-gpu" / "root"]
    result = exporter("onprem_mlops.hwassess.gpu_exporter", env, *args, "--kmsg", tmp_path / "none")
    assert result.returncode == 0, result.stderr
    assert prom.read_text() == ""  # emptied: nothing GPU-related on this host
    assert "NVML: init_failed (NVML Shared Library Not Found)" in result.stderr
    assert (
        f"kernel log: cannot open {tmp_path / 'none'}: No such file or directory" in result.stderr
    )


def test_fake_pynvml_without_its_spec_is_a_missing_library(tmp_path):
    prom = tmp_path / "onprem_gpu.prom"
    env = env_for(None, MODULE_UTILS)
    args = ["--once", "--textfile", prom, "--root", FIXTURES / "healthy-h100" / "root"]
    result = exporter("hwassess.gpu_exporter", env, *args, "--kmsg", tmp_path / "none")
    assert result.returncode == 0, result.stderr
    text = prom.read_text()
    assert value(text, "onprem_gpu_pci_devices") == 1
    assert value(text, "onprem_gpu_nvml_devices") == 0 and value(text, "onprem_gpu_nvml_up") == 0
    assert "ONPREM_FAKE_NVML_SPEC is not set" in result.stderr


def test_fake_pynvml_copied_beside_fake_nvml(tmp_path):
    """The container layout: pynvml.py, fake_nvml.py and an nvml.json in one directory."""
    for source in (FAKE_PYNVML / "pynvml.py", FIXTURES / "fake_nvml.py"):
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / "nvml.json").write_text((FIXTURES / "ecc-errors" / "nvml.json").read_text())
    code = "import pynvml; pynvml.nvmlInit(); print(pynvml.__file__, pynvml.nvmlDeviceGetCount())"
    env = env_for(tmp_path / "nvml.json")
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "pynvml.py"), "1"]


def test_main_in_process_and_a_write_failure(tmp_path, capsys):
    prom = tmp_path / "onprem_gpu.prom"
    args = ["--once", "--root", str(FIXTURES / "ecc-errors" / "root"), "--kmsg", str(tmp_path)]
    code = gpu_exporter.main(
        [*args, "--textfile", str(prom)], nvml_loader=loader(spec_of("ecc-errors"))
    )
    assert code == 0
    text = prom.read_text()
    assert (
        value(text, "onprem_gpu_ecc_errors_total", gpu="0", type="uncorrected", counter="volatile")
        == 2
    )
    assert value(text, "onprem_gpu_xid_source_up") == 0  # a directory is no kernel log
    missing = tmp_path / "no-such-dir" / "onprem_gpu.prom"
    code = gpu_exporter.main(
        [*args, "--textfile", str(missing)], nvml_loader=loader(spec_of("ecc-errors"))
    )
    assert code == 1
    assert f"writing: cannot write {missing}" in capsys.readouterr().err


def test_write_textfile_leaves_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    prom = tmp_path / "onprem_gpu.prom"
    prom.write_text("old\n")

    def fail(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        gpu_exporter.write_textfile(str(prom), "new\n")
    assert prom.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["onprem_gpu.prom"]


def test_interval_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_exporter.parse_args(["--textfile", "x.prom", "--interval", "0"])
    assert exit_info.value.code == 2
    assert "must be more than 0" in capsys.readouterr().err
    args = gpu_exporter.parse_args(["--textfile", "x.prom"])
    assert (args.interval, args.once, args.root, args.kmsg) == (15.0, False, "/", "/dev/kmsg")


def test_one_nvml_session_across_rounds_and_a_new_one_after_a_failure(tmp_path):
    fake = FakeNVML(copy.deepcopy(spec_of("healthy-h100")))
    collector = gpu_exporter.Collector(
        str(FIXTURES / "healthy-h100" / "root"), str(tmp_path / "none"), lambda: fake
    )
    for _ in range(3):
        assert value(collector.collect(), "onprem_gpu_nvml_up") == 1
    assert fake.calls.count("nvmlInit") == 1 and "nvmlShutdown" not in fake.calls

    fake.fail["nvmlDeviceGetCount"] = 15  # e.g. the driver lost the GPUs
    assert value(collector.collect(), "onprem_gpu_nvml_up") == 0
    assert fake.calls[-1] == "nvmlShutdown"
    del fake.fail["nvmlDeviceGetCount"]
    assert value(collector.collect(), "onprem_gpu_nvml_up") == 1
    assert fake.calls.count("nvmlInit") == 2
    collector.close()
    assert fake.calls[-1] == "nvmlShutdown"


def test_library_installed_later_is_picked_up():
    attempts = []
    fake = FakeNVML(copy.deepcopy(spec_of("healthy-h100")))

    def load():
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("No module named 'pynvml'")
        return fake

    collector = gpu_exporter.Collector(
        str(FIXTURES / "healthy-h100" / "root"), "/nonexistent", load
    )
    assert value(collector.collect(), "onprem_gpu_nvml_up") == 0
    assert value(collector.collect(), "onprem_gpu_nvml_up") == 1
    assert value(collector.collect(), "onprem_gpu_nvml_up") == 1
    assert len(attempts) == 2  # loaded once it worked


def test_xid_of_a_lost_gpu_keeps_its_index_label(tmp_path):
    """Xid 79 then the NVML handle fails: the series gpu="0",xid="79" goes from 0 to 1, so
    increase() sees it (a new series starting at 1 would not count)."""
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    fake = FakeNVML(copy.deepcopy(spec_of("healthy-h100")))
    collector = gpu_exporter.Collector(
        str(FIXTURES / "healthy-h100" / "root"), str(kmsg), lambda: fake
    )
    assert value(collector.collect(), "onprem_gpu_xid_errors_total", gpu="0", xid="79") == 0
    kmsg.write_text(KMSG_79)
    fake.devices[0]["fail"] = {"nvmlDeviceGetHandleByIndex": 15}
    text = collector.collect()
    xids = {k: v for k, v in series(text).items() if k[0] == "onprem_gpu_xid_errors_total"}
    assert xids == {("onprem_gpu_xid_errors_total", frozenset({("gpu", "0"), ("xid", "79")})): 1}
    assert value(text, "onprem_gpu_nvml_devices") == 0 < value(text, "onprem_gpu_pci_devices")


def test_loop_logs_state_changes_once_and_stops_on_sigterm(tmp_path):
    spec_path = tmp_path / "nvml.json"
    spec_path.write_text(json.dumps(spec_of("healthy-h100")))
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    prom = tmp_path / "onprem_gpu.prom"
    env = env_for(spec_path, MODULE_UTILS)
    command = [sys.executable, "-m", "hwassess.gpu_exporter", "--interval", "0.1",
               "--textfile", str(prom), "--root", str(FIXTURES / "healthy-h100" / "root"),
               "--kmsg", str(kmsg)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:

        def wait_for(check):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = prom.read_text() if prom.exists() else ""
                if text and check(text):
                    return text
                time.sleep(0.05)
            pytest.fail(
                f"the text file never got there: {prom.read_text() if prom.exists() else None}"
            )

        wait_for(lambda text: value(text, "onprem_gpu_nvml_up") == 1)
        kmsg.write_text(KMSG_79)
        spec = spec_of("healthy-h100")
        spec["devices"][0]["fail"] = {"nvmlDeviceGetTemperature": 15}
        partial = tmp_path / "nvml.json.new"
        partial.write_text(json.dumps(spec))
        partial.replace(spec_path)  # the fake pynvml reads a changed spec again
        text = wait_for(lambda text: value(text, "onprem_gpu_collector_errors") == 1)
        assert value(text, "onprem_gpu_xid_errors_total", gpu="0", xid="79") == 1
        time.sleep(0.5)  # a few more rounds in the same state
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    process.stderr.close()
    lines = stderr.splitlines()
    assert lines[-1] == "onprem-gpu-exporter: stopping on SIGTERM"
    assert lines.count("onprem-gpu-exporter: NVML: ok") == 1
    changed = [line for line in lines if "NVML query errors: none -> " in line]
    assert changed == [
        "onprem-gpu-exporter: NVML query errors: none -> "
        "gpu 0: nvmlDeviceGetTemperature: GPU is lost"
    ]
    assert len(lines) < 10, stderr  # not one line per round
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert parse(prom.read_text())
