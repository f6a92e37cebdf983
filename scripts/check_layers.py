"""Check the import contracts in pyproject.toml ([tool.importlinter]) with import-linter.

import-linter reads a package from its folder, but kernels/, service/ and benchmarks/ live
at the top of the repository and install as tokenizers_zoo.kernels, .service and
.benchmarks. So this lays the package out as installed, with links, in a temporary folder,
and points import-linter there. Exit status: import-linter's (0 when every contract holds).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = ("kernels", "service", "benchmarks")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tzoo-layers-") as tmp:
        package = Path(tmp) / "tokenizers_zoo"
        package.mkdir()
        for child in (ROOT / "tokenizers_zoo").iterdir():
            if child.name not in ("weights", "__pycache__"):
                (package / child.name).symlink_to(child)
        for name in MAPPED:
            (package / name).symlink_to(ROOT / name)
        env = {**os.environ, "PYTHONPATH": tmp}
        run_linter = (
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
        )
        command = [sys.executable, "-c", run_linter, str(ROOT / "pyproject.toml")]
        return subprocess.run(command, env=env, cwd=tmp, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
