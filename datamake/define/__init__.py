"""Describing assets and versioning their code: ``@asset``, sources, checks, outputs, the loader
of user code and the code-version fingerprints.
"""
