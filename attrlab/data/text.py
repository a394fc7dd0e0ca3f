"""Text for the semi-natural text environments (Zhou et al. 2022, §6–7): a corpus, a tokenizer,
the article manipulations with token-level ground truth, and a vocabulary.

The paper used BeerAdvocate reviews, which cannot be downloaded here. The embedded default is
English prose that ships with Python itself: the documentation topics of ``pydoc_data`` and the
docstrings of the standard library's pure-Python modules, cut into documents of review length
at sentence ends. :func:`load_corpus` reads your own: a text file (one document per line), a CSV
or JSONL column, or a Hugging Face dataset (``hf:NAME[:SPLIT[:COLUMN]]``, needs ``datasets`` and a
network).

Manipulations (labels drawn at random, so only the manipulated words carry the label):

- ``article``: every a/an/the becomes "the" for label 1 and "a" for label 0; all are correlating.
- ``cn``: the review is split at its midpoint; articles in the first half are set by the label
  (correlating), all articles in the second half become one article drawn at random (a, an or
  the; non-correlating). ``nc``: the halves swap roles (Fig. 9).
"""
from __future__ import annotations

import ast
import csv
import io
import json
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import AttrlabError

ARTICLES = ("a", "an", "the")
MANIPULATIONS = ("article", "cn", "nc")
PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_PROSE = re.compile(r"^[A-Za-z\"'(`][^{}|]*$")  # a sentence-like line: no braces or table rules


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks.

    Example:
        >>> tokenize("The beer's head, an inch.")
        ['the', "beer's", 'head', ',', 'an', 'inch', '.']
    """
    return _TOKEN.findall(text.lower())


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a docstring: blank-line separated blocks whose lines look like
    sentences (no code, tables, prompts or directives)."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.strip().splitlines()]
        if (lines and all(_PROSE.match(ln) and not ln.startswith((">>>", "...")) and " = " not in ln for ln in lines)
                and not block.startswith((" ", "\t"))):
            para = " ".join(lines)
            if len(para.split()) >= 8 and para.rstrip().endswith((".", ":", ";")):
                out.append(para)
    return out


@lru_cache(maxsize=1)
def _python_prose() -> tuple[str, ...]:
    paragraphs: list[str] = []
    try:
        from pydoc_data.topics import topics

        for name in sorted(topics):
            paragraphs += _paragraphs(topics[name])
    except ImportError:  # some distributions drop pydoc_data
        pass
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if any(part in {"test", "tests", "idle_test", "site-packages", "lib2to3"} for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    paragraphs += _paragraphs(doc)
    return tuple(dict.fromkeys(paragraphs))  # drop repeats, keep order


def embedded_corpus(min_tokens: int = 30, max_tokens: int = 100) -> list[str]:
    """Documents of ``min_tokens``…``max_tokens`` tokens cut from Python's own prose at sentence
    ends (paragraphs are joined until a document is long enough).

    Example:
        >>> docs = embedded_corpus()
        >>> len(docs) > 2000 and all(30 <= len(tokenize(d)) <= 100 for d in docs[:50])
        True
    """
    docs, current, n = [], [], 0
    for para in _python_prose():
        for sentence in re.split(r"(?<=[.;:])\s+", para):
            k = len(tokenize(sentence))
            if n + k > max_tokens:
                if n >= min_tokens:
                    docs.append(" ".join(current))
                current, n = [], 0
                if k > max_tokens:
                    continue
            current.append(sentence)
            n += k
    if n >= min_tokens:
        docs.append(" ".join(current))
    return docs


CORPUS_FORMATS = ("txt", "csv", "jsonl")


def load_corpus(source: str, column: str = "text", fmt: str = "") -> list[str]:
    """Documents from ``source``: ``*.txt`` (one per line), ``*.csv`` / ``*.jsonl`` (``column``),
    or ``hf:NAME[:SPLIT[:COLUMN]]`` (Hugging Face ``datasets``). ``fmt`` (``txt``, ``csv``,
    ``jsonl``) reads a file whose name does not say its format. A binary file, a malformed JSON
    line (named by its number) or an empty corpus is refused with one line.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "r.jsonl")
        >>> _ = open(path, "w").write('{"text": "A fine beer."}\\n{"text": "The head is thin."}\\n')
        >>> load_corpus(path)
        ['A fine beer.', 'The head is thin.']
    """
    if source.startswith("hf:"):
        parts = source[3:].split(":")
        name, split = parts[0], parts[1] if len(parts) > 1 else "train"
        column = parts[2] if len(parts) > 2 else column
        try:
            import datasets
        except ImportError:
            raise AttrlabError("hf: corpora need the 'datasets' package (pip install datasets)") from None
        try:
            data = datasets.load_dataset(name, split=split)
        except Exception as exc:
            raise AttrlabError(f"could not load Hugging Face dataset {name}:{split}: {exc}") from None
        if column not in data.column_names:
            raise AttrlabError(f"dataset {name} has no column '{column}'; it has {', '.join(data.column_names)}")
        return [str(t) for t in data[column] if str(t).strip()]
    path = Path(source)
    if not path.is_file():
        raise AttrlabError(f"corpus file {source} does not exist")
    fmt = (fmt or path.suffix.lower().lstrip(".")).lower()
    fmt = "jsonl" if fmt == "json" else fmt
    if fmt not in CORPUS_FORMATS:
        raise AttrlabError(f"corpus {source}: cannot tell its format from the name; use .txt (one document per line), "
                           ".csv, .jsonl or hf:NAME, or say --corpus-format txt|csv|jsonl")
    raw = path.read_bytes()
    try:
        if b"\x00" in raw[:8192]:
            raise UnicodeDecodeError("utf-8", raw[:1], 0, 1, "NUL byte")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AttrlabError(f"corpus file {source} is not UTF-8 text (a binary file?)") from None
    if fmt == "txt":
        docs = [ln.strip() for ln in text.splitlines()]
    elif fmt == "csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if column not in (reader.fieldnames or []):
                raise AttrlabError(f"{source} has no column '{column}'; it has {', '.join(reader.fieldnames or []) or 'none'}")
            docs = [row[column] or "" for row in reader]
        except csv.Error as exc:
            raise AttrlabError(f"{source} is not valid CSV: {exc}") from None
    else:
        docs = []
        for k, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AttrlabError(f"{source} line {k + 1} is not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict) or column not in row:
                raise AttrlabError(f"{source} line {k + 1} has no key '{column}'")
            docs.append(str(row[column]))
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise AttrlabError(f"corpus {source} holds no documents")
    return docs



@dataclass(frozen=True)
class Manipulated:
    """One manipulated document: tokens, label, and the correlating / non-correlating positions."""

    tokens: list[str]
    label: int
    correlating: list[int]
    non_correlating: list[int]


def manipulate(tokens: list[str], kind: str, label: int, rng: np.random.Generator) -> Manipulated:
    """Apply ``article``, ``cn`` or ``nc`` to a tokenized document for ``label``.

    Example:
        >>> toks = "the cat saw a dog . an owl saw the moon".split()
        >>> m = manipulate(toks, "cn", 1, np.random.default_rng(0))
        >>> " ".join(m.tokens[:5]), m.correlating, len(m.non_correlating)
        ('the cat saw the dog', [0, 3], 2)
    """
    if kind not in MANIPULATIONS:
        raise AttrlabError(f"unknown text manipulation '{kind}'; choose one of {', '.join(MANIPULATIONS)}")
    word = "the" if label == 1 else "a"
    out = list(tokens)
    positions = [i for i, t in enumerate(tokens) if t in ARTICLES]
    if kind == "article":
        for i in positions:
            out[i] = word
        return Manipulated(out, label, positions, [])
    mid = len(tokens) // 2
    first, second = [i for i in positions if i < mid], [i for i in positions if i >= mid]
    corr, non = (first, second) if kind == "cn" else (second, first)
    other = ARTICLES[int(rng.integers(len(ARTICLES)))]
    for i in corr:
        out[i] = word
    for i in non:
        out[i] = other
    return Manipulated(out, label, corr, non)


def usable(tokens: list[str], kind: str) -> bool:
    """Whether a document can carry the manipulation: at least one article where the label is
    written (and, for CN/NC, one where the decoy is)."""
    positions = [i for i, t in enumerate(tokens) if t in ARTICLES]
    if kind == "article":
        return bool(positions)
    mid = len(tokens) // 2
    return any(i < mid for i in positions) and any(i >= mid for i in positions)


class Vocabulary:
    """Token ↔ id, with ``<pad>`` = 0 and ``<unk>`` = 1 (:meth:`from_mapping`: a given one, e.g. a
    user's model's, whose unknown token has the id ``unk``).

    Example:
        >>> v = Vocabulary([["the", "cat"], ["the", "dog"]])
        >>> v.encode([["the", "owl"]], 4).tolist()
        [[2, 1, 0, 0]]
        >>> Vocabulary.from_mapping({"<pad>": 0, "the": 1, "[UNK]": 7}, unk=7).encode([["the", "owl"]], 2).tolist()
        [[1, 7]]
    """

    unk: int = 1

    @classmethod
    def from_mapping(cls, stoi: dict[str, int], unk: int) -> "Vocabulary":
        """A vocabulary from a token → id mapping (0 = padding)."""
        vocab = cls.__new__(cls)
        vocab.stoi, vocab.unk = dict(stoi), int(unk)
        vocab.itos = [None] * (max(stoi.values()) + 1)
        for token, i in stoi.items():
            vocab.itos[i] = token
        return vocab

    def __init__(self, documents: list[list[str]], min_count: int = 1):
        counts: dict[str, int] = {}
        for doc in documents:
            for t in doc:
                counts[t] = counts.get(t, 0) + 1
        words = sorted(w for w, c in counts.items() if c >= min_count)
        words.sort(key=lambda w: -counts[w])
        self.itos = [PAD, UNK] + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, documents: list[list[str]], length: int) -> "np.ndarray":
        out = np.zeros((len(documents), length), np.int64)
        for k, doc in enumerate(documents):
            ids = [self.stoi.get(t, self.unk) for t in doc[:length]]
            out[k, :len(ids)] = ids
        return out
