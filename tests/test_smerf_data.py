"""SMERF's TextBox generator and the Table 1 settings (Kim et al. 2021)."""
import numpy as np
import pytest
import torch

from attrlab.data.textbox import BOX1, BOX2, OBJECTS, bucket_of, contents_of, generate_textbox, load_image_folder
from attrlab.environments.smerf_table import get_setting
from attrlab.errors import AttrlabError

A, B = 1, 2

# Table 1's "Reasoning" row, as rules of (text, box1, box2) -> label or None
RULES = {
    "simple-fr": lambda t, b1, b2: 1 if b1 else 0,
    "simple-nr": lambda t, b1, b2: {A: 0, B: 1}.get(t),
    "complex-fr": lambda t, b1, b2: 1 if (b1 and b2) else 0,
    "complex-cr1": lambda t, b1, b2: (1 if b1 else 0) if b2 else {A: 0, B: 1}.get(t),
    "complex-cr2": lambda t, b1, b2: (1 if b2 else 0) if b1 else {A: 0, B: 1}.get(t),
    "complex-cr3": lambda t, b1, b2: {A: 0, B: 1}.get(t) if b2 else (1 if b1 else 0),
    "complex-cr4": lambda t, b1, b2: {A: 0, B: 1}.get(t) if b1 else (1 if b2 else 0),
}
N_BUCKETS = {"simple-fr": 12, "simple-nr": 8, "complex-fr": 12, "complex-cr1": 10, "complex-cr2": 10,
             "complex-cr3": 10, "complex-cr4": 10}


@pytest.mark.parametrize("name", sorted(RULES))
def test_table1_labels_follow_the_reasoning_row(name):
    s = get_setting(name)
    for bucket in range(1, 13):
        assert s.labels[bucket] == RULES[name](*contents_of(bucket)), (name, bucket)
    assert len(s.labelled_buckets) == N_BUCKETS[name]


@pytest.mark.parametrize("name", sorted(RULES))
def test_table1_focus_and_avoid_name_only_objects_present_and_never_both(name):
    s = get_setting(name)
    for bucket in s.labelled_buckets:
        text, b1, b2 = contents_of(bucket)
        present = {"text": bool(text), "box1": b1, "box2": b2}
        for obj in s.focus[bucket] + s.avoid[bucket]:
            assert present[obj], (name, bucket, obj)
        assert not set(s.focus[bucket]) & set(s.avoid[bucket])


def test_table1_spot_checks_verbatim():
    assert get_setting("complex-fr").focus[10] == ("box1", "box2")
    assert get_setting("complex-fr").avoid[8] == ()  # the table lists nothing to avoid for bucket 8
    assert get_setting("simple-fr").avoid[5] == ("box2", "text")
    assert get_setting("complex-cr3").focus[5] == ("box2", "text")
    assert get_setting("complex-cr4").avoid[11] == ("box2",)
    assert get_setting("complex-fr").train_per_bucket == {0: 2000, 1: 6000}
    assert get_setting("complex-cr1").val_per_bucket == 400
    with pytest.raises(AttrlabError, match="unknown SMERF setting"):
        get_setting("complex-cr5")


def test_bucket_numbering_matches_figure5():
    assert [contents_of(b) for b in (1, 4, 7, 10)] == [(0, False, False), (0, False, True), (0, True, False), (0, True, True)]
    assert all(bucket_of(*contents_of(b)) == b for b in range(1, 13))


@pytest.mark.parametrize("background", ["black", "noise", "natural"])
def test_textbox_bucket_contents_masks_exact_and_no_overlap(background):
    buckets = list(range(1, 13)) * 4
    b = generate_textbox(buckets, seed=3, background=background)
    assert b.images.shape == (48, 3, 64, 64) and b.images.min() >= 0 and b.images.max() <= 1
    for i, bucket in enumerate(buckets):
        text, b1, b2 = contents_of(bucket)
        m = {o: b.masks[o][i] for o in OBJECTS}
        assert bool(m["text"].any()) == bool(text)
        assert int(m["box1"].sum()) == (BOX1 * BOX1 if b1 else 0)
        assert int(m["box2"].sum()) == (BOX2 * BOX2 if b2 else 0)
        assert int(m["text"].int().sum() + m["box1"].int().sum() + m["box2"].int().sum()) == int(
            (m["text"] | m["box1"] | m["box2"]).sum())  # no overlaps
        img = b.images[i]
        for o in ("box1", "box2"):  # boxes are exactly white on their mask
            if m[o].any():
                assert torch.all(img[:, m[o]] == 1.0)
        if text:  # the text mask is the bounding box of its inked pixels
            ink = (img == 1.0).all(0) & m["text"]
            rows, cols = torch.where(ink)
            box = torch.zeros_like(ink)
            box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            assert torch.equal(box, m["text"])
    if background == "noise":
        bg = ~(b.masks["text"] | b.masks["box1"] | b.masks["box2"])
        vals = (b.images.permute(0, 2, 3, 1)[bg] * 255).round()
        assert vals.max() <= 150 and vals.min() >= 0


def test_textbox_is_seeded_and_letters_differ():
    a = generate_textbox([2, 3], seed=5)
    assert torch.equal(a.images, generate_textbox([2, 3], seed=5).images)
    assert not torch.equal(a.images, generate_textbox([2, 3], seed=6).images)
    glyph_a = a.images[0][:, a.masks["text"][0]]
    glyph_b = a.images[1][:, a.masks["text"][1]]
    assert glyph_a.shape != glyph_b.shape or not torch.equal(glyph_a, glyph_b)


def test_user_folder_backgrounds(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((100, 120, 3), 200, np.uint8)).save(tmp_path / "x.jpg")
    photos = load_image_folder(tmp_path)
    b = generate_textbox([1], seed=0, background="natural", photos=photos)
    assert torch.allclose(b.images[0], torch.full((3, 64, 64), 200 / 255 * 0.7), atol=2e-2)
    with pytest.raises(AttrlabError, match="no images"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(AttrlabError, match="unknown background"):
        generate_textbox([1], background="white")


def test_training_images_stored_as_uint8_give_the_same_batches_in_a_fraction_of_the_memory():
    import torch

    from attrlab.data.textbox import generate_textbox

    for background, channels in (("black", 1), ("noise", 3)):
        full = generate_textbox([1, 5, 12, 7], seed=3, background=background)
        stored = generate_textbox([1, 5, 12, 7], seed=3, background=background, stored=True)
        assert stored.images.data.dtype == torch.uint8 and stored.images.data.shape[1] == channels
        assert stored.masks == {}
        idx = torch.tensor([2, 0])
        assert torch.equal(stored.images[idx], full.images[idx])  # exact: black and noise are multiples of 1/255
        assert stored.images.nbytes * 4 * 3 // channels == full.images.numel() * 4
