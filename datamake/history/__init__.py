"""The run and materialization history in SQLite, and lineage built from it.
"""
