"""Reading trackers' files back with the trackers' own tools, for the tests of ``sweep.track``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def wandb_records(path: Path) -> list[dict[str, Any]]:
    """The records of a W&B run file (``run-ID.wandb``), as W&B's own reader, ``wandb leet inspect``, prints them."""
    wandb_cli = Path(sys.executable).parent / "wandb"
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
