"""The `specc` command line: one click group (`app.main`) and the modules that add commands to it.

Importing this package registers every command; neither command module imports the other.
"""

from specc.cli import compile_commands, run_commands  # noqa: F401  (each registers its commands)
from specc.cli.app import main

__all__ = ["main"]
