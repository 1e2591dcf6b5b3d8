"""Automation: schedules, sensors, declarative freshness and the daemon that acts on them.

``rules`` is pure (cron ticks, freshness goals, tick decisions, queue limits); ``runtime`` holds
the state store in the event log, the launcher and the daemon loop.
"""
