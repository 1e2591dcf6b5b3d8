"""Outputs at known paths in the workspace (``@asset(path=...)``): a copy of the current value kept there."""
