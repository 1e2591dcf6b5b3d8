"""The pure core: keys, hashing, manifests, the asset and node graphs, partitions and the planner.

Nothing here does IO; only the standard library and xxhash are imported.
"""
