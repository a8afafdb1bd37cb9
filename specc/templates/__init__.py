"""Jinja2 templates of the generated task modules (package data of specc.templates)."""
