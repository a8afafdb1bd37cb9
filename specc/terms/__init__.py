"""Term passes: each section's expressions checked (`check`), in the order they read each other (`order`)."""
