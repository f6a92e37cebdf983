"""``tzoo``: the command line, one module per command group.

Each module owns its commands' arguments and handlers (``add_commands(sub)``); ``main``
assembles them and turns every user mistake into one line on stderr and a non-zero
exit, never a traceback (set ``TZOO_DEBUG=1`` to see one for a real bug). Handlers
import torch and the models inside themselves, so ``tzoo --help`` starts at once.
"""

from tokenizers_zoo.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
