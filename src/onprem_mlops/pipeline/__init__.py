"""The model pipeline's steps (``onprem-mlops pipeline ...``), CI-agnostic and usable alone.

Each step reads its inputs from files, exits non-zero with a one-line reason when it refuses,
and writes a machine-readable JSON summary for the next step.
"""
