"""How a manifest names what its value was built reading undeclared: a file or folder by its path, an
environment variable as ``env:NAME`` (:mod:`datamake.define.envwatch`). A module of its own, so that
what reads the name (the planner, the read versions, the certificate) need not import each other."""

ENV_READ = "env:"  # a recorded read of an environment variable: env:NAME
