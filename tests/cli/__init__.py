"""Tests of the tlsplug command (a package: its conftest must not clash with tests/)."""
