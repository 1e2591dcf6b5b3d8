"""The pure part of automation: cron ticks, freshness goals, tick decisions and queue limits.

No IO, no clock of its own (every function takes ``now``), no processes: unit-tested alone.
"""
