"""A non-editable install gives working imports from outside the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_gives_namespaced_packages(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    installed = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info")))
    # Nothing generically named at the top level of site-packages.
    assert [n for n in installed if n not in ("tokenizers_zoo", "bin")] == []
    code = (
        "import tokenizers_zoo, tokenizers_zoo.kernels, tokenizers_zoo.service, tokenizers_zoo.benchmarks;"
        "import tokenizers_zoo.benchmarks.quantizers, tokenizers_zoo.benchmarks.service;"
        "import tokenizers_zoo.service.app, tokenizers_zoo.service.routers.encode;"
        "print(tokenizers_zoo.kernels.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(target / "tokenizers_zoo" / "kernels"))
