"""Where values live: IO managers, the content-addressed store on fsspec, observed sources,
the remote cache, garbage collection and the store lock.
"""
