"""Command assets: a shell command with declared file inputs and outputs (DVC's ``cmd:``, Snakemake's ``shell:``)."""
