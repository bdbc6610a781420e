"""GPU verification of one machine (scripts/gpu-verify.sh): assessment, GPU micro-benchmarks,
the smoke training on CUDA, the exporter check and, on request, a recording of the machine
for the assessment's test fixtures.

Standard library only at import time; PyTorch and pynvml are imported when a section needs
them. ``python -m onprem_mlops.gpuverify --help`` lists the options; the shell wrapper adds
the offline wheel folder and the overall time limit.
"""

from __future__ import annotations

FORMAT_VERSION = 1
