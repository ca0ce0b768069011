"""``python -m trainers.toy OUT_DIR``: write every toy task split and the tokenizer under OUT_DIR."""

from __future__ import annotations

import sys
from pathlib import Path

from trainers.toy.data import generate

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m trainers.toy OUT_DIR")
    for path in generate(Path(sys.argv[1])):
        print(path)
