"""The no-op shortcut: ``datamake make`` answers "up to date" from a certificate, without loading the project.

- :mod:`~datamake.shortcut.check`: the certificate's key and its check (standard library and xxhash
  only: the launcher imports it before anything else of datamake);
- :mod:`~datamake.shortcut.purity`: whether a project module's top level is pure (pure, like ``core``);
- :mod:`~datamake.shortcut.record`: after a ``make`` whose scope is fresh at its end, write the certificate;
- :mod:`~datamake.shortcut.replan`: after a ``make`` that built, whether its scope is now fresh (planned again).
"""
