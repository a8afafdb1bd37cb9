"""specc: a declarative task-spec compiler and runner for GPU-parallel robot RL."""

__version__ = "0.1.0"
