"""The tiny models' tokenizers (smoke runs, tests) are the same in every process: `tokenizers`' WordPiece
and Unigram trainers break ties in hash order, which changed a tiny model's vocabulary, and so its losses,
from one run to the next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trainers.tiny import FAMILIES, train_tokenizer

ROOT = Path(__file__).resolve().parents[3]

#: Text in many scripts, enough of it for the Unigram trainer to keep characters only because they occur
#: (Chinese, Thai and Devanagari ones among them), where its hash order showed.
TEXTS = [
    "Der Hund schläft, während die Katze auf der Matte sitzt.",
    "El perro duerme mientras el gato se sienta en la alfombra.",
    "Собака спит, а кошка сидит на коврике.",
    "狗在睡觉，猫坐在垫子上。我们什么时候去学校？",
    "สุนัขกำลังนอนหลับ ขณะที่แมวนั่งอยู่บนเสื่อ",
    "कुत्ता सो रहा है जबकि बिल्ली चटाई पर बैठी है।",
    "Ο σκύλος κοιμάται ενώ η γάτα κάθεται στο χαλί.",
    "الكلب نائم بينما القطة تجلس على الحصيرة.",
] * 3

SCRIPT = """
import sys
from trainers.tiny import train_tokenizer
from pathlib import Path
family, size, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
out.write_text(train_tokenizer(family, sys.stdin.read().splitlines(), vocab_size=size).backend_tokenizer.to_str())
"""


def _trained_elsewhere(family: str, vocab_size: int, out: Path) -> str:
    subprocess.run(
        [sys.executable, "-c", SCRIPT, family, str(vocab_size), str(out)],
        input="\n".join(TEXTS),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return out.read_text()


@pytest.mark.parametrize("vocab_size", [120, 400])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_tiny_tokenizer_is_the_same_in_every_process(family: str, vocab_size: int, tmp_path: Path) -> None:
    here = train_tokenizer(family, TEXTS, vocab_size=vocab_size)
    runs = {_trained_elsewhere(family, vocab_size, tmp_path / f"{run}.json") for run in range(3)}
    assert runs == {here.backend_tokenizer.to_str()}
    ids = here(TEXTS[3])["input_ids"]
    assert here.unk_token_id not in ids  # every character of the text is a piece
    assert here.decode(ids, skip_special_tokens=True).replace(" ", "") == TEXTS[3].replace(" ", "")
