"""How a manifest names what its value was built reading undeclared: a file or folder by its path, an
environment variable as ``env:NAME`` (:mod:`datamake.define.envwatch`). A module of its own, so that a
spawned child's watch names variables without importing the planner."""

ENV_READ = "env:"  # a recorded read of an environment variable: env:NAME
