"""Params, metrics and plots: what changed between runs and git revisions (DVC's params/metrics/plots)."""
