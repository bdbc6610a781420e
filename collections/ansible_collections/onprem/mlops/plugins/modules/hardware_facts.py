#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.hardware_facts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hardware_facts
short_description: Assess a host's hardware and software for ML workloads
version_added: "0.1.0"
description:
  - Reads C(/proc), C(/sys), C(/etc) and, when the C(pynvml) module of nvidia-ml-py is
    importable, NVIDIA's NVML, and returns the assessment document (schema 1.0, see
    docs/assessment-schema.md) as the fact C(onprem_assessment).
  - Covers CPU (model, topology, AVX2/AVX-512/AMX), memory (size, ECC through EDAC, /dev/shm),
    disks (mounts, free space, SSD/NVMe/HDD), network (link speed, MTU, InfiniBand), the OS
    (distribution, kernel, Secure Boot, kernel headers, nouveau, IOMMU, virtualization,
    container, container runtimes), NVIDIA GPUs (memory, driver, CUDA, compute capability,
    PCIe generation and width, power, temperature, ECC, retired pages, remapped rows, throttle
    reasons, persistence, MIG) and NVIDIA GPUs on the PCI bus that NVML cannot see.
  - Every result comes with findings (id, severity, message, remedy). A missing or broken NVML
    gives a finding, never a failure.
  - The module changes nothing on the host, except the temporary file of the optional disk
    benchmark, which it deletes. It runs in check mode.
  - "Packaging: the implementation lives in this collection's C(plugins/module_utils/hwassess)
    package, which Ansible bundles with the module (Ansiballz), so the target needs only
    Python 3.10+ and its standard library. The project's Python package C(onprem_mlops.hwassess)
    is a symlink to the same directory: one implementation for the CLI and the module."
author:
  - onprem-mlops contributors
options:
  benchmarks:
    description:
      - Also run the micro-benchmarks (sequential disk write/read on O(data_path), memory copy
        bandwidth, CPU matmul with NumPy, GPU bf16/fp16 matmul, memory and host-to-device
        bandwidth with PyTorch). Those without their library are reported as skipped.
      - Takes up to a minute and loads the host; off by default.
    type: bool
    default: false
  data_path:
    description:
      - Where datasets and models will live. Its filesystem is assessed (free space, media)
        and the disk benchmark writes a temporary file there (or in its nearest existing
        parent).
    type: path
    default: /srv
  bench_disk_mib:
    description:
      - Size of the disk benchmark's file in MiB; the benchmark is skipped when less than
        twice this is free.
    type: int
    default: 1024
notes:
  - Reading the Secure Boot variable, C(/proc/1/environ) and EDAC counters may need root;
    use C(become).
  - Supports check mode.
requirements:
  - Python 3.10 or newer on the target.
  - Optional on the target, nvidia-ml-py (C(pynvml)) for GPU details; NumPy and PyTorch for
    the CPU and GPU benchmarks.
seealso:
  - name: Assessment document schema
    description: docs/assessment-schema.md in the onprem-mlops project.
    link: https://example.invalid/onprem-mlops/docs/assessment-schema.md
"""

EXAMPLES = r"""
- name: Assess the host
  onprem.mlops.hardware_facts:
  become: true

- name: Assess with micro-benchmarks on the data disk
  onprem.mlops.hardware_facts:
    benchmarks: true
    data_path: /data
  become: true

- name: Show the critical findings
  ansible.builtin.debug:
    msg: "{{ ansible_facts.onprem_assessment.findings | selectattr('severity', '==', 'critical') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    onprem_assessment:
      description: The assessment document; every field is described in
        docs/assessment-schema.md.
      returned: always
      type: dict
      contains:
        schema_version:
          description: Version of the document layout.
          type: str
          sample: "1.0"
        generated_at:
          description: UTC time of the assessment (ISO 8601).
          type: str
          sample: "2026-11-25T12:00:00+00:00"
        host:
          description: Host name as the host knows it.
          type: dict
        cpu:
          description: CPU model, sockets, physical cores, logical and usable CPUs, ML
            instruction sets.
          type: dict
        memory:
          description: Total and available memory, swap, cgroup limit, /dev/shm size, ECC.
          type: dict
        disks:
          description: Mounted filesystems, block devices and the data path's filesystem.
          type: dict
        network:
          description: Interfaces (speed, MTU, physical or virtual) and InfiniBand ports.
          type: dict
        os:
          description: Distribution, kernel, boot mode, Secure Boot, kernel headers, nouveau,
            NVIDIA module, IOMMU, virtualization, container and container runtimes.
          type: dict
        nvml:
          description: NVML status (ok, library_missing, init_failed, error), driver and CUDA
            driver version.
          type: dict
        gpus:
          description: One entry per GPU NVML reports.
          type: list
          elements: dict
        pci_nvidia_devices:
          description: NVIDIA display controllers on the PCI bus, with or without driver.
          type: list
          elements: dict
        benchmarks:
          description: Micro-benchmark results, only when O(benchmarks=true).
          type: dict
          returned: when benchmarks is true
        findings:
          description: Findings sorted by severity.
          type: list
          elements: dict
          sample:
            - id: gpu-pcie-width-degraded
              severity: warning
              message: GPU 0 (NVIDIA H100 PCIe, 0000:3b:00.0) runs at PCIe x8, expected x16
              remedy: Reseat the card or move it to a full x16 slot ...
        duration_s:
          description: Seconds the assessment took.
          type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.onprem.mlops.plugins.module_utils.hwassess import assess


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "benchmarks": {"type": "bool", "default": False},
            "data_path": {"type": "path", "default": "/srv"},
            "bench_disk_mib": {"type": "int", "default": 1024},
        },
        supports_check_mode=True,
    )
    if module.params["bench_disk_mib"] < 1:
        module.fail_json(
            msg=f"bench_disk_mib must be at least 1, got {module.params['bench_disk_mib']}"
        )
    document = assess(
        benchmarks=module.params["benchmarks"],
        data_path=module.params["data_path"],
        bench_disk_mib=module.params["bench_disk_mib"],
    )
    module.exit_json(changed=False, ansible_facts={"onprem_assessment": document})


if __name__ == "__main__":
    main()
