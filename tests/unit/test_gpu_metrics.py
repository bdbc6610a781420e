"""The GPU collector's Prometheus text (hwassess/gpu_metrics.py) on the fixture hosts: exactly
the series of the metric contract in docs/operations.md, parsed strictly, checked by promtool."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onprem_mlops.hwassess import gpu_metrics, gpu_nvml, pci
from onprem_mlops.hwassess._fs import HostFS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import loader  # noqa: E402

THROTTLE = list(gpu_nvml.THROTTLE_BITS.values())
HOST_FAMILIES = {
    "onprem_gpu_pci_devices",
    "onprem_gpu_nvml_devices",
    "onprem_gpu_nvml_up",
    "onprem_gpu_xid_source_up",
    "onprem_gpu_collector_errors",
}

# --- a strict parser of the text format (prometheus_client is not a dependency) -------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)')


def _unescape(value):
    return re.sub(r"\\([\\\"n])", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse(text):
    """{family: {"type", "help", "samples": {((label, value), ...): float}}}; raises on anything
    the format does not allow: samples before their HELP and TYPE, a family split or repeated,
    a duplicate series, a bad name, label or value."""
    assert text.endswith("\n"), "the last line must end with a newline"
    families = {}
    current = None
    lines = text[:-1].split("\n")
    for number, line in enumerate(lines, 1):
        where = f"line {number}: {line!r}"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in families, where
            families[name] = {"help": help_text, "type": None, "samples": {}}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current and families[name]["type"] is None, where
            assert kind in {"gauge", "counter"}, where
            families[name]["type"] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, where
            name, labels_text, value = match.groups()
            assert name == current and families[name]["type"], where
            labels = []
            rest = labels_text or ""
            while rest:
                label = _LABEL.match(rest)
                assert label, where
                labels.append((label.group(1), _unescape(label.group(2))))
                rest = rest[label.end() :]
            assert len({k for k, _ in labels}) == len(labels), where
            key = tuple(labels)
            assert key not in families[name]["samples"], f"duplicate series, {where}"
            families[name]["samples"][key] = float(value)
    for name, family in families.items():
        assert family["samples"], f"{name}: HELP and TYPE without samples"
    return families


def series(text):
    """{(name, frozenset(labels)): value} of every sample."""
    return {
        (name, frozenset(labels)): value
        for name, family in parse(text).items()
        for labels, value in family["samples"].items()
    }


def value(text, name, **labels):
    return series(text)[(name, frozenset(labels.items()))]


# --- rendering the fixture hosts --------------------------------------------------------------


def spec_of(name):
    return json.loads((FIXTURES / name / "nvml.json").read_text())


def probe(name, spec=None, tree=None):
    status, gpus = gpu_nvml.probe(loader(spec if spec is not None else spec_of(name)))
    devices = pci.probe(HostFS(FIXTURES / (tree or name) / "root"))
    return devices, status, gpus


def render(name, spec=None, tree=None, xids=None, xid_ok=True, **kwargs):
    devices, status, gpus = probe(name, spec, tree)
    return gpu_metrics.render(devices, status, gpus, xids or {}, xid_ok, **kwargs)


def g0(**labels):
    return frozenset({"gpu": "0", **labels}.items())


def healthy_series(temperature=34, power=47.0, throttled=("gpu_idle",), gen=5, width=16):
    expected = {
        ("onprem_gpu_pci_devices", frozenset()): 1,
        ("onprem_gpu_nvml_devices", frozenset()): 1,
        ("onprem_gpu_nvml_up", frozenset()): 1,
        ("onprem_gpu_xid_source_up", frozenset()): 1,
        ("onprem_gpu_collector_errors", frozenset()): 0,
        (
            "onprem_gpu_info",
            g0(
                name="NVIDIA H100 PCIe",
                uuid="GPU-4f2a9c1e-0b7d-4c55-9e1f-3a6d2b8c7e10",
                pci_bus_id="0000:3b:00.0",
            ),
        ): 1,
        ("onprem_gpu_utilization_ratio", g0()): 0,
        ("onprem_gpu_memory_utilization_ratio", g0()): 0,
        ("onprem_gpu_memory_used_bytes", g0()): 555745280,
        ("onprem_gpu_memory_total_bytes", g0()): 85520809984,
        ("onprem_gpu_temperature_celsius", g0()): temperature,
        ("onprem_gpu_power_draw_watts", g0()): power,
        ("onprem_gpu_power_limit_watts", g0()): 350,
        ("onprem_gpu_clock_mhz", g0(clock="graphics")): 345,
        ("onprem_gpu_clock_mhz", g0(clock="sm")): 345,
        ("onprem_gpu_clock_mhz", g0(clock="memory")): 1593,
        ("onprem_gpu_xid_errors_total", g0(xid="79")): 0,
        ("onprem_gpu_pcie_link_generation", g0(state="current")): gen,
        ("onprem_gpu_pcie_link_generation", g0(state="max")): 5,
        ("onprem_gpu_pcie_link_width", g0(state="current")): width,
        ("onprem_gpu_pcie_link_width", g0(state="max")): 16,
    }
    for counter in ("volatile", "aggregate"):
        for kind in ("corrected", "uncorrected"):
            expected[("onprem_gpu_ecc_errors_total", g0(type=kind, counter=counter))] = 0
    for state in ("corrected", "uncorrected", "pending", "failure"):
        expected[("onprem_gpu_remapped_rows", g0(state=state))] = 0
    for reason in THROTTLE:
        expected[("onprem_gpu_throttle_active", g0(reason=reason))] = int(reason in throttled)
    return expected


def test_healthy_h100_gives_exactly_the_expected_series():
    text = render("healthy-h100")
    assert series(text) == healthy_series()
    families = parse(text)
    # Every family but retired pages (Hopper remaps rows instead: NotSupported, no series).
    assert set(families) == {name for name, _, _ in gpu_metrics.FAMILIES} - {
        "onprem_gpu_retired_pages"
    }
    assert families["onprem_gpu_xid_errors_total"]["type"] == "counter"
    assert families["onprem_gpu_ecc_errors_total"]["type"] == "counter"
    assert families["onprem_gpu_utilization_ratio"]["type"] == "gauge"
    assert all(family["help"] for family in families.values())


def test_ecc_errors_host():
    text = render("ecc-errors")
    expected = healthy_series(
        temperature=88, power=83.0, throttled=("gpu_idle", "hw_thermal_slowdown")
    )
    expected.update(
        {
            ("onprem_gpu_ecc_errors_total", g0(type="corrected", counter="volatile")): 3,
            ("onprem_gpu_ecc_errors_total", g0(type="uncorrected", counter="volatile")): 2,
            ("onprem_gpu_ecc_errors_total", g0(type="corrected", counter="aggregate")): 15,
            ("onprem_gpu_ecc_errors_total", g0(type="uncorrected", counter="aggregate")): 2,
            ("onprem_gpu_remapped_rows", g0(state="corrected")): 3,
            ("onprem_gpu_remapped_rows", g0(state="uncorrected")): 2,
            ("onprem_gpu_remapped_rows", g0(state="pending")): 1,
        }
    )
    assert series(text) == expected
    assert (
        value(text, "onprem_gpu_ecc_errors_total", gpu="0", type="uncorrected", counter="volatile")
        > 0
    )


def test_pcie_x8_degraded_host():
    text = render("pcie-x8-degraded")
    assert series(text) == healthy_series(power=46.0, gen=1, width=8)
    current = value(text, "onprem_gpu_pcie_link_width", gpu="0", state="current")
    assert current == 8 < value(text, "onprem_gpu_pcie_link_width", gpu="0", state="max") == 16


def test_host_without_nvidia_gpu_renders_nothing():
    assert render("no-gpu") == ""  # NVML library not found, nothing on the PCI bus
    driver_not_loaded = dict(spec_of("no-gpu"), init_error=9)
    assert render("no-gpu", spec=driver_not_loaded) == ""
    assert render("no-gpu", spec={"import_error": "No module named 'pynvml'"}) == ""


def test_gpus_on_pci_without_nvml_show_the_difference():
    text = render("gpu-no-driver", xids={("0000:86:00.0", 79): 1})
    assert series(text) == {
        ("onprem_gpu_pci_devices", frozenset()): 2,  # nouveau-bound H100, one without driver
        ("onprem_gpu_nvml_devices", frozenset()): 0,
        ("onprem_gpu_nvml_up", frozenset()): 0,
        ("onprem_gpu_xid_source_up", frozenset()): 1,
        ("onprem_gpu_collector_errors", frozenset()): 0,
        # No NVML index: the Xids carry the bus id.
        ("onprem_gpu_xid_errors_total", frozenset({("gpu", "0000:3b:00.0"), ("xid", "79")})): 0,
        ("onprem_gpu_xid_errors_total", frozenset({("gpu", "0000:86:00.0"), ("xid", "79")})): 1,
    }


@pytest.mark.parametrize(
    "failure",
    [{"import_error": "No module named 'pynvml'"}, {"init_error": 9}, {"init_error": 18}],
)
def test_nvml_failing_on_a_gpu_host(failure):
    text = render("healthy-h100", spec=dict(spec_of("healthy-h100"), **failure), xid_ok=False)
    assert series(text) == {
        ("onprem_gpu_pci_devices", frozenset()): 1,
        ("onprem_gpu_nvml_devices", frozenset()): 0,
        ("onprem_gpu_nvml_up", frozenset()): 0,
        ("onprem_gpu_xid_source_up", frozenset()): 0,
        ("onprem_gpu_collector_errors", frozenset()): 0,
    }


def test_nvml_error_after_init_counts_as_a_collector_error():
    spec = dict(spec_of("healthy-h100"), fail={"nvmlDeviceGetCount": 15})
    text = render("healthy-h100", spec=spec)
    assert value(text, "onprem_gpu_nvml_up") == 0 and value(text, "onprem_gpu_nvml_devices") == 0
    assert value(text, "onprem_gpu_collector_errors") == 1


def test_unsupported_or_failed_values_give_no_series_never_zero():
    spec = copy.deepcopy(spec_of("healthy-h100"))
    spec["devices"][0].update(
        temperature=None,
        utilization=None,
        power_usage=None,
        clocks={"graphics": 1755, "sm": 1755, "memory": None},
        ecc_errors=None,
        remapped_rows=None,
        clocks_event_reasons=None,
        power_enforced_limit=None,
        power_limit=None,
        memory_total=None,
        fail={"nvmlDeviceGetCurrPcieLinkWidth": 15},
    )
    text = render("healthy-h100", spec=spec)
    names = set(parse(text))
    for gone in (
        "onprem_gpu_temperature_celsius",
        "onprem_gpu_utilization_ratio",
        "onprem_gpu_memory_utilization_ratio",
        "onprem_gpu_power_draw_watts",
        "onprem_gpu_power_limit_watts",
        "onprem_gpu_ecc_errors_total",
        "onprem_gpu_remapped_rows",
        "onprem_gpu_throttle_active",
        "onprem_gpu_memory_total_bytes",
        "onprem_gpu_memory_used_bytes",
    ):
        assert gone not in names, gone
    got = series(text)
    assert [k for k in got if k[0] == "onprem_gpu_clock_mhz"] == [
        ("onprem_gpu_clock_mhz", g0(clock="graphics")),
        ("onprem_gpu_clock_mhz", g0(clock="sm")),
    ]
    # NVML failed on the current width: the same device's width in sysfs stands in.
    assert got[("onprem_gpu_pcie_link_width", g0(state="current"))] == 16
    assert got[("onprem_gpu_collector_errors", frozenset())] == 1


def test_none_values_in_the_probe_data_give_no_series():
    gpu = {
        "index": 0,
        "name": None,
        "uuid": None,
        "pci_bus_id": None,
        "memory_total_bytes": None,
        "memory_used_bytes": None,
        "pcie": {"current_generation": None, "max_generation": 4, "current_width": None},
        "power": {"limit_w": None, "default_limit_w": None, "enforced_limit_w": None},
        "temperature_c": None,
        "utilization": {"gpu_ratio": None, "memory_ratio": 0.25},
        "power_draw_w": None,
        "clocks_mhz": None,
        "ecc": {"supported": False, "volatile": {"corrected": None, "uncorrected": None}},
        "retired_pages": {"single_bit": 3, "double_bit": None, "pending": None},
        "remapped_rows": None,
        "throttle_reasons": None,
        "errors": [],
    }
    text = gpu_metrics.render([], {"status": "ok"}, [gpu], {}, False)
    per_gpu = {k: v for k, v in series(text).items() if k[0] not in HOST_FAMILIES}
    assert per_gpu == {
        ("onprem_gpu_info", g0(name="", uuid="", pci_bus_id="")): 1,
        ("onprem_gpu_memory_utilization_ratio", g0()): 0.25,
        ("onprem_gpu_retired_pages", g0(cause="single_bit")): 3,
        ("onprem_gpu_pcie_link_generation", g0(state="max")): 4,
    }


def test_a_gpu_whose_handle_failed_is_not_counted_as_seen():
    devices, status, gpus = probe("healthy-h100")
    lost = [{"index": 0, "name": None, "errors": ["GPU is lost"]}]
    text = gpu_metrics.render(devices, status, lost, {("0000:3b:00.0", 79): 1}, True)
    got = series(text)
    assert got[("onprem_gpu_pci_devices", frozenset())] == 1
    assert got[("onprem_gpu_nvml_devices", frozenset())] == 0  # so GpuFellOffTheBus fires
    assert got[("onprem_gpu_collector_errors", frozenset())] == 1
    assert not [k for k in got if k[0] == "onprem_gpu_info"]
    # Without the bus id from NVML, the Xid goes to the bus id ...
    assert (
        got[("onprem_gpu_xid_errors_total", frozenset({("gpu", "0000:3b:00.0"), ("xid", "79")}))]
        == 1
    )
    # ... unless an earlier round saw which index that bus had: then the series stays the same.
    known = gpu_metrics.bus_indexes(gpus)
    assert known == {"0000:3b:00.0": 0}
    text = gpu_metrics.render(
        devices, status, lost, {("0000:3b:00.0", 79): 1}, True, known_buses=known
    )
    xids = {k: v for k, v in series(text).items() if k[0] == "onprem_gpu_xid_errors_total"}
    assert xids == {("onprem_gpu_xid_errors_total", g0(xid="79")): 1}


def test_bus_indexes_drop_a_stale_index_another_bus_holds_now():
    gpus = [{"index": 0, "pci_bus_id": "0000:86:00.0"}, {"index": 1, "name": None, "errors": []}]
    known = {"0000:3b:00.0": 0, "0000:af:00.0": 1}
    assert gpu_metrics.bus_indexes(gpus, known) == {"0000:86:00.0": 0, "0000:af:00.0": 1}


def test_xids_map_to_the_nvml_index_and_unknown_buses_keep_their_id():
    xids = {("0000:3b:00.0", 13): 2, ("0000:3b:00.0", 79): 1, ("0000:d8:00.0", 48): 1}
    got = series(render("healthy-h100", xids=xids))
    assert {k: v for k, v in got.items() if k[0] == "onprem_gpu_xid_errors_total"} == {
        ("onprem_gpu_xid_errors_total", g0(xid="13")): 2,
        ("onprem_gpu_xid_errors_total", g0(xid="79")): 1,
        ("onprem_gpu_xid_errors_total", frozenset({("gpu", "0000:d8:00.0"), ("xid", "48")})): 1,
    }
    # The kernel log could not be read: no Xid series (not a 0 that claims there were none).
    text = render("healthy-h100", xid_ok=False)
    assert value(text, "onprem_gpu_xid_source_up") == 0
    assert "onprem_gpu_xid_errors_total" not in parse(text)


def test_live_readings_as_ratios_and_watts():
    spec = copy.deepcopy(spec_of("healthy-h100"))
    spec["devices"][0].update(
        utilization={"gpu": 87, "memory": 41},
        power_usage=312456,
        clocks={"graphics": 1755, "sm": 1755, "memory": 1593},
        clocks_event_reasons=0x4,
    )
    _, gpus = gpu_nvml.probe(loader(spec))
    assert gpus[0]["utilization"] == {"gpu_ratio": 0.87, "memory_ratio": 0.41}
    assert gpus[0]["power_draw_w"] == 312.5
    assert gpus[0]["clocks_mhz"] == {"graphics": 1755, "sm": 1755, "memory": 1593}
    text = render("healthy-h100", spec=spec)
    assert value(text, "onprem_gpu_utilization_ratio", gpu="0") == 0.87
    assert value(text, "onprem_gpu_memory_utilization_ratio", gpu="0") == 0.41
    assert value(text, "onprem_gpu_power_draw_watts", gpu="0") == 312.5
    assert value(text, "onprem_gpu_clock_mhz", gpu="0", clock="sm") == 1755
    assert value(text, "onprem_gpu_throttle_active", gpu="0", reason="sw_power_cap") == 1
    assert value(text, "onprem_gpu_throttle_active", gpu="0", reason="gpu_idle") == 0


def test_label_values_are_escaped():
    spec = copy.deepcopy(spec_of("healthy-h100"))
    spec["devices"][0]["name"] = 'H100 "lab"\\slot 3\nspare'
    text = render("healthy-h100", spec=spec)
    assert r'name="H100 \"lab\"\\slot 3\nspare"' in text
    (info,) = parse(text)["onprem_gpu_info"]["samples"]
    assert dict(info)["name"] == 'H100 "lab"\\slot 3\nspare'


def test_duration_family():
    text = gpu_metrics.render_duration(0.0123456789)
    assert parse(text)["onprem_gpu_collect_duration_seconds"]["samples"] == {(): 0.012346}


# --- the contract -------------------------------------------------------------------------


def test_docs_list_exactly_the_metrics_written():
    text = (ROOT / "docs" / "operations.md").read_text()
    table = text.split("## Where the metrics come from", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(onprem_gpu_[a-z_]+)`", table))
    written = {name for name, _, _ in gpu_metrics.FAMILIES} | {gpu_metrics.DURATION[0]}
    assert documented == written


def test_every_gpu_metric_of_the_alert_rules_is_written():
    rules = sorted(ROOT.glob("roles/*/files/onprem-mlops.rules.yml")) or sorted(
        ROOT.glob("playbooks/files/prometheus/onprem-mlops.rules.yml")
    )
    if not rules:
        pytest.skip("the alert rules file is not in this checkout")
    used = set(re.findall(r"\bonprem_gpu_[a-z_]+", rules[0].read_text()))
    assert used, rules[0]
    assert used <= {name for name, _, _ in gpu_metrics.FAMILIES}


def promtool():
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    unpacked = ROOT / ".cache" / "promtool" / "usr" / "bin" / "promtool"
    return found or (str(unpacked) if unpacked.exists() else None)


@pytest.mark.parametrize("name", ["healthy-h100", "ecc-errors", "gpu-no-driver"])
def test_promtool_accepts_the_metrics(name):
    tool = promtool()
    if tool is None:
        pytest.skip("promtool is missing: run `make promtool` (scripts/ensure-promtool.sh)")
    text = render(name, xids={("0000:3b:00.0", 13): 1}) + gpu_metrics.render_duration(0.01)
    result = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
