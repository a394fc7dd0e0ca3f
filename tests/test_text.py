"""Semi-natural text (Zhou et al. 2022 §6): manipulations and their token masks, corpus loaders,
the attention model, text methods, and a tiny end-to-end run."""
import json

import numpy as np
import pytest
import torch

from attrlab.data.text import ARTICLES, Vocabulary, load_corpus, manipulate, tokenize, usable
from attrlab.errors import AttrlabError
from attrlab.methods import get_method
from attrlab.models.text import AttentionClassifier

DOC = tokenize("The brewer poured a glass. An owl watched the head fall, and a fox ate the bread. The end came at an hour.")


@pytest.mark.parametrize("label", [0, 1])
def test_article_manipulation_rewrites_every_article_by_the_label(label):
    m = manipulate(DOC, "article", label, np.random.default_rng(0))
    word = "the" if label else "a"
    positions = [i for i, t in enumerate(DOC) if t in ARTICLES]
    assert m.correlating == positions and m.non_correlating == []
    assert all(m.tokens[i] == word for i in positions)
    assert all(m.tokens[i] == DOC[i] for i in range(len(DOC)) if i not in positions)


@pytest.mark.parametrize("kind", ["cn", "nc"])
def test_cn_and_nc_split_the_review_into_correlating_and_decoy_halves(kind):
    mid = len(DOC) // 2
    seen_decoys = set()
    for seed in range(12):
        for label in (0, 1):
            m = manipulate(DOC, kind, label, np.random.default_rng(seed))
            corr_half = (lambda i: i < mid) if kind == "cn" else (lambda i: i >= mid)
            assert m.correlating and m.non_correlating
            assert all(corr_half(i) for i in m.correlating) and not any(corr_half(i) for i in m.non_correlating)
            assert {m.tokens[i] for i in m.correlating} == {"the" if label else "a"}
            decoys = {m.tokens[i] for i in m.non_correlating}
            assert len(decoys) == 1          # one article for the whole decoy half…
            seen_decoys |= decoys
            assert sorted(m.correlating + m.non_correlating) == [i for i, t in enumerate(DOC) if t in ARTICLES]
    assert seen_decoys == set(ARTICLES)      # …drawn independently of the label
    assert not usable(tokenize("no articles here at all, none."), kind)


def test_corpus_loaders(tmp_path):
    (tmp_path / "r.txt").write_text("A fine beer.\n\nThe head is thin.\n")
    assert load_corpus(str(tmp_path / "r.txt")) == ["A fine beer.", "The head is thin."]
    (tmp_path / "r.csv").write_text("id,review\n1,An amber pour.\n2,\"Thin, the lacing.\"\n")
    assert load_corpus(str(tmp_path / "r.csv"), column="review") == ["An amber pour.", "Thin, the lacing."]
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": "A haze."}) + "\n")
    assert load_corpus(str(tmp_path / "r.jsonl")) == ["A haze."]
    with pytest.raises(AttrlabError, match="no column"):
        load_corpus(str(tmp_path / "r.csv"))
    with pytest.raises(AttrlabError, match="does not exist"):
        load_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(AttrlabError, match="use .txt"):
        (tmp_path / "r.xml").write_text("<a/>")
        load_corpus(str(tmp_path / "r.xml"))


def test_attention_model_ignores_padding_and_methods_score_only_real_tokens():
    torch.manual_seed(0)
    model = AttentionClassifier(vocab_size=30, emb=8, hidden=6, attn=5).eval()
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 0, 0, 0]])
    longer = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        assert torch.allclose(model(ids), model(longer)[:, :], atol=1e-6)  # padding never reaches a token
        a = model.attention(ids)
    assert torch.allclose(a.sum(1), torch.ones(2)) and (a[ids == 0] == 0).all()
    for spec in ("attention", "embedding_gradient", "embedding_ig:steps=8"):
        out = get_method(spec)(model, ids, torch.tensor([0, 1]))
        assert out.shape == ids.shape and (out[ids == 0] == 0).all() and out[ids != 0].abs().sum() > 0
    with pytest.raises(AttrlabError, match=r"needs a model with .attention\(\)"):
        get_method("attention")(torch.nn.Linear(6, 2), ids.float(), torch.tensor([0, 1]))


def test_vocabulary_reserves_padding_and_unknown():
    v = Vocabulary([["the", "the", "owl"]])
    assert v.itos[:3] == ["<pad>", "<unk>", "the"]
    assert v.encode([["owl", "fox"]], 3).tolist() == [[3, 1, 0]]


def test_tiny_text_attention_run(tmp_path):
    import pandas as pd

    from attrlab.runner import RunConfig, run

    torch.set_num_threads(2)
    # restarts=0: six epochs of a 16-unit model rarely reach the 0.99 validation target, and the
    # restarts' best-on-validation model (measured: val 1.0, test 0.9625) is not what this checks
    opts = dict(train=300, val=80, test=80, eval_docs=6, emb=16, hidden=16, attn=16, max_epochs=6, restarts=0,
                cache_dir=tmp_path / "cache")
    out = run(RunConfig(environment="text-attention", settings=["article", "cn"], out_dir=tmp_path / "run",
                        options=opts, progress=False))
    ver = json.loads((out / "verification.json").read_text())["settings"]
    assert ver["article"]["passed"], ver["article"]
    rec = pd.read_csv(out / "records.csv")
    assert set(rec["method"]) == {"attention", "embedding_gradient", "embedding_ig"}
    cn = rec[(rec["setting"] == "cn") & (rec["metric"] == "mass_avoid")]
    assert len(cn) == 3 * 6 and cn["value"].between(0, 1).all()
    html = (out / "report.html").read_text()
    assert "Zhou et al. Table 1" in html and "class='tok'" in html and "<script" not in html


def test_cr_loss_is_cross_entropy_plus_the_batch_selection_regulariser():
    from torch.nn import functional as F

    from attrlab.models.rationale import _L, _R, _kuma_cdf, RationaleModel

    ids = torch.tensor([[2, 3, 4, 5, 6], [7, 8, 9, 0, 0]])
    y = torch.tensor([0, 1])
    for cost in ("batch", "document"):
        losses = {}
        for strength in (0.0, 2.0):
            torch.manual_seed(0)
            m = RationaleModel(12, "cr", emb=8, hidden=6, selection=0.2, strength=strength, sel_cost=cost)
            torch.manual_seed(1)
            losses[strength] = m.training_loss(ids, y).item()
        mask, (a, b) = m._gate_params(ids)
        p_nonzero = 1 - _kuma_cdf(torch.full_like(a, -_L / (_R - _L)), a, b)
        if cost == "batch":  # Σ expected rationale length / Σ review length (the paper's §7)
            reg = abs(((p_nonzero * mask).sum() / mask.sum()).item() - 0.2)
        else:  # per document, averaged
            reg = ((p_nonzero * mask).sum(1) / mask.sum(1) - 0.2).abs().mean().item()
        assert losses[2.0] - losses[0.0] == pytest.approx(2.0 * reg, abs=1e-5)
    assert F.cross_entropy(m.classify(ids, m.rationale(ids)), y) >= 0


@pytest.mark.parametrize("kind", ["rl", "cr"])
def test_selection_regulariser_pulls_the_rate_to_the_target(kind):
    from attrlab.models.rationale import RationaleModel

    torch.manual_seed(0)
    ids = torch.randint(2, 40, (32, 20))
    y = torch.randint(0, 2, (32,))
    m = RationaleModel(40, kind, emb=8, hidden=8, selection=0.1, strength=5.0)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    start = m.selection_rate(ids)
    for _ in range(40):
        opt.zero_grad()
        m.training_loss(ids, y).backward()
        opt.step()
    end = m.selection_rate(ids)
    assert abs(end - 0.1) < abs(start - 0.1) and abs(end - 0.1) < 0.1, (start, end)


def test_tiny_text_rationale_run(tmp_path):
    import pandas as pd

    from attrlab.runner import RunConfig, run

    torch.set_num_threads(2)
    opts = dict(train=300, val=60, test=60, eval_docs=6, emb=16, hidden=16, max_epochs=3, cache_dir=tmp_path / "c")
    out = run(RunConfig(environment="text-rationale", settings=["cn-cr-sel0.05"], out_dir=tmp_path / "run",
                        options=opts, progress=False))
    ver = json.loads((out / "verification.json").read_text())["settings"]["cn-cr-sel0.05"]
    assert {"test_selection", "target_selection", "test_accuracy", "passed"} <= set(ver)
    rec = pd.read_csv(out / "records.csv")
    assert {"precision_focus", "recall_focus", "precision_avoid"} <= set(rec["metric"])
    assert set(rec["method"]) == {"rationale"}
    assert (out / "figures" / "rationale_precision_recall.png").exists()
    with pytest.raises(AttrlabError, match="settings look like"):
        run(RunConfig(environment="text-rationale", settings=["cn-svm-sel0.05"], out_dir=tmp_path / "bad",
                      options=opts, progress=False))


def test_word2vec_embeddings_are_pretrained_on_the_corpus_frozen_and_keyed():
    pytest.importorskip("gensim", reason="gensim is the optional text extra (pip install 'attrlab[text]')")
    from attrlab.environments import get_environment
    from attrlab.models.embeddings import word2vec_matrix

    reg = get_environment("text-attention")
    tiny = {**reg.spec.test_options, "emb": 8}
    env = reg.build("quick", seed=0, settings=["article"], embeddings="word2vec", **tiny)
    model = env.eval_sets[0].model
    assert not model.embedding.weight.requires_grad
    assert float(model.embedding.weight[0].abs().sum()) == 0.0  # padding row
    learned = reg.build("quick", seed=0, settings=["article"], **tiny).eval_sets[0].model
    assert not torch.equal(model.embedding.weight, learned.embedding.weight)  # another cache entry, other weights


def test_length_window_leaves_out_short_documents():
    from attrlab.environments.text_attention import documents

    short, _ = documents("", {"max_len": 150, "min_len": 1}, 0)
    window, _ = documents("", {"max_len": 150, "min_len": 40}, 0)
    assert min(map(len, window)) >= 40 and len(window) < len(short)
    with pytest.raises(AttrlabError, match="min_len"):
        documents("", {"max_len": 150, "min_len": 100_000}, 0)


def test_rationale_batch_cost_reaches_the_generator_and_document_cost_is_kept_as_an_option():
    from attrlab.models.rationale import RationaleModel

    ids = torch.tensor([[2, 3, 4, 5, 6, 7], [8, 9, 10, 0, 0, 0]])
    labels = torch.tensor([0, 1])
    def gate_grad(kind, cost, strength):
        torch.manual_seed(0)
        m = RationaleModel(20, kind, emb=4, hidden=3, selection=0.9, strength=strength, sel_cost=cost)
        m.training_loss(ids, labels)  # RL: the first batch sets the batch cost's running baseline
        m.zero_grad()
        m.training_loss(ids, labels).backward()
        return m.gate.weight.grad.clone()

    for kind in ("rl", "cr"):
        for cost in ("batch", "document"):
            # the %Sel regulariser changes the generator's gradient (the batch mean would cancel a
            # shared REINFORCE cost exactly; a running baseline does not)
            assert not torch.allclose(gate_grad(kind, cost, 50.0), gate_grad(kind, cost, 0.0)), (kind, cost)
    with pytest.raises(AttrlabError, match="unknown %Sel cost"):
        RationaleModel(20, "rl", sel_cost="sentence")
    assert "cost_baseline" not in RationaleModel(20, "rl").state_dict()  # caches stay tensors of weights only


def test_embedding_methods_find_a_users_only_embedding_under_any_name():
    class BagOfWords(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.words = torch.nn.Embedding(20, 8, padding_idx=0)
            self.out = torch.nn.Linear(8, 2)

        def forward(self, ids):
            return self.out(self.words(ids).sum(1))

    torch.manual_seed(0)
    ids = torch.tensor([[2, 3, 4, 0], [5, 6, 0, 0]])
    for spec in ("embedding_gradient", "embedding_ig:steps=8"):
        out = get_method(spec)(BagOfWords(), ids, torch.tensor([0, 1]))
        assert out.shape == ids.shape and (out[ids == 0] == 0).all() and out[ids != 0].abs().sum() > 0
    two = torch.nn.Sequential(torch.nn.Embedding(20, 4), torch.nn.Embedding(20, 4))
    with pytest.raises(AttrlabError, match="one nn.Embedding .*Sequential has 2"):
        get_method("embedding_gradient")(two, ids, torch.tensor([0, 1]))
