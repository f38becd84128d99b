"""The embedded policy: a small Llama-family model and a tokenizer, both built locally.

No weights can be downloaded, so the default policy is made here: `build_tokenizer` trains
a small BPE (or a character vocabulary) with `tokenizers`, `build_model` instantiates a
random-init `LlamaForCausalLM`, and `save_policy` writes both with `save_pretrained`, so
`AutoModelForCausalLM` / `AutoTokenizer` (and every backend in `agents/`) load the
directory like any hub checkpoint.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

BASE_ALPHABET = string.printable  # digits, letters, punctuation, space, \t \n \r \x0b \x0c
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the embedded Llama (defaults: ~1M parameters, fast on one CPU thread)."""

    hidden_size: int = 128
    """Width of the residual stream."""
    n_layers: int = 4
    """Transformer blocks."""
    n_heads: int = 4
    """Attention heads (key/value heads too)."""
    intermediate_size: int = 512
    """MLP width."""
    max_position_embeddings: int = 1024
    """Longest sequence the rotary embedding is configured for."""
    tie_word_embeddings: bool = True
    """Share input and output embeddings."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by n_heads={self.n_heads}.")


def build_tokenizer(
    texts: Iterable[str] = (),
    vocab_size: int = 256,
    kind: Literal["bpe", "char"] = "bpe",
):
    """A `PreTrainedTokenizerFast` trained on `texts`.

    `kind="char"`: one token per printable ASCII character (plus any other character seen in
    `texts`); `kind="bpe"`: BPE merges learned on `texts` on top of that alphabet, up to
    `vocab_size` tokens. Whitespace is kept verbatim (no pre-tokeniser), so decode(encode(s))
    == s for every string over the alphabet. Characters outside it map to `<unk>`.
    """
    from tokenizers import Tokenizer, decoders, models, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    alphabet = sorted(set(BASE_ALPHABET).union(*map(set, texts)) if texts else set(BASE_ALPHABET))
    specials = list(SPECIAL_TOKENS.values())
    if kind == "char":
        vocab = {tok: i for i, tok in enumerate(specials + alphabet)}
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=SPECIAL_TOKENS["unk_token"]))
    elif kind == "bpe":
        if vocab_size < len(specials) + len(alphabet):
            raise ValueError(
                f"vocab_size={vocab_size} is smaller than the alphabet ({len(alphabet)} chars + {len(specials)} specials); "
                "raise it or use kind='char'."
            )
        tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
            show_progress=False,
        )
        tok.train_from_iterator(texts or [BASE_ALPHABET], trainer=trainer)
    else:
        raise ValueError(f"kind={kind!r}: use 'bpe' or 'char'.")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)


def build_model(tokenizer, config: ModelConfig = ModelConfig(), seed: int = 0):
    """A random-init `LlamaForCausalLM` sized by `config` for `tokenizer`'s vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    llama_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config)


def save_policy(model, tokenizer, out_dir: str | Path) -> Path:
    """`save_pretrained` both into `out_dir` (loadable with the Auto* classes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
