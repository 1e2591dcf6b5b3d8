"""The daemon side of automation: its state in the event log, the launcher, one evaluation pass, the loop."""
