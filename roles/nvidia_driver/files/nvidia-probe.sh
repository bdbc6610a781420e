#!/bin/sh
# Read-only probe of the NVIDIA state of a host for the nvidia_driver role: prints key=value
# lines (parsed by the onprem.mlops.nvidia_parse_probe filter) and one pci_device= line per PCI
# function. Changes nothing.
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
grep -q '^nouveau ' /proc/modules 2>/dev/null && echo nouveau_loaded=yes || echo nouveau_loaded=no
grep -q '^nvidia ' /proc/modules 2>/dev/null && echo nvidia_loaded=yes || echo nvidia_loaded=no
echo "loaded_version=$(cat /sys/module/nvidia/version 2>/dev/null || head -n1 /proc/driver/nvidia/version 2>/dev/null)"
echo "module_version=$( (modinfo -F version nvidia-current || modinfo -F version nvidia) 2>/dev/null | head -n1)"
lib=""
for f in /usr/lib/*-linux-gnu/libnvidia-ml.so.1 /usr/lib64/libnvidia-ml.so.1 /usr/lib/libnvidia-ml.so.1; do
  [ -e "$f" ] && lib=$(readlink -f "$f") && break
done
echo "userspace_version=${lib##*/}"
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "smi=$(timeout 30 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -n1)"
else
  echo "smi="
fi
[ -d /sys/firmware/efi ] && echo efi=yes || echo efi=no
echo "secure_boot_var=$(base64 -w0 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c 2>/dev/null)"
command -v update-initramfs >/dev/null 2>&1 && echo initramfs=yes || echo initramfs=no
for d in /sys/bus/pci/devices/*; do
  [ -r "$d/vendor" ] || continue
  echo "pci_device=${d##*/} $(cat "$d/vendor") $(cat "$d/class") $(cat "$d/device")"
done
exit 0
