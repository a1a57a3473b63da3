"""``python -m erlen``: the ``erlen`` command line."""

from .cli import main

main()
