"""The README's service walk-through runs as printed: the curl steps, the SDK example and the
CLI steps, in a scratch folder, against a real ``tzoo serve``; nothing lands in the repository
and no step overwrites another's files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tokenizers_zoo.service.local import LocalServer

ROOT = Path(__file__).resolve().parent.parent


def _walkthrough() -> tuple[str, str, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("With the service running") :]
    curl, cli = re.findall(r"```bash\n(.*?)```", section, re.S)[:2]
    sdk = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    return curl, sdk, cli


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_the_service_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    curl, sdk, cli = _walkthrough()
    with LocalServer(["--tokenizers", "image-fsq-f8-4k", "--torch-threads", "1"]) as server:
        script = "\n".join(
            [
                "set -euo pipefail",
                curl,
                f"cat > sdk_example.py <<'EOF'\n{sdk}EOF",
                "$BIN/python sdk_example.py",
                cli,
                f"pwd > {tmp_path / 'scratch.txt'}",
            ]
        ).replace("http://127.0.0.1:8000", server.url)
        before = sorted(p.name for p in ROOT.iterdir())
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,  # as the README says: from the repository
            env={"PATH": "/usr/bin:/bin", "TZOO_URL": server.url, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nothing written into the checkout
    scratch = Path((tmp_path / "scratch.txt").read_text().strip())
    names = {p.name for p in scratch.iterdir()}
    assert {"tokens.json", "out.png", "tokens.npy", "out2.png", "sdk.npy", "sdk.json", "sdk.png"} <= names
    assert {"local.npy", "local.json", "local.png"} <= names
    assert '"ids"' in (scratch / "tokens.json").read_text()  # the curl step's, not overwritten
    shutil.rmtree(scratch)
