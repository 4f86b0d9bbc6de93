"""The subcommands of the ``medvlm`` command, one module each (see :mod:`medvlm.cli`)."""
