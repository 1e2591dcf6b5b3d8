"""Command assets: a shell command with declared file inputs and outputs (DVC's ``cmd:``, Snakemake's ``shell:``)."""

PARAMS_FILE_ONLY = "__datamake_params_file_only__"  # on a command asset's config class: values from the file only
