"""A loaded project: ``datamake.toml`` settings, asset config, pins and the wiring that gathers
the planner's facts.
"""
