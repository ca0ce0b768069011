"""Tiny random models of each pretrained family, with a tokenizer of the family's kind, saved to a local
folder as ``save_pretrained`` writes them: what ``model.init: pretrained`` loads, built from config in
code (nothing is downloaded). Smoke runs (``sweep launch --smoke``) swap each model for one of these,
and the tests train every kind of head on them.

Tokenizers are built here with the ``tokenizers`` library from a few multilingual sentences (and any
text given), each of its family's kind: WordPiece (mBERT; the characters and the most frequent words), a
SentencePiece-style unigram model with ``▁`` word markers (XLM-R, mDeBERTa) and byte-level BPE without a
pad token (Llama), the last two trained. Each is the same in every process, so a tiny model, and a smoke
run's or a test's losses, are too. A smoke run may instead keep the model's own tokenizer, or take one it
is given, with the vocabulary sized to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAMILIES = ("bert", "xlm-roberta", "deberta-v2", "llama")

CORPUS = [
    "The cat sat on the mat while two dogs slept.",
    "Three students read forty books last year.",
    "Die Katze saß auf der Matte, während zwei Hunde schliefen.",
    "Drei Studenten lasen letztes Jahr vierzig Bücher.",
    "Le chat était assis sur le tapis pendant que deux chiens dormaient.",
    "Trois étudiants ont lu quarante livres l'année dernière.",
    "El gato se sentó en la alfombra mientras dos perros dormían.",
    "Paka aliketi kwenye mkeka wakati mbwa wawili walilala.",
    "Is the number of books larger than the number of students? Yes, it is.",
    "Where did the cat sit? On the mat.",
]
SIZES = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "max_positions": 128}


def train_tokenizer(family: str, texts: list[str] | None = None, *, vocab_size: int = 400) -> Any:
    """A fast tokenizer of ``family``'s kind built from ``CORPUS`` and ``texts``.

    Its vocabulary holds every character of the corpus as a piece (Unigram's and WordPiece's alphabet, the
    latter as word starts and continuations; Llama's byte-level one is 256 bytes): where those are more than
    ``vocab_size`` leaves room for (text in many scripts: the XTREME sample's nine-language smoke data has
    about 3,700), the vocabulary grows by them, so ``vocab_size`` pieces beyond them are still learned."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = CORPUS * 3 + list(texts or [])
    if family in ("xlm-roberta", "deberta-v2"):
        alphabet = len(set().union(*map(set, corpus)))
        if alphabet + 8 > vocab_size:  # Unigram refuses: "not large enough to contain all chars"
            vocab_size += alphabet
    if family == "bert":
        specials = {
            "unk_token": "[UNK]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
        }
        normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=False), pre_tokenizers.BertPreTokenizer()
        vocab = _wordpiece_vocab(corpus, normalizer, pre_tokenizer, list(specials.values()), vocab_size)
        tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
        tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
        tok.decoder = decoders.WordPiece()
        tok.add_special_tokens(list(specials.values()))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
    elif family in ("xlm-roberta", "deberta-v2"):
        specials = {
            "bos_token": "<s>",
            "pad_token": "<pad>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "mask_token": "<mask>",
        }
        specials |= {"cls_token": "<s>", "sep_token": "</s>"}
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(
            corpus,
            trainers.UnigramTrainer(
                vocab_size=vocab_size,
                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                unk_token="<unk>",
                show_progress=False,
            ),
        )
        tok.model = _canonical_unigram(tok, n_specials=5)
        bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
        )
    elif family == "llama":
        specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}  # no pad token, as Llama's
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(
            corpus,
            trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=["<s>", "</s>", "<unk>"],
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            ),
        )
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", bos)]),
            ]
        )
    else:
        raise ValueError(f"no tiny family {family!r}; families: {', '.join(FAMILIES)}")
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials)


def _wordpiece_vocab(corpus: list[str], normalizer: Any, pre_tokenizer: Any, specials: list[str], size: int) -> dict:
    """A WordPiece vocabulary that is the same in every process: the specials, every character of the corpus
    as a word start and as a continuation (``##``), then its most frequent words (ties by the word), ``size``
    pieces in all, or ``size`` words beyond the characters where those leave less room. Words are split as the
    tokenizer splits them. (``tokenizers``' WordPiece trainer breaks ties between equally frequent characters
    in hash order, so its vocabulary, even its size, changes from one process to the next.)"""
    from collections import Counter

    counts: Counter[str] = Counter()
    for text in corpus:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    alphabet = sorted(set().union(*map(set, counts)))
    pieces = specials + alphabet + [f"##{c}" for c in alphabet]
    room = size - len(pieces) if len(pieces) + 8 <= size else size
    pieces += sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))[:room]
    return {piece: i for i, piece in enumerate(pieces)}


def _canonical_unigram(tok: Any, *, n_specials: int) -> Any:
    """``tok``'s trained Unigram model made the same in every process. The trainer learns the same pieces
    everywhere, but their scores differ in their last bits (sums in another order), and the characters it
    keeps only because they occur get the lowest score plus 0, 1e-4, 2e-4, ... in hash order. Here the
    specials stay first, where the trainer put them; scores are rounded to nine decimals; the characters
    whose scores lie on that grid take its scores in the characters' order; and the pieces are ordered by
    score, ties by the piece. The ids, and so a model's embeddings, are then the same."""
    import json

    from tokenizers import models

    model = json.loads(tok.to_str())["model"]
    specials, rest = model["vocab"][:n_specials], model["vocab"][n_specials:]
    scores = {piece: round(score, 9) for piece, score in rest}
    low = min(scores.values())
    steps = {piece: (score - low) * 1e4 for piece, score in scores.items()}
    on_grid = sorted(p for p, k in steps.items() if len(p) == 1 and abs(k - round(k)) < 2e-5)
    grid = sorted((scores[p] for p in on_grid), reverse=True)
    scores |= dict(zip(on_grid, grid, strict=True))
    ranked = sorted(scores.items(), key=lambda p: (-p[1], p[0]))
    vocab = [(piece, score) for piece, score in specials] + ranked
    return models.Unigram(vocab, unk_id=model["unk_id"], byte_fallback=model.get("byte_fallback", False))


def tiny_config(family: str, tokenizer: Any, *, sizes: dict[str, int] | None = None) -> Any:
    """The config of a tiny ``family`` model over ``tokenizer``'s vocabulary (``SIZES`` unless given)."""
    import transformers

    sizes = {**SIZES, **(sizes or {})}
    h, layers, heads, inner, positions = (
        sizes[k] for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions")
    )
    common = {"vocab_size": len(tokenizer), "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": heads}
    common |= {"intermediate_size": inner, "max_position_embeddings": positions}
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if family == "bert":
        return transformers.BertConfig(**common, pad_token_id=tokenizer.pad_token_id)
    if family == "xlm-roberta":
        return transformers.XLMRobertaConfig(**common, type_vocab_size=1, **ids)
    if family == "deberta-v2":
        return transformers.DebertaV2Config(
            **common,
            type_vocab_size=0,
            relative_attention=True,
            position_buckets=16,
            norm_rel_ebd="layer_norm",
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            **ids,
        )
    return transformers.LlamaConfig(
        **common, num_key_value_heads=heads, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )


def save_tiny_model(
    family: str,
    folder: Path,
    *,
    seed: int = 0,
    tokenizer: Any = None,
    sizes: dict[str, int] | None = None,
    max_shard_size: str | None = None,
) -> Path:
    """Write a tiny random ``family`` model and its tokenizer (one trained here unless given) to ``folder``;
    return the folder. ``max_shard_size`` (``"100MB"``) splits the weights into shard files with an index,
    as released checkpoints of big models are."""
    import torch
    import transformers

    if family not in FAMILIES:
        raise ValueError(f"no tiny family {family!r}; families: {', '.join(FAMILIES)}")
    tokenizer = tokenizer if tokenizer is not None else train_tokenizer(family)
    config = tiny_config(family, tokenizer, sizes=sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    transformers.utils.logging.disable_progress_bar()  # a bar for a one-shard save is noise in a run's output
    try:
        model.save_pretrained(folder, **({"max_shard_size": max_shard_size} if max_shard_size else {}))
    finally:
        transformers.utils.logging.enable_progress_bar()
    tokenizer.save_pretrained(folder)
    return folder
