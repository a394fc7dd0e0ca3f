"""Transformers in the text environments: the Hugging Face adapter, word-level ground truth over
subwords, the attention-family methods (raw attention, rollout, gradient-weighted rollout) and a
local checkpoint through ``--model hf:DIR``. Nothing is downloaded: every model is built from a
config here."""
import json

import pandas as pd
import pytest
import torch

pytest.importorskip("transformers")

from attrlab.cli import main  # noqa: E402
from attrlab.errors import AttrlabError  # noqa: E402
from attrlab.methods import get_method  # noqa: E402
from attrlab.methods.attention import gradient_rollout, rollout  # noqa: E402
from attrlab.metrics.words import special_share, word_sums  # noqa: E402
from attrlab.models.transformer import TransformerClassifier, bert_small, load_checkpoint, train_wordpiece  # noqa: E402
from attrlab.runner import RunConfig, fit_defaults, run  # noqa: E402

DOCS = [["the", "brewer", "poured", "a", "glass"], ["an", "owl", "watched", "the", "pouring", "brewer"]] * 10
# tiny run options: seconds on two cores
TINY = dict(train=200, val=60, test=60, eval_docs=4, hidden=16, heads=2, layers=2, max_epochs=3, restarts=0,
            wordpiece_vocab=80, model="bert-small")


def test_rollout_equals_a_hand_computed_two_layer_case_with_two_heads():
    # layer 1, heads (a, b): head mean [[.5, .5], [.5, .5]]; with the identity at 0.5 and rows
    # renormalised: [[.75, .25], [.25, .75]]. Layer 2, head mean [[1, 0], [0, 1]] -> itself.
    a1 = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    a2 = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    assert torch.allclose(rollout([a1, a2])[0], torch.tensor([[0.75, 0.25], [0.25, 0.75]]))
    # residual 0: the plain product of head means, [[1, 0], [0, 1]] @ [[.5, .5], [.5, .5]]
    assert torch.allclose(rollout([a1, a2], residual=0.0)[0], torch.full((2, 2), 0.5))


def test_gradient_rollout_keeps_only_positive_gradient_times_attention():
    # one layer, one head: Ā = (g ⊙ A)⁺ = [[0, .5], [0, 0]]; R = I + Ā
    a = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])
    g = torch.tensor([[[[-1.0, 1.0], [-2.0, -2.0]]]])
    assert torch.equal(gradient_rollout([a], [g])[0], torch.tensor([[1.0, 0.5], [0.0, 1.0]]))


def test_word_sums_equal_a_hand_computed_case_with_split_words(tmp_path):
    tok = train_wordpiece(DOCS, 40)  # 40 entries: too few for whole words, so words split
    model = bert_small(None, 2, hidden=16, layers=1, heads=2, max_tokens=32, tokenizer=tok)
    ids, words = model.encode([["the", "pouring", "brewer"]])
    pieces = model.tokens(ids[0])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and len(pieces) > 5  # some word was split
    # a map that gives token k the value k: each word is the sum of its pieces' positions
    attr = torch.arange(ids.shape[1], dtype=torch.float32).unsqueeze(0)
    by_hand = [sum(k for k, w in enumerate(words[0].tolist()) if w == i) for i in range(3)]
    assert word_sums(attr, words, 3)[0].tolist() == by_hand
    assert words[0, 0] == -1 and words[0, -1] == -1
    last = ids.shape[1] - 1
    assert special_share(attr, words, ids != 0).item() == pytest.approx(last / sum(range(ids.shape[1])))


def test_a_second_tokenizer_on_the_same_documents_is_the_cached_one(tmp_path):
    # the trainer's ties follow a per-process hash order; the cache makes every model read one vocabulary
    first = train_wordpiece(DOCS, 40, tmp_path)
    second = train_wordpiece(DOCS, 40, tmp_path)
    assert first.get_vocab() == second.get_vocab() and len(list(tmp_path.glob("wordpiece-*.json"))) == 1
    assert first.convert_ids_to_tokens([0, 1, 2, 3]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def test_adapter_swaps_another_padding_id_to_zero_and_masks_padding():
    import transformers

    tok = train_wordpiece(DOCS, 60)
    config = transformers.BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32, num_labels=2)
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(config).eval()
    tok.pad_token = "[UNK]"  # a checkpoint that pads with id 1, as RoBERTa does
    model = TransformerClassifier(hf, tok)
    ids, _ = model.encode([["the", "owl"], ["an", "owl", "watched", "the", "brewer"]])
    assert model.pad_id == 1 and (ids[0] == 0).sum() > 0 and (ids != 1).all()  # attrlab space: 0 pads
    real = model._swap(ids)
    with torch.no_grad():
        expected = hf(input_ids=real, attention_mask=(real != 1).long()).logits
        assert torch.allclose(model(ids), expected)
        alone = model(ids[:1, :4])  # padding changes nothing: the short document alone, unpadded
    assert torch.allclose(model(ids)[:1], alone, atol=1e-5)


def test_attention_methods_read_the_cls_row_and_zero_padding():
    torch.manual_seed(0)
    model = bert_small(DOCS, 2, hidden=16, layers=2, heads=2, vocab_size=60, max_tokens=32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ids, _ = model.encode([["the", "owl"], ["an", "owl", "watched", "the", "brewer"]])
    targets = torch.tensor([0, 1])
    att = model.attentions(ids)
    raw = get_method("raw_attention:layer=0:head=1")(model, ids, targets)
    assert torch.allclose(raw, att[0][:, 1, 0, :] * (ids != 0))
    assert torch.allclose(get_method("raw_attention")(model, ids, targets), model.attention(ids))
    roll = get_method("attention_rollout")(model, ids, targets)
    assert torch.allclose(roll.sum(1), torch.ones(2), atol=1e-5)  # rollout rows stay distributions
    grad = get_method("grad_attention_rollout")(model, ids, targets)
    for m in (raw, roll, grad):
        assert (m[ids == 0] == 0).all()
    with pytest.raises(AttrlabError, match="out of range"):
        get_method("raw_attention:layer=5")(model, ids, targets)


def test_attention_methods_are_refused_for_a_model_without_attentions_and_left_out_of_its_defaults():
    from attrlab.models.text import AttentionClassifier

    bilstm = AttentionClassifier(10, 4, 4, 4)
    with pytest.raises(AttrlabError, match="needs a model with .attentions"):
        get_method("attention_rollout")(bilstm, torch.ones(1, 3, dtype=torch.long), torch.tensor([0]))
    names = ["attention", "attention_rollout", "embedding_ig", "raw_attention"]
    assert [m.label for m in fit_defaults([get_method(n) for n in names], [bilstm])] == ["attention", "embedding_ig"]
    bert = bert_small(DOCS, 2, hidden=16, layers=2, heads=2, vocab_size=60, max_tokens=32)
    labels = [m.label for m in fit_defaults([get_method(n) for n in names], [bert])]
    assert labels == ["attention", "attention_rollout", "embedding_ig", "raw_attention:layer=0",
                      "raw_attention:layer=0:head=0", "raw_attention:layer=0:head=1", "raw_attention:layer=1:head=0",
                      "raw_attention:layer=1:head=1"]


def test_bert_small_run_scores_words_and_reports_the_special_token_share(tmp_path):
    torch.set_num_threads(2)
    out = run(RunConfig(environment="text-attention", settings=["article"], out_dir=tmp_path / "run",
                        options={**TINY, "cache_dir": tmp_path / "cache"}, progress=False))
    rec = pd.read_csv(out / "records.csv")
    assert {"attention_rollout", "grad_attention_rollout", "embedding_ig", "raw_attention:layer=0:head=1"} <= set(rec["method"])
    assert (rec["status"] == "ok").all(), rec[rec["status"] != "ok"]["error"].unique()
    share = rec[rec["metric"] == "special_share"]["value"]
    assert len(share) and share.between(0, 1).all()
    # word-level: mass over the correlating articles lies in [0, 1] and the documents' word counts are facts
    mass = rec[rec["metric"] == "mass_focus"]["value"]
    assert mass.between(0, 1).all()
    details = json.loads((out / "verification.json").read_text())["settings"]["article"]
    assert details["tokenizer"] and details["transformers"] and details["passed"] in (True, False)
    assert "class='tok'" in (out / "report.html").read_text()


def _checkpoint(folder, labels=None, layers=1):
    import transformers

    tok = train_wordpiece(DOCS + [["a", "the", "an", "glass", "owl"]], 120)
    kwargs = {"id2label": dict(enumerate(labels)), "label2id": {v: k for k, v in enumerate(labels)}} if labels else {}
    config = transformers.BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=layers,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=512,
                                     num_labels=len(labels) if labels else 2, pad_token_id=0, **kwargs)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_checkpoint_saved_by_save_pretrained_runs_through_hf_dir(tmp_path):
    folder = _checkpoint(tmp_path / "ckpt")
    model = load_checkpoint(str(folder), ("a", "the"))
    assert isinstance(model, TransformerClassifier) and model.attention_heads == (1, 2)
    torch.set_num_threads(2)
    opts = {**TINY, "model": f"hf:{folder}", "cache_dir": tmp_path / "cache"}
    out = run(RunConfig(environment="text-attention", settings=["article"], out_dir=tmp_path / "run",
                        options=opts, methods=("attention", "attention_rollout", "embedding_gradient"), progress=False))
    rec = pd.read_csv(out / "records.csv")
    assert (rec["status"] == "ok").all() and set(rec["method"]) == {"attention", "attention_rollout",
                                                                   "embedding_gradient"}
    config = json.loads((out / "config.json").read_text())["environment_config"]
    assert config["lr"] == 5e-4  # a transformer's learning rate, not the BiLSTM preset's


@pytest.mark.parametrize("case, message", [
    ("missing", "no such directory"),
    ("not_a_checkpoint", "has no config.json"),
    ("three_labels", "has 3 labels"),
    ("other_labels", "labels are negative, positive"),
])
def test_a_bad_checkpoint_is_one_line_and_exit_2(tmp_path, capsys, case, message):
    folder = tmp_path / "ckpt"
    if case == "not_a_checkpoint":
        folder.mkdir()
        (folder / "weights.bin").write_bytes(b"")
    elif case == "three_labels":
        _checkpoint(folder, ["x", "y", "z"])
    elif case == "other_labels":
        _checkpoint(folder, ["negative", "positive"])
    capsys.readouterr()  # what saving printed
    code = main(["run", "text-attention", "--quick", "--no-progress", "--model", f"hf:{folder}",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_attention_rollout_passes_its_contract_checks(tmp_path):
    from attrlab.checks import check_method

    torch.set_num_threads(2)
    results = check_method("attention_rollout", groups=("contract",), cache_dir=str(tmp_path / "cache"))
    assert results and all(r.status == "pass" for r in results), [(r.name, r.status, r.reason) for r in results]


def test_special_tokens_are_never_deleted_ranked_or_pointed_at_by_the_automatic_metrics():
    from attrlab.metrics import Probe
    from attrlab.metrics.complexity import pointing_game
    from attrlab.metrics.text_faithfulness import eraser_aopc

    class ReadsCls(torch.nn.Module):  # class 0 is sure exactly when [CLS] (id 2) opens the document
        def forward(self, ids):
            on = (ids[:, 0] == 2).float() * 4
            return torch.stack([on, torch.zeros_like(on)], 1)

    ids = torch.tensor([[2, 7, 8, 9, 3, 0]])
    attr = torch.tensor([[5.0, 1.0, 0.5, 0.2, 4.0, 0.0]])  # rollout-like: the specials rank first
    fixed = torch.tensor([[True, False, False, False, True, False]])
    with_fixed = eraser_aopc(Probe(ReadsCls(), ids, torch.tensor([0]), attr, fixed=fixed))
    assert with_fixed["comprehensiveness"].item() == 0 and with_fixed["sufficiency"].item() == 0
    without = eraser_aopc(Probe(ReadsCls(), ids, torch.tensor([0]), attr))
    assert without["comprehensiveness"].item() > 0.4  # deleting [CLS] first is what the metric then measures
    region = torch.tensor([[False, True, False, False, False, False]])
    assert pointing_game(Probe(ReadsCls(), ids, torch.tensor([0]), attr, region=region, fixed=fixed)).item() == 1
