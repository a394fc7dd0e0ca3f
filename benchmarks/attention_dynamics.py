"""Measurement (issue 18 part 3d): how attention's mass on the correlating articles moves while a
text-attention model trains, beside its validation accuracy, every few optimiser steps.

Does attention start diffuse and sharpen only after the classifier already works, so that the
authors' stop at the first epoch with validation accuracy >= 0.97 catches it diffuse? The model,
data and training are the environment's own (``text-attention``, setting ``article``, its options
and recipes); training goes on past the stopping point (``--epochs``) to show what comes after.

    python benchmarks/attention_dynamics.py --recipe paper --seeds 0-4
    python benchmarks/attention_dynamics.py --recipe attrlab --seeds 0-4 --every 4

Prints one line per seed (the step and epoch where the environment would stop, the mass then and
at the end) and writes every measurement to ``--out`` (CSV: recipe, seed, step, epoch,
val_accuracy, mass_focus).
"""
from __future__ import annotations

import argparse
import math
import sys

import pandas as pd
import torch

from attrlab.allocator import tune_allocator
from attrlab.data.text import Vocabulary
from attrlab.environments import get_environment
from attrlab.environments.text_attention import _encode, _text_model, documents, embeddings_for, make_dataset
from attrlab.models.training import train_verified


def measure(recipe: str, seed: int, epochs: int, every: int, n_val: int, overrides: dict) -> list[dict]:
    config = get_environment("text-attention").resolve("quick", {"recipe": recipe, **overrides})
    tokens, _ = documents(config["corpus"], config, seed)
    data = make_dataset(tokens, "article", (config["train"], config["val"], config["test"]), seed)
    vocab = Vocabulary([m.tokens for m in data["train"]])
    enc = {k: _encode(v, vocab, config["max_len"]) for k, v in data.items()}
    torch.manual_seed(seed)
    model = embeddings_for(config, tokens, vocab.itos, seed)(_text_model(config, len(vocab)))
    val_ids, val_y, val_focus = enc["val"][0][:n_val], enc["val"][1][:n_val], enc["val"][2][:n_val]
    rows: list[dict] = []
    per_epoch = math.ceil(len(enc["train"][0]) / config["batch"])

    def probe(step: int, m: torch.nn.Module) -> None:
        if step % every and step % per_epoch:
            return
        m.eval()
        with torch.no_grad():
            acc = float((m(val_ids).argmax(1) == val_y).float().mean())
            mass = float((m.attention(val_ids) * val_focus).sum(1).mean())
        m.train()
        rows.append({"recipe": recipe, "seed": seed, "step": step, "epoch": step / per_epoch, "val_accuracy": acc,
                     "mass_focus": mass})

    train_verified(model, enc["train"][:2], enc["val"][:2], threshold=1.01, max_epochs=epochs, lr=config["lr"],
                   batch_size=config["batch"], seed=seed, progress=False, weight_decay=config["weight_decay"],
                   clip=config["clip"] or None, on_step=probe)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="paper", choices=("paper", "attrlab"))
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--every", type=int, default=2, help="measure every N optimiser steps (and each epoch's end)")
    parser.add_argument("--n-val", type=int, default=300)
    parser.add_argument("--set", action="append", default=[], help="an option override, KEY=VALUE")
    parser.add_argument("--out", default="attention_dynamics.csv")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    tune_allocator()  # as attrlab's own processes (200-d models train ~3x faster: attrlab/allocator.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    low, _, high = args.seeds.partition("-")
    seeds = range(int(low), int(high or low) + 1)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    target = get_environment("text-attention").resolve("quick", {"recipe": args.recipe, **overrides})
    stop_at = min(1.0, target["threshold"] + target["train_margin"])
    rows = []
    for seed in seeds:
        seed_rows = measure(args.recipe, seed, args.epochs, args.every, args.n_val, overrides)
        rows += seed_rows
        frame = pd.DataFrame(seed_rows)
        ends = frame[frame["epoch"] == frame["epoch"].round()]  # where the environment checks validation
        stop = ends[ends["val_accuracy"] >= stop_at].head(1)
        first = frame[frame["val_accuracy"] >= stop_at].head(1)
        said = (f"stops at epoch {int(stop['epoch'].iloc[0])} (step {int(stop['step'].iloc[0])}): mass "
                f"{stop['mass_focus'].iloc[0]:.3f}" if len(stop) else f"never reaches {stop_at:.2f}")
        print(f"{args.recipe} seed {seed}: val >= {stop_at:.2f} first at step "
              f"{int(first['step'].iloc[0]) if len(first) else '-'} (mass "
              f"{first['mass_focus'].iloc[0] if len(first) else float('nan'):.3f}); {said}; after "
              f"{args.epochs} epochs mass {frame['mass_focus'].iloc[-1]:.3f}, val {frame['val_accuracy'].iloc[-1]:.3f}",
              flush=True)
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
