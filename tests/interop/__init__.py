"""Interop tests against real TLS servers from Debian packages (see README.md)."""
