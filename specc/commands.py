"""Runtime commands of the CLI (run, eval, export, play, plot); filled in by the runtime issue."""
