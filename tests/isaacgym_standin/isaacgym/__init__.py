"""A recording stand-in for Isaac Gym's `isaacgym` package (gymapi, gymtorch), for tests on the CPU.

Every gymapi call is checked against the signature `isaacgym-stubs` gives it (names, arity,
simple types), recorded in `gymapi.CALLS`, and answered with tensors of Isaac Gym's shapes and
dtypes. Put `tests/isaacgym_standin` first on sys.path to import it as `isaacgym`.
"""
