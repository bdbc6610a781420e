"""onprem-mlops: tooling for a 30-day on-premises MLOps rollout."""

__version__ = "0.1.0"
