"""The HTTP service (``create_app``), the command line and batch scanning.

Uses ``detector`` and ``register``; imports ``training``/``datasets`` only lazily
inside the CLI commands that need them.
"""

__all__: list[str] = []
