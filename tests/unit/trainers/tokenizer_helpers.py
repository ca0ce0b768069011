"""Test tokenizers built here, never downloaded: any trained `tokenizers` model, given XLM-R's layout."""

from __future__ import annotations

from typing import Any

XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0-3, as in XLM-R


def xlmr_fast(tok: Any) -> Any:
    """Give a trained tokenizer XLM-R's ``<s> A </s> </s> B </s>`` template and wrap it for transformers."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
    )
