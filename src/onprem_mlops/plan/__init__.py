"""Capacity plan (days 4-7): compare host assessments with workload profiles."""
