"""The `heatmap` command: one module per group of subcommands."""
