"""Test-only support shared by the core's and the plugins' test suites (not shipped)."""
