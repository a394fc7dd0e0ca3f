"""The text-attention environment's declaration — settings, presets, options, paper methods — read
without importing its build (torch, models), so the command line's help and ``attrlab list`` answer
at once; the build is :mod:`attrlab.environments.text_attention`."""
from __future__ import annotations

from ..data.text import MANIPULATIONS
from .contract import EnvironmentSpec, Option, declare_environment
from .options import RESTARTS, training_option


SETTINGS = MANIPULATIONS
CLASSES = ("a", "the")  # label 0: the articles read "a"; label 1: "the" (attrlab.data.text.manipulate)

# options both text environments take (text-rationale declares the same corpus and training ones)
CORPUS_OPTIONS = (
    Option("corpus", str, "", "a .txt (one document per line), .csv/.jsonl (column text) or hf:NAME[:SPLIT[:COLUMN]]; "
           "default: Python's own prose", flag=True),
    Option("corpus_format", str, "", "the corpus file's format when its name does not say it",
           choices=("", "txt", "csv", "jsonl"), shapes_model=False, flag=True),
    training_option("threshold", 0.97),
    training_option("train_margin", 0.02),
    Option("alpha", float, 0.01, "largest binomial tail P(acc >= p | p* = 0.5) that verifies", minimum=0.0,
           maximum=1.0),
    Option("train", int, 1800, "training documents", minimum=10, maximum=10_000_000),
    Option("val", int, 300, "validation documents", minimum=10, maximum=10_000_000),
    Option("test", int, 300, "test documents", minimum=10, maximum=10_000_000),
    Option("eval_docs", int, 40, "attributed test documents", minimum=1, maximum=10_000_000, shapes_model=False),
    Option("max_len", int, 150, "tokens per document at most (longer ones are cut)", minimum=4, maximum=100_000),
    Option("min_len", int, 1, "tokens per document at least (shorter ones are left out): with max_len, the "
           "length window", minimum=1, maximum=100_000),
    Option("emb", int, 64, "embedding size", minimum=1, maximum=4096),
    Option("hidden", int, 64, "BiLSTM hidden units per direction", minimum=1, maximum=4096),
    training_option("max_epochs", 15),
    training_option("lr", 3e-3),
    RESTARTS,
    training_option("batch", 50),
    Option("weight_decay", float, 0.0, "Adam's weight decay", minimum=0.0, maximum=1.0),
    Option("clip", float, 0.0, "gradient-norm clip per step (0: none)", minimum=0.0, maximum=1e6),
    training_option("cache_dir"),
)

# Zhou et al.'s attention training as their attention_model.py runs it
# (../shared/notes/zhou-attributionlab-reference-facts.md §1.8): frozen pre-trained 200-d embeddings
# (ours: skip-gram on the corpus, gensim), a 2x200 BiLSTM, Linear(400, 200) -> tanh -> a bias-free
# query (our query vector), no dropout, Adam lr 1e-3 with weight decay 1e-5, gradient-norm clip 5,
# batch 250, and a stop at the first epoch whose validation accuracy reaches 0.97 (no margin), at
# most 100 epochs. The preset's data sizes stay (the paper has 10k/1k/1k documents); options a user
# sets (--set embeddings=learned) win over the recipe.
PAPER_RECIPE = {"emb": 200, "hidden": 200, "attn": 200, "embeddings": "word2vec", "lr": 1e-3, "weight_decay": 1e-5,
                "clip": 5.0, "batch": 250, "max_epochs": 100, "threshold": 0.97, "train_margin": 0.0}

# a transformer's training where the preset's is a BiLSTM's (Adam 3e-3 sends a BERT's loss to chance)
TRANSFORMER_TRAINING = {"lr": 5e-4, "clip": 1.0}


SPEC = EnvironmentSpec(
    name="text-attention",
    description="Zhou et al. 2022 §6: article words carry random labels; BiLSTM + additive attention",
    modality="text",
    settings=SETTINGS,
    presets={
        "quick": {"train": 1800, "val": 300, "test": 300, "eval_docs": 40, "max_len": 150, "emb": 64, "hidden": 64,
                  "attn": 64, "max_epochs": 15, "lr": 3e-3, "batch": 50, "runs": 1},
        "full": {"train": 10000, "val": 1000, "test": 1000, "eval_docs": 1000, "max_len": 256, "emb": 200,
                 "hidden": 200, "attn": 200, "max_epochs": 100, "lr": 1e-3, "batch": 250, "runs": 11},
    },
    options=CORPUS_OPTIONS + (
        Option("attn", int, 64, "additive attention size", minimum=1, maximum=4096),
        Option("model", str, "bilstm-attention", "the paper's BiLSTM + additive attention; bert-small, a BERT built "
               "here from a config with a WordPiece tokenizer trained on the corpus; hf:DIR, a local Hugging Face "
               "checkpoint fine-tuned here (both: pip install 'attrlab[hf]'); or your own text classifier "
               "(module:Class, file.py:Class; the attention method needs a .attention(ids) method)",
               choices=("bilstm-attention", "bert-small"), references=True, flag=True),
        Option("layers", int, 2, "bert-small: transformer layers", minimum=1, maximum=48),
        Option("heads", int, 2, "bert-small: attention heads per layer (hidden must be divisible by it)", minimum=1,
               maximum=64),
        Option("wordpiece_vocab", int, 2000, "bert-small: WordPiece vocabulary size trained on the corpus", minimum=50,
               maximum=200_000),
        Option("recipe", str, "attrlab", "attrlab: the options as given; paper: the authors' attention training as "
               "their code runs it, every piece at once (200-d frozen word2vec, 2x200 BiLSTM, Adam 1e-3 with weight "
               "decay 1e-5, clip 5, batch 250, stop at the first epoch with validation accuracy >= 0.97) over the "
               "preset; an option you set yourself wins over it", choices=("attrlab", "paper")),
        Option("runs", int, 1, "models trained per data set, run k with seed + k (the full preset: Table 1's 11); a "
               "study's --seeds repeats whole runs instead", minimum=1, maximum=1000),
        Option("embeddings", str, "learned", "learned with the model, or word2vec: skip-gram vectors of size emb "
               "pre-trained on the corpus with gensim and frozen (the paper's fixed pre-trained embeddings; "
               "pip install 'attrlab[text]')", choices=("learned", "word2vec")),
    ),
    headline=("mass_focus", "Attr% on correlating articles"),
    recipes={"attrlab": {}, "paper": PAPER_RECIPE},
    model_defaults={"bert-small": TRANSFORMER_TRAINING, "hf:": TRANSFORMER_TRAINING},
    test_options={"train": 40, "val": 10, "test": 10, "eval_docs": 2, "emb": 4, "hidden": 4, "attn": 4,
                  "max_epochs": 1, "restarts": 0},
)


declare_environment(SPEC, "attrlab.environments.text_attention:build")
