"""Decisions of the container_runtime role, as Jinja filters (unit tested).

- ``container_runtime_want_toolkit(setting, gpu)``: install the NVIDIA Container Toolkit?
- ``container_runtime_daemon_config(...)``: the whole /etc/docker/daemon.json as a dict
- ``container_runtime_missing_debs(filenames, wanted)``: toolkit packages absent from a directory
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

TOOLKIT_DEBS = (
    "libnvidia-container1",
    "libnvidia-container-tools",
    "nvidia-container-toolkit-base",
    "nvidia-container-toolkit",
)


def want_toolkit(setting: Any, gpu: bool) -> bool:
    """``auto`` follows the GPU; true/false (or yes/no) decide regardless."""
    if isinstance(setting, bool):
        return setting
    text = str(setting).strip().lower()
    if text == "auto":
        return bool(gpu)
    if text in ("true", "yes"):
        return True
    if text in ("false", "no"):
        return False
    raise ValueError(f"container_runtime_nvidia_toolkit must be auto, true or false: {setting!r}")


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def daemon_config(
    log_max_size: str,
    log_max_file: int,
    live_restore: bool,
    data_root: str = "",
    toolkit: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """daemon.json: json-file logs with rotation, live-restore, optional data-root, the nvidia
    runtime and CDI when the toolkit is present; ``extra`` is merged over it (recursively)."""
    config: dict[str, Any] = {
        "log-driver": "json-file",
        "log-opts": {"max-size": str(log_max_size), "max-file": str(int(log_max_file))},
        "live-restore": bool(live_restore),
    }
    if data_root:
        config["data-root"] = data_root
    if toolkit:
        config["runtimes"] = {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}
        config["features"] = {"cdi": True}
    return _merge(config, extra or {})


def missing_debs(filenames: Iterable[str], wanted: Iterable[str] = TOOLKIT_DEBS) -> list[str]:
    """Packages of ``wanted`` with no ``<name>_<version>_<arch>.deb`` among ``filenames``."""
    present = {
        re.sub(r"_.*$", "", name.rsplit("/", 1)[-1]) for name in filenames if name.endswith(".deb")
    }
    return [name for name in wanted if name not in present]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "container_runtime_want_toolkit": want_toolkit,
            "container_runtime_daemon_config": daemon_config,
            "container_runtime_missing_debs": missing_debs,
        }
