"""Disks: mounted filesystems (size, free) and the block devices behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._fs import HostFS

# Filesystems that hold no data of their own.
PSEUDO_FS = frozenset(
    (
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "tmpfs",
        "ramfs",
        "cgroup",
        "cgroup2",
        "securityfs",
        "pstore",
        "bpf",
        "debugfs",
        "tracefs",
        "mqueue",
        "hugetlbfs",
        "fusectl",
        "configfs",
        "autofs",
        "binfmt_misc",
        "nsfs",
        "rpc_pipefs",
        "efivarfs",
        "squashfs",
        "selinuxfs",
        "fuse.lxcfs",
        "fuse.gvfsd-fuse",
        "fuse.portal",
        "nfsd",
    )
)
SKIP_BLOCK_PREFIXES = ("loop", "ram", "zram", "sr", "fd", "nbd")
# Mounts that container engines make for their containers' root filesystems.
ENGINE_PREFIXES = (
    "/var/lib/docker/",
    "/var/lib/containers/",
    "/run/containerd/",
    "/var/lib/kubelet/",
    "/run/docker/",
    "/snap/",
)


def _unescape(path: str) -> str:
    """/proc/mounts escapes blanks as octal (\\040)."""
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def _parent_disk(fs: HostFS, name: str) -> str | None:
    """Whole disk holding a partition or device-mapper volume (first slave), or None."""
    if fs.is_dir(f"/sys/block/{name}"):
        slaves = fs.listdir(f"/sys/block/{name}/slaves")
        return _parent_disk(fs, slaves[0]) if slaves else name
    for disk in fs.listdir("/sys/block"):
        if fs.is_dir(f"/sys/block/{disk}/{name}"):
            return disk
    return None


def _media(fs: HostFS, disk: str | None) -> str:
    if disk is None:
        return "unknown"
    if disk.startswith("nvme"):
        return "nvme"
    rotational = fs.read_int(f"/sys/block/{disk}/queue/rotational")
    if rotational is None:
        return "unknown"
    return "hdd" if rotational else "ssd"


def block_devices(fs: HostFS) -> list[dict[str, Any]]:
    devices = []
    for name in fs.listdir("/sys/block"):
        if name.startswith(SKIP_BLOCK_PREFIXES) or name.startswith("dm-"):
            continue
        sectors = fs.read_int(f"/sys/block/{name}/size")
        devices.append(
            {
                "name": name,
                "size_bytes": sectors * 512 if sectors is not None else None,
                "media": _media(fs, name),
                "model": fs.read_line(f"/sys/block/{name}/device/model"),
                "removable": fs.read_int(f"/sys/block/{name}/removable") == 1,
            }
        )
    return devices


def mounts(fs: HostFS) -> list[dict[str, Any]]:
    result = []
    seen: set[str] = set()
    for line in (fs.read("/proc/mounts") or "").splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] in PSEUDO_FS:
            continue
        source, target, fstype = _unescape(fields[0]), _unescape(fields[1]), fields[2]
        # Files bind-mounted by container engines (/etc/hosts, ...) are not filesystems to plan on.
        if target in seen or target.startswith(ENGINE_PREFIXES):
            continue
        if fs.live and not Path(target).is_dir():
            continue
        seen.add(target)
        try:
            total, available = fs.disk_usage(target)
        except (OSError, KeyError):
            total = available = None
        device = None
        if source.startswith("/dev/"):
            real = Path(source).resolve() if fs.live else Path(source)
            device = _parent_disk(fs, real.name)
        result.append(
            {
                "mountpoint": target,
                "source": source,
                "fstype": fstype,
                "read_only": "ro" in fields[3].split(","),
                "size_bytes": total,
                "available_bytes": available,
                "disk": device,
                "media": _media(fs, device),
            }
        )
    return result


def mount_of(path: str, mount_list: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The mount holding ``path``: the longest mountpoint that is a prefix of it."""
    best = None
    for mount in mount_list:
        point = mount["mountpoint"].rstrip("/") + "/"
        if (path.rstrip("/") + "/").startswith(point) and (
            best is None or len(point) > len(best["mountpoint"].rstrip("/") + "/")
        ):
            best = mount
    return best


def probe(fs: HostFS, data_path: str) -> dict[str, Any]:
    mount_list = mounts(fs)
    data_mount = mount_of(data_path, mount_list)
    return {
        "mounts": mount_list,
        "block_devices": block_devices(fs),
        "data_path": {
            "path": data_path,
            "exists": fs.is_dir(data_path),
            "mountpoint": data_mount["mountpoint"] if data_mount else None,
            "available_bytes": data_mount["available_bytes"] if data_mount else None,
            "size_bytes": data_mount["size_bytes"] if data_mount else None,
            "media": data_mount["media"] if data_mount else "unknown",
        },
    }
