"""Defenses and pipelines: policies that wrap the model under test (see docs/defenses.md)."""
