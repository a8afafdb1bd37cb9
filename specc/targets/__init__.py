"""Compile targets: where a checked task can go besides specc's own runtime."""
