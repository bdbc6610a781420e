"""Record what the real pynvml answers during an assessment, as a scenario's nvml.json.

:class:`NvmlRecorder` wraps the module that ``gpu_nvml.probe`` loads: every ``nvml*`` call
goes through to the library and its answer (or error code) is kept. :meth:`spec` turns the
answers into the format tests/fixtures/hwassess/fake_nvml.py serves: a value where NVML gave
one, null where it said NOT_SUPPORTED, ``fail`` entries (function -> code) for other errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onprem_mlops.hwassess.gpu_nvml import NOT_SUPPORTED

UNKNOWN_ERROR = 999  # NVML_ERROR_UNKNOWN, for failures that carry no NVML code
# Functions the probe may call under another name than the fake offers.
FAKE_NAMES = {
    "nvmlDeviceGetCurrentClocksThrottleReasons": "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlSystemGetCudaDriverVersion": "nvmlSystemGetCudaDriverVersion_v2",
}
# Device functions whose single answer becomes one key of the device entry.
SIMPLE_KEYS = {
    "nvmlDeviceGetName": "name",
    "nvmlDeviceGetUUID": "uuid",
    "nvmlDeviceGetCudaComputeCapability": "compute_capability",
    "nvmlDeviceGetPowerManagementLimit": "power_limit",
    "nvmlDeviceGetPowerManagementDefaultLimit": "power_default_limit",
    "nvmlDeviceGetEnforcedPowerLimit": "power_enforced_limit",
    "nvmlDeviceGetTemperature": "temperature",
    "nvmlDeviceGetPowerUsage": "power_usage",
    "nvmlDeviceGetEccMode": "ecc_mode",
    "nvmlDeviceGetRetiredPagesPendingStatus": "retired_pages_pending",
    "nvmlDeviceGetRemappedRows": "remapped_rows",
    "nvmlDeviceGetCurrentClocksEventReasons": "clocks_event_reasons",
    "nvmlDeviceGetPersistenceMode": "persistence_mode",
    "nvmlDeviceGetMigMode": "mig_mode",
}
PCIE_KEYS = {
    "nvmlDeviceGetCurrPcieLinkGeneration": "curr_gen",
    "nvmlDeviceGetMaxPcieLinkGeneration": "max_gen",
    "nvmlDeviceGetCurrPcieLinkWidth": "curr_width",
    "nvmlDeviceGetMaxPcieLinkWidth": "max_width",
}
SCOPES = ("volatile", "aggregate")  # NVML_VOLATILE_ECC = 0, NVML_AGGREGATE_ECC = 1
KINDS = ("corrected", "uncorrected")  # NVML_MEMORY_ERROR_TYPE_CORRECTED = 0, UNCORRECTED = 1
PAGE_CAUSES = ("single_bit", "double_bit")  # NVML_PAGE_RETIREMENT_CAUSE_*
CLOCKS = ("graphics", "sm", "memory")  # NVML_CLOCK_GRAPHICS = 0, _SM = 1, _MEM = 2


def plain(value: Any) -> Any:
    """pynvml's answers as JSON values (bytes decoded, ctypes numbers unwrapped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "value"):
        return plain(value.value)
    return str(value)


@dataclass
class Call:
    name: str
    device: int | None  # index of the handle passed, None for system calls
    args: tuple[Any, ...]  # the arguments after the handle
    result: Any = None
    error: int | None = None  # NVML error code
    message: str | None = None


class _Proxy:
    """Module-like: constants pass through, ``nvml*`` functions are recorded."""

    def __init__(self, module: Any, recorder: NvmlRecorder) -> None:
        self._module = module
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if not (name.startswith("nvml") and callable(value)):
            return value
        recorder = self._recorder

        def call(*args: Any) -> Any:
            try:
                result = value(*args)
            except Exception as exc:
                recorder.record(name, args, error=exc)
                raise
            recorder.record(name, args, result=result)
            return result

        return call


class NvmlRecorder:
    def __init__(self) -> None:
        self.import_error: str | None = None
        self.calls: list[Call] = []
        self._handles: dict[int, int] = {}  # id(handle) -> index
        self._keep: list[Any] = []  # the handles, so that their ids stay unique

    def loader(self, load: Callable[[], Any]) -> Callable[[], Any]:
        """An ``nvml_loader`` for ``assess`` that records ``load``'s module."""

        def wrapped() -> Any:
            try:
                module = load()
            except Exception as exc:
                self.import_error = str(exc)
                raise
            return _Proxy(module, self)

        return wrapped

    def record(
        self, name: str, args: tuple[Any, ...], result: Any = None, error: Any = None
    ) -> None:
        device = None
        rest = args
        if name == "nvmlDeviceGetHandleByIndex":
            device = int(args[0])
            rest = ()
            if error is None:
                self._handles[id(result)] = device
                self._keep.append(result)
        elif name.startswith("nvmlDevice") and args and id(args[0]) in self._handles:
            device, rest = self._handles[id(args[0])], args[1:]
        call = Call(name, device, tuple(plain(a) for a in rest))
        if error is None:
            call.result = result
        else:
            code = getattr(error, "value", None)
            call.error = code if isinstance(code, int) else UNKNOWN_ERROR
            call.message = str(error)
        self.calls.append(call)

    def spec(self) -> dict[str, Any]:
        """The recorded answers in nvml.json's format (see the module docstring)."""
        spec: dict[str, Any] = {
            "import_error": self.import_error,
            "init_error": None,
            "driver_version": None,
            "cuda_driver_version": None,
            "devices": [],
        }
        fail: dict[str, int] = {}
        messages: dict[str, str] = {}
        devices: dict[int, dict[str, Any]] = {}
        for call in self.calls:
            fake_name = FAKE_NAMES.get(call.name, call.name)
            if call.error is not None and call.error != NOT_SUPPORTED:
                messages[str(call.error)] = call.message or ""
            if call.name == "nvmlInit":
                spec["init_error"] = call.error
            elif call.name == "nvmlShutdown":
                continue
            elif call.device is None:
                if call.error is not None and call.error != NOT_SUPPORTED:
                    fail[fake_name] = call.error
                elif call.name == "nvmlDeviceGetCount" and call.error is None:
                    for index in range(int(plain(call.result))):
                        devices.setdefault(index, {})
                else:
                    _system(spec, call)
            else:
                _device(devices.setdefault(call.device, {}), call, fake_name)
        for entry in devices.values():
            for key in ("ecc_errors", "retired_pages", "clocks"):
                if key in entry and not _any_value(entry[key]):
                    entry[key] = None  # nothing supported: null, as in the hand-written trees
        spec["devices"] = [devices[i] for i in sorted(devices)]
        if fail:
            spec["fail"] = fail
        if messages:
            spec["error_messages"] = messages
        return spec

    def unmapped(self) -> list[str]:
        """Functions that were called but have no place in nvml.json (the fake lacks them)."""
        known = {"nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex"}
        known |= set(SIMPLE_KEYS) | set(PCIE_KEYS) | set(FAKE_NAMES) | set(_SYSTEM)
        known |= {
            "nvmlDeviceGetPciInfo",
            "nvmlDeviceGetMemoryInfo",
            "nvmlDeviceGetTotalEccErrors",
            "nvmlDeviceGetRetiredPages",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetClockInfo",
        }
        return sorted({c.name for c in self.calls} - known)


_SYSTEM = {
    "nvmlSystemGetDriverVersion": "driver_version",
    "nvmlSystemGetCudaDriverVersion_v2": "cuda_driver_version",
    "nvmlSystemGetCudaDriverVersion": "cuda_driver_version",
}


def _any_value(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_any_value(v) for v in value.values())
    return value is not None


def _system(spec: dict[str, Any], call: Call) -> None:
    key = _SYSTEM.get(call.name)
    if key is not None:
        spec[key] = None if call.error is not None else plain(call.result)


def _device(entry: dict[str, Any], call: Call, fake_name: str) -> None:
    if call.error is not None and call.error != NOT_SUPPORTED:
        entry.setdefault("fail", {})[fake_name] = call.error
        return
    value = call.result if call.error is None else None
    name = FAKE_NAMES.get(call.name, call.name)
    if name in SIMPLE_KEYS:
        entry[SIMPLE_KEYS[name]] = plain(value)
    elif name in PCIE_KEYS:
        entry.setdefault("pcie", {})[PCIE_KEYS[name]] = plain(value)
    elif name == "nvmlDeviceGetPciInfo":
        entry["bus_id"] = None if value is None else plain(value.busId)
    elif name == "nvmlDeviceGetMemoryInfo":
        entry["memory_total"] = None if value is None else plain(value.total)
        entry["memory_used"] = None if value is None else plain(value.used)
    elif name == "nvmlDeviceGetTotalEccErrors" and len(call.args) == 2:
        error_type, counter = call.args
        errors = entry.setdefault("ecc_errors", {s: {k: None for k in KINDS} for s in SCOPES})
        errors[SCOPES[counter]][KINDS[error_type]] = plain(value)
    elif name == "nvmlDeviceGetUtilizationRates":
        entry["utilization"] = (
            None if value is None else {"gpu": plain(value.gpu), "memory": plain(value.memory)}
        )
    elif name == "nvmlDeviceGetClockInfo" and len(call.args) == 1 and call.args[0] in (0, 1, 2):
        clocks = entry.setdefault("clocks", {c: None for c in CLOCKS})
        clocks[CLOCKS[call.args[0]]] = plain(value)
    elif name == "nvmlDeviceGetRetiredPages" and len(call.args) == 1:
        pages = entry.setdefault("retired_pages", {c: None for c in PAGE_CAUSES})
        pages[PAGE_CAUSES[call.args[0]]] = plain(value)
