"""Tiny random models of each pretrained family, with a tokenizer of the family's kind, saved to a local
folder as ``save_pretrained`` writes them: what ``model.init: pretrained`` loads, built from config in
code (nothing is downloaded). Smoke runs (``sweep launch --smoke``) swap each model for one of these,
and the tests train every kind of head on them.

Tokenizers are trained here with the ``tokenizers`` library on a few multilingual sentences (and any
text given), each of its family's kind: WordPiece (mBERT), a SentencePiece-style unigram model with ``▁``
word markers (XLM-R, mDeBERTa) and byte-level BPE without a pad token (Llama). A smoke run may instead
keep the model's own tokenizer, or take one it is given, with the vocabulary sized to it.
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
    """A fast tokenizer of ``family``'s kind trained on ``CORPUS`` and ``texts``.

    Its vocabulary holds every character of the corpus as a piece (Unigram's and WordPiece's alphabet; Llama's
    byte-level one is 256 bytes): where those are more than ``vocab_size`` leaves room for (text in many
    scripts: the XTREME sample's nine-language smoke data has about 3,700), the vocabulary grows by the
    alphabet's size, so ``vocab_size`` pieces beyond it are still learned."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = CORPUS * 3 + list(texts or [])
    if family != "llama":
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
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(
            corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(specials.values()))
        )
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
                vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>"
            ),
        )
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
