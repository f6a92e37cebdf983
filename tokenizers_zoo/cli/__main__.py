"""``python -m tokenizers_zoo.cli``: the same as ``tzoo``."""

import sys

from tokenizers_zoo.cli.main import main

sys.exit(main())
