"""Repo-wide pytest setup: the shared loopback server fixtures (see testsupport/servers.py)."""

pytest_plugins = ["testsupport.servers"]
