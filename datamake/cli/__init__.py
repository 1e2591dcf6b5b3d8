"""The ``datamake`` command: parses arguments, calls :mod:`datamake.api`, renders text or JSON.
"""
