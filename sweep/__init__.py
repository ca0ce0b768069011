"""xstilts sweep orchestration: config, planning, Ray Tune wiring, results and the CLI."""
