"""The ``tlsplug`` command's subcommands (private; the entry point is ``tlsplug.__main__``)."""
