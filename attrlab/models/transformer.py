"""Transformer text classifiers (Hugging Face ``transformers``) behind attrlab's text-model contract.

attrlab's text environments and methods speak one contract: a model takes token ids ``(N, T)``
with **0 = padding** and returns logits; it names the embedding layer to attribute through
(``embedding``) and, where it has them, its attention (``attention(ids)``: one weight per token;
``attentions(ids)``: every layer's ``(N, heads, T, T)`` probabilities; ``attend(ids)``: the logits
and those probabilities from one forward pass). The BiLSTM meets it as it
is. :class:`TransformerClassifier` is the *adapter* that makes a Hugging Face sequence classifier
meet it, in the manner of Captum's ``forward_func`` + ``additional_forward_args``: it builds the
attention mask from the padding, swaps id 0 with the checkpoint's own padding id (RoBERTa pads
with 1) at the boundary, runs the model with eager attention (so its attention probabilities are
returned and differentiable) and returns plain logits instead of a ``ModelOutput``. It also holds
the tokenizer, which maps a document's words to subword ids and each token to its word
(:meth:`TransformerClassifier.encode`), so ground truth stays a statement about words.

Two ways to get one (``pip install 'attrlab[hf]'``; nothing is ever downloaded):

* :func:`bert_small` — a BERT built from a config (2 layers, hidden 64 by default) with a
  WordPiece tokenizer trained here on the environment's training documents (``tokenizers``).
* :func:`load_checkpoint` — ``AutoModelForSequenceClassification`` + ``AutoTokenizer`` from a
  local directory saved with ``save_pretrained`` (``--model hf:DIR``), fine-tuned on the
  environment's data like any model.

Example (a tiny BERT; runs in a second):
    >>> docs = [["the", "cat", "sat"], ["a", "dog", "barked", "loudly"]] * 5
    >>> m = bert_small(docs, n_classes=2, hidden=16, layers=2, heads=2, vocab_size=60, max_tokens=16)
    >>> ids, words = m.encode([["the", "cat", "sat"]], max_tokens=8)
    >>> m.tokens(ids[0])[:5], words[0].tolist()[:5]
    (['[CLS]', 'the', 'cat', 'sat', '[SEP]'], [-1, 0, 1, 2, -1])
    >>> m(ids).shape, len(m.attentions(ids)), tuple(m.attentions(ids)[0].shape)
    (torch.Size([1, 2]), 2, (1, 2, 5, 5))
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import AttrlabError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # [PAD] first: id 0 is padding


def _require():
    try:
        import tokenizers  # noqa: F401
        import transformers
    except ImportError:
        raise AttrlabError("transformer models need Hugging Face transformers and tokenizers: "
                           "pip install 'attrlab[hf]'") from None
    return transformers


class TransformerClassifier(nn.Module):
    """A Hugging Face sequence classifier and its tokenizer, as an attrlab text model.

    ``forward(ids)`` → logits ``(N, C)``; ids are in attrlab's space (0 = padding; the model's own
    padding id is swapped in). ``vocab_id`` identifies the tokenizer (it enters the model cache
    key, so a cached model is never loaded under another tokenizer).
    """

    def __init__(self, hf_model: nn.Module, tokenizer: Any, name: str = "transformer"):
        super().__init__()
        self.hf = hf_model
        self.tokenizer = tokenizer  # a transformers PreTrainedTokenizerFast
        self.name = name
        pad = tokenizer.pad_token_id
        if pad is None:
            raise AttrlabError(f"{name}: the tokenizer has no padding token")
        self.pad_id = int(pad)
        self.cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self.sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        vocab = sorted(tokenizer.get_vocab().items())
        self.vocab_id = hashlib.sha1(json.dumps(vocab).encode()).hexdigest()[:12]
        self.max_positions = int(getattr(hf_model.config, "max_position_embeddings", 512) or 512)

    # -- the id space --------------------------------------------------------------------------
    def _swap(self, ids: torch.Tensor) -> torch.Tensor:
        """attrlab ids ↔ the model's ids: 0 and the padding id trade places (an involution)."""
        if self.pad_id == 0:
            return ids
        out = ids.clone()
        out[ids == 0] = self.pad_id
        out[ids == self.pad_id] = 0
        return out

    @property
    def embedding(self) -> nn.Module:
        """The word (token) embedding layer that embedding methods attribute through."""
        return self.hf.get_input_embeddings()

    def _run(self, ids: torch.Tensor, **kw):
        return self.hf(input_ids=self._swap(ids), attention_mask=(ids != 0).long(), **kw)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self._run(ids).logits

    def attend(self, ids: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The logits and every layer's attention probabilities, ``(N, heads, T, T)`` each,
        first layer first, from one forward pass (the probabilities are in the logits' graph:
        gradient-weighted rollout takes their gradients)."""
        out = self._run(ids, output_attentions=True)
        if not out.attentions:
            raise AttrlabError(f"{self.name} returns no attention probabilities (its attention implementation "
                               "does not give them)")
        return out.logits, tuple(out.attentions)

    def attentions(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every layer's attention probabilities (see :meth:`attend`)."""
        return self.attend(ids)[1]

    @property
    def attention_heads(self) -> tuple[int, int]:
        """``(layers, heads)``: the runner lists every layer's and head's raw attention by default."""
        config = self.hf.config
        return int(config.num_hidden_layers), int(config.num_attention_heads)

    def attention(self, ids: torch.Tensor) -> torch.Tensor:
        """The classification token's attention in the last layer, mean over heads: one weight
        per token (zero at padding) — what "the model's attention" means for a transformer."""
        last = self.attentions(ids)[-1]
        return last.mean(1)[:, 0, :] * (ids != 0)

    # -- words → subwords ----------------------------------------------------------------------
    def encode(self, documents: Sequence[Sequence[str]], max_tokens: int | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids ``(N, T)`` (attrlab space: 0 = padding) and the word of each token ``(N, T)``
        (its index in the document, -1 for special tokens and padding), from documents given as
        word lists. A document longer than ``max_tokens`` (at most the model's positions) is cut;
        its last words then have no token."""
        limit = min(max_tokens or self.max_positions, self.max_positions)
        enc = self.tokenizer([list(d) for d in documents], is_split_into_words=True, truncation=True,
                             max_length=limit, padding="longest", return_tensors="pt")
        ids = self._swap(enc["input_ids"])
        ids = ids * enc["attention_mask"]
        words = torch.full(ids.shape, -1, dtype=torch.long)
        for k in range(len(documents)):
            try:
                row = enc.word_ids(k)
            except ValueError:
                raise AttrlabError(f"{self.name}: its tokenizer cannot align tokens with words (no word ids; "
                                   "a fast tokenizer is needed)") from None
            words[k] = torch.tensor([-1 if w is None else w for w in row])
            if len(documents[k]) and not (words[k] >= 0).any():
                raise AttrlabError(f"{self.name}: its tokenizer gives no token for any word of a document "
                                   f"({' '.join(list(documents[k])[:6])} ...; vocabulary of {len(self.tokenizer)}): "
                                   "is it the tokenizer the model was trained with?")
        return ids, words

    def tokens(self, ids: torch.Tensor) -> list[str]:
        """The token strings of one row of attrlab ids (for reports)."""
        return self.tokenizer.convert_ids_to_tokens(self._swap(ids).tolist())


def train_wordpiece(documents: Sequence[Sequence[str]], vocab_size: int, cache_dir: str | Path | None = None):
    """A WordPiece tokenizer trained on ``documents`` (word lists) with Hugging Face
    ``tokenizers``, as a ``PreTrainedTokenizerFast`` with BERT's special tokens, [PAD] = 0.

    The trainer breaks ties between equally frequent merges by a hash map's order, which is
    random per process: trained twice on the same documents here, the two vocabularies differed.
    So a tokenizer is trained once per documents, size and ``tokenizers`` version and kept in
    ``cache_dir`` (``wordpiece-<key>.json``); every later model on the same data reads the same
    one. Its ids are renumbered: special tokens, then the rest sorted.
    """
    _require()
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    path = None
    if cache_dir is not None:
        digest = hashlib.sha1("\n".join(" ".join(d) for d in documents).encode())
        digest.update(f"|{vocab_size}|{tokenizers.__version__}".encode())
        path = Path(cache_dir) / f"wordpiece-{digest.hexdigest()[:16]}.json"
        if path.is_file():
            return PreTrainedTokenizerFast(tokenizer_file=str(path), **specials)
    tokenizer = _train_wordpiece(documents, vocab_size)
    if path is not None:
        from ..storage import write_atomic

        write_atomic(path, lambda p: p.write_text(tokenizer.backend_tokenizer.to_str(), encoding="utf-8"))
    return tokenizer


def _train_wordpiece(documents: Sequence[Sequence[str]], vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=False)
    words.train_from_iterator([" ".join(d) for d in documents], trainer)
    rest = sorted(t for t in words.get_vocab() if t not in SPECIAL_TOKENS)
    vocab = {t: i for i, t in enumerate(list(SPECIAL_TOKENS) + rest)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def bert_small(documents: Sequence[Sequence[str]] | None, n_classes: int, hidden: int = 64, layers: int = 2,
               heads: int = 2, vocab_size: int = 2000, max_tokens: int = 512, dropout: float = 0.1,
               tokenizer: Any = None) -> TransformerClassifier:
    """A small BERT (``BertForSequenceClassification`` from a ``BertConfig``; feed-forward 4 ×
    ``hidden``) with a WordPiece tokenizer trained on ``documents`` (or the ``tokenizer`` given,
    e.g. one :func:`train_wordpiece` made once for several models); weights initialised by
    ``torch``'s current seed."""
    transformers = _require()
    if hidden % heads:
        raise AttrlabError(f"bert-small: hidden={hidden} is not divisible by heads={heads}")
    if tokenizer is None:
        tokenizer = train_wordpiece(documents or [], vocab_size)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_tokens, num_labels=n_classes,
        pad_token_id=tokenizer.pad_token_id, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    config._attn_implementation = "eager"
    model = transformers.BertForSequenceClassification(config)
    return TransformerClassifier(model, tokenizer, "bert-small")


def check_checkpoint(path: str) -> Path:
    """The directory of an ``hf:DIR`` model, refused in one line when it is not a checkpoint."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise AttrlabError(f"hf:{path}: no such directory (a checkpoint saved with save_pretrained)")
    if not (folder / "config.json").is_file():
        raise AttrlabError(f"hf:{path} is not a Hugging Face checkpoint: it has no config.json "
                           "(save one with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR))")
    return folder


def load_checkpoint(path: str, classes: Sequence[str] | None = None) -> TransformerClassifier:
    """A local checkpoint (``AutoModelForSequenceClassification`` + ``AutoTokenizer``, offline) whose
    classifier head has one output per environment class; its labels, when named, must be the
    environment's or their indices ("0", "1", ...), in order (another order is an error: the
    head's order would then be silently wrong). ``classes=None`` (a model evaluated as it is,
    ``attrlab evaluate``) takes the checkpoint's own labels."""
    transformers = _require()
    folder = check_checkpoint(path)
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise AttrlabError(f"hf:{path}: its config.json cannot be read: {str(exc).splitlines()[0][:200]}") from None
    labels = [config.id2label[i] for i in sorted(config.id2label)] if getattr(config, "id2label", None) else []
    named = [lab for lab in labels if not str(lab).startswith("LABEL_")]
    if classes is None:
        classes = [str(x) for x in labels] or ["0", "1"]
    if labels and len(labels) != len(classes):
        raise AttrlabError(f"hf:{path} has {len(labels)} labels ({', '.join(map(str, labels))}); this environment "
                           f"has {len(classes)} classes ({', '.join(classes)})")
    if named and [str(x) for x in labels] not in ([str(c) for c in classes], [str(i) for i in range(len(classes))]):
        raise AttrlabError(f"hf:{path} labels are {', '.join(map(str, labels))}; this environment's classes are "
                           f"{', '.join(classes)} (in this order)")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise AttrlabError(f"hf:{path}: no tokenizer could be loaded from it ({str(exc).splitlines()[0][:160]}); "
                           "save one beside the model with tokenizer.save_pretrained(DIR)") from None
    if not getattr(tokenizer, "is_fast", False):
        raise AttrlabError(f"hf:{path}: its tokenizer cannot align tokens with words (no word ids): a fast "
                           "(Rust) tokenizer is needed")
    quiet = transformers.utils.logging
    shown = quiet.is_progress_bar_enabled()
    quiet.disable_progress_bar()  # a bar per loaded checkpoint would bury attrlab's own
    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, num_labels=len(classes), attn_implementation="eager")
    except Exception as exc:
        raise AttrlabError(f"hf:{path}: the model cannot be loaded as a sequence classifier: "
                           f"{str(exc).splitlines()[0][:200]}") from None
    finally:
        if shown:
            quiet.enable_progress_bar()
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise AttrlabError(f"hf:{path}: its tokenizer has {len(tokenizer)} tokens, the model's embedding {rows} rows: "
                           "they were not saved together")
    return TransformerClassifier(model, tokenizer, f"hf:{folder.name}")
