"""Run tags: a JSON object recorded with every run in the event log.

A run's tags are the ones its caller passes (``datamake run`` passes the job's
own ``tags=`` and ``{"job": NAME}``) and everything in the environment
variable ``DATAMAKE_RUN_TAGS`` (a JSON object; launchers such as the daemon or
the web UI set it to mark the runs they start: ``{"origin": "schedule", ...}``);
where both name a tag, the environment's wins.

Example::

    DATAMAKE_RUN_TAGS='{"origin": "ci", "build": "1234"}' datamake make
    datamake log --json     # each run has "tags": {"build": "1234", "origin": "ci"}
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional

from datamake.core.errors import ConfigError

ENV_VAR = "DATAMAKE_RUN_TAGS"


def environment_tags(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The tags in ``DATAMAKE_RUN_TAGS`` (none when it is unset or empty)."""
    text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not text:
        return {}
    try:
        tags = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{ENV_VAR} is not valid JSON ({exc}): {text!r}",
                          hint=f"""set it to a JSON object, e.g. {ENV_VAR}='{{"origin": "ci"}}', or unset it""") from None
    if not isinstance(tags, dict):
        raise ConfigError(f"{ENV_VAR} must be a JSON object, not {type(tags).__name__}: {text!r}",
                          hint=f"""set it to a JSON object, e.g. {ENV_VAR}='{{"origin": "ci"}}'""")
    return tags


def run_tags(own: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """A run's tags: ``own`` (the caller's), updated with the environment's."""
    return {**dict(own or {}), **environment_tags()}
