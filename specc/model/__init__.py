"""Plain data that the compiler and the runtime share: leaf modules that import neither side.

The runtime may import `specc.model` (and `specc.untrusted_files`) and nothing else of the compiler
(tests/test_seam.py checks it): what it knows about a task comes from the generated module and these types.
"""
