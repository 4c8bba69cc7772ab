import re

import numpy as np
import pytest
import torch

import swin_viz
from swin_viz import data
from swin_viz.pretrained import load_pretrained
from swin_viz.probes import reach_counts, receptive_field_stacks
from swin_viz.viz import IMAGES, load_image, normalize, to_matplotlib, to_plotly
from swin_viz.viz.attention_cache import cache_for as _cache_for
from swin_viz.viz.attention_cache import pick_images
from swin_viz.viz.attention_maps import (
    BENCH_CHANGES,
    STATIC_DISPLAY,
    STATIC_STATES,
    attention_maps_clamp,
    attention_maps_explorer,
    attention_maps_spec,
    attention_maps_static,
)
from swin_viz.viz.explorer import torch_threads
from swin_viz.viz.receptive_field import (
    RECEPTIVE_FIELD_BENCH_CHANGES,
    RECEPTIVE_FIELD_STATIC_STATES,
    receptive_field_explorer,
    receptive_field_spec,
    receptive_field_static,
)
from swin_viz.viz.sources import default_model, digits_val, trained_model

HEAT = 6  # trace index of the attention heatmap: the image panel draws an image and 5 overlay traces first
NAME = re.compile(r"digit (\d) \(val #(\d+)\)")


@pytest.fixture(scope="module")
def probs() -> dict[str, torch.Tensor]:
    """The random model's attention on the astronaut, from our own forward pass (not the module's cache)."""
    x = normalize(load_image("astronaut", 224))[None]
    with torch.no_grad(), torch_threads(1):  # small tensors: a second thread only hurts on a busy 2-core machine
        _, cache = default_model().run_with_cache(x, names="*.attn.hook_probs")
    return cache


@pytest.fixture(scope="module")
def shipped() -> tuple[swin_viz.SwinTransformer, dict]:
    """The shipped checkpoint, loaded here independently of the module's own cached copy."""
    return load_pretrained("digits-small")


def digit_input(name: str) -> torch.Tensor:
    """``(1, 3, 32, 32)``: validation digit ``name`` ("digit 3 (val #7)") as the model was trained to see it."""
    label, index = (int(v) for v in NAME.fullmatch(name).groups())
    val = data.load_digits(size=32, split="val")
    assert int(val.labels[index]) == label  # the name tells the truth
    return data.normalize(val.images[index : index + 1].float() / 255.0)


def digit_forward(model: swin_viz.SwinTransformer, name: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    with torch.no_grad(), torch_threads(1):
        return model.run_with_cache(digit_input(name), names="*.attn.hook_probs")


def brute_force_map(probs: torch.Tensor, H: int, W: int, window, shift, row: int, col: int, head: int) -> np.ndarray:
    """Attention of query (row, col) on the H x W map, by sending a one-hot query through the library's forward
    layout (pad, shift, partition) and the attention rows back through its inverse (window_reverse, reverse shift)."""
    onehot = torch.zeros(1, H, W, 1)
    onehot[0, row, col] = 1
    padded, _ = swin_viz.pad_to_window(onehot, window)
    Hp, Wp = padded.shape[1:3]
    if shift != (0, 0):
        padded = swin_viz.cyclic_shift(padded, shift)
    q = swin_viz.window_partition(padded, window).reshape(-1, window[0] * window[1])  # (nW, N) one-hot
    rows = torch.einsum("wn,wnm->wm", q, probs[:, head])  # (nW, N): the query's row in its window, 0 elsewhere
    back = swin_viz.window_reverse(rows.reshape(-1, window[0], window[1], 1), window, Hp, Wp)
    if shift != (0, 0):
        back = swin_viz.reverse_cyclic_shift(back, shift)
    return back[0, :H, :W, 0].numpy()


def covered(rects, H: int, W: int, style: str = "grid") -> np.ndarray:
    out = np.zeros((H, W), dtype=bool)
    for r in rects:
        if r.style == style:
            out[int(r.r0) : int(r.r1), int(r.c0) : int(r.c1)] = True
    return out


def _photo(trace) -> object:
    """What an image trace shows: a PNG data URI (``source``) or the pixels (``z``), whichever the renderer sends."""
    return trace.source if trace.source is not None else np.asarray(trace.z).tobytes()


CASES = [("stage1.block0", 20, 26, 0), ("stage1.block1", 20, 26, 0), ("stage1.block1", 54, 1, 0),
         ("stage1.block1", 55, 55, 0), ("stage2.block1", 10, 27, 1), ("stage3.block1", 13, 2, 3),
         ("stage4.block0", 3, 3, 7)]  # fmt: skip


@pytest.mark.parametrize(("block", "row", "col", "head"), CASES)
def test_attention_map_matches_brute_force(probs, block: str, row: int, col: int, head: int) -> None:
    spec = attention_maps_spec("astronaut", block, row, col, head, source="random")
    stage = int(block[5])
    H = 56 // 2 ** (stage - 1)
    window, shift = swin_viz.effective_window(H, H, 7, 3 if block.endswith("1") else 0)
    expected = brute_force_map(probs[f"{block}.attn.hook_probs"], H, H, window, shift, row, col, head)
    heat = spec.panels[1].z
    np.testing.assert_allclose(heat, expected, atol=1e-6)
    assert heat.sum() == pytest.approx(1.0, abs=1e-5)  # 224 / 4 / 2**k is a multiple of 7: no padding
    inside = covered(spec.panels[1].rects, H, H)
    assert inside[row, col] and inside.sum() == window[0] * window[1]  # the outlined window holds the query
    assert np.all(heat[~inside] == 0)
    assert spec.panels[1].colorbar == "attention probability" and "randomly initialised" in spec.title
    if shift == (0, 0):  # W-MSA: the outlined window is window_partition's window
        ids = torch.arange(H * H).reshape(1, H, H, 1)
        windows = swin_viz.window_partition(ids, window).reshape(-1, window[0] * window[1])
        mine = next(w for w in windows.tolist() if row * H + col in w)
        assert set(np.flatnonzero(inside)) == set(mine)
    else:  # SW-MSA: attention stays in the query's region of the rolled map (the mask), map coordinates
        labels = swin_viz.region_labels(H, H, window, shift)[None, :, :, None]
        labels = swin_viz.reverse_cyclic_shift(labels, shift)[0, :, :, 0].numpy()
        assert np.all(labels[heat > 1e-12] == labels[row, col])
    # The patch on the photograph: stride 4 * 2**(stage-1) pixels, at the query's place.
    stride = 4 * 2 ** (stage - 1)
    (patch,) = [r for r in spec.panels[0].rects if r.style == "highlight"]
    assert (patch.r0, patch.c0, patch.r1, patch.c1) == (row * stride, col * stride, (row + 1) * stride,
                                                        (col + 1) * stride)  # fmt: skip
    assert spec.panels[0].z.shape == (224, 224, 3)


def test_both_backends_draw_attention_maps() -> None:
    for block, row, col, head in CASES[1:3]:
        spec = attention_maps_spec("chelsea", block, row, col, head, display_size=STATIC_DISPLAY, source="random")
        fig = to_plotly(spec)
        assert fig.data[HEAT].type == "heatmap" and fig.data[0].type == "image"
        to_matplotlib(spec)
    assert "wraps round" in attention_maps_spec(block="stage1.block1", row=54, col=1, source="random").caption
    for block, row, col, head in DIGIT_CASES[:3]:
        spec = attention_maps_spec(5, block, row, col, head)
        fig = to_plotly(spec)
        assert fig.data[HEAT].type == "heatmap" and fig.data[0].type == "image"
        to_matplotlib(spec)


def test_one_forward_pass_per_image_and_weights(make_tiny) -> None:
    model = make_tiny()  # window 4: stage 3 has 14 x 14 tokens, padded to 16 x 16
    calls = []
    original = model.run_with_cache

    def counting(*args, **kwargs):
        calls.append(kwargs.get("names"))
        return original(*args, **kwargs)

    model.run_with_cache = counting
    for row in range(3):
        spec = attention_maps_spec("coffee", "stage1.block1", row, 5, 1, model=model, weights_label="tiny weights")
    assert calls == ["*.attn.hook_probs"] and "tiny weights" in spec.title and "randomly" not in spec.title
    spec = attention_maps_spec("coffee", "stage3.block0", 13, 13, 7, model=model)
    assert len(calls) == 1 and "weights supplied by the caller" in spec.title
    heat = spec.panels[1].z
    assert heat.shape == (14, 14) and 0 < heat.sum() < 1 and "padding" in spec.caption  # 7 of 16 keys are padding
    x = normalize(load_image("coffee", 224))[None]
    with torch.no_grad(), torch_threads(1):
        _, cache = original(x, names="stage3.block0.attn.hook_probs")
    expected = brute_force_map(cache["stage3.block0.attn.hook_probs"], 14, 14, (4, 4), (0, 0), 13, 13, 7)
    np.testing.assert_allclose(heat, expected, atol=1e-6)
    with torch.no_grad():
        model.stage1.block1.attn.qkv.weight.mul_(2.0)  # new weights: the cache must not serve the old ones
    attention_maps_spec("coffee", "stage1.block1", 0, 5, 1, model=model)
    assert len(calls) == 2


def test_attention_explorer_on_random_weights_driven_headlessly(probs) -> None:
    ex = attention_maps_explorer(source="random")
    assert ex.controls["block"].options[0] == "stage1.block0" and len(ex.controls["block"].options) == 8
    ex.set(block="stage2.block1", row=5, col=7, head=1)
    assert ex.state == dict(image="astronaut", block="stage2.block1", row=5, col=7, head=1)
    expected = brute_force_map(probs["stage2.block1.attn.hook_probs"], 28, 28, (7, 7), (3, 3), 5, 7, 1)
    np.testing.assert_allclose(np.asarray(ex.figure.data[HEAT].z), expected, atol=1e-6)
    assert (ex.controls["row"].max, ex.controls["head"].max) == (27, 1)

    ex.set(row=100)  # beyond the map: clamped, explained
    assert ex.state["row"] == 27 and "clamped" in ex.message.value
    ex.set(head=6)
    assert ex.state["head"] == 1 and "head" in ex.message.value
    ex.set(block="stage4.block1", head=7)  # same image patch, coarser stage: the query follows it
    assert (ex.state["row"], ex.state["col"]) == (6, 1) and "moved" in ex.message.value
    assert ex.controls["row"].max == 6 and ex.state["head"] == 7
    ex.set(block="stage1.block0", head=0)
    assert (ex.state["row"], ex.state["col"]) == (52, 12) and "moved" in ex.message.value
    assert np.asarray(ex.figure.data[HEAT].z).shape == (56, 56)
    state, note = attention_maps_clamp(dict(image="nope", block="stage9.block0", row=3, col=3, head=0),
                                       source="random")  # fmt: skip
    assert (state["image"], state["block"]) == (IMAGES[0], "stage1.block0") and "no block" in note

    photo = _photo(ex.figure.data[0])
    ex.set(image="rocket")
    assert ex.state["image"] == "rocket" and _photo(ex.figure.data[0]) != photo
    rocket = _cache_for(None, "random").probs("rocket")["stage1.block0"]
    x = normalize(load_image("rocket", 224))[None]
    with torch.no_grad(), torch_threads(1):
        _, cache = default_model().run_with_cache(x, names="stage1.block0.attn.hook_probs")
    np.testing.assert_allclose(rocket, cache["stage1.block0.attn.hook_probs"].numpy(), atol=1e-6)
    assert "randomly initialised weights" in ex.figure.layout.title.text
    assert "predicts" not in ex.spec.caption  # no class names for a random model on photographs


def test_attention_static_has_one_step_per_state(shipped) -> None:
    fig = attention_maps_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    names = _cache_for().names
    for k in (3, 5):
        state = {**STATIC_STATES[k], "image": names[STATIC_STATES[k]["image"]]}
        z = np.asarray(steps[k].args[0]["z"][HEAT], dtype=float)
        np.testing.assert_allclose(z, attention_maps_spec(**state).panels[1].z, atol=1e-6)
        assert state["image"] in steps[k].label
        title = steps[k].args[1]["title"]
        assert f"val top-1 {shipped[1]['val_top1']:.1f}%" in title["text"] and "trained weights" in title["text"]
        assert "randomly" not in title["text"] and "predicts" in title["subtitle"]["text"]
    assert {s["block"] for s in STATIC_STATES} >= {"stage1.block0", "stage1.block1", "stage3.block0"}
    assert len(fig.to_json()) < 1.5e6
    random = attention_maps_static(source="random", states=[
        dict(image="astronaut", block="stage1.block1", row=54, col=1, head=0),
        dict(image="chelsea", block="stage4.block0", row=3, col=3, head=5)])  # fmt: skip
    assert "randomly initialised" in random.layout.sliders[0].steps[1].args[1]["title"]["text"]
    assert len(random.to_json()) < 1.5e6
    for name in IMAGES:  # every photograph the random source's dropdown offers can be loaded
        assert _cache_for(None, "random").photo(name, 32).shape == (32, 32, 3)


# ------------------------------------------------------------------------------- the shipped trained checkpoint
DIGIT_CASES = [("stage1.block0", 7, 5, 0), ("stage1.block1", 7, 5, 1), ("stage1.block1", 0, 15, 0),
               ("stage1.block1", 15, 1, 1), ("stage2.block0", 3, 2, 2), ("stage2.block1", 7, 0, 3),
               ("stage3.block0", 1, 1, 5), ("stage3.block1", 3, 2, 7)]  # fmt: skip


def test_default_source_is_the_shipped_checkpoint_on_validation_digits(shipped) -> None:
    model, info = trained_model()
    reference, ref_info = shipped
    for (name, p), (ref_name, q) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert name == ref_name and torch.equal(p, q), name
    assert info == ref_info and not model.training
    cache = _cache_for()
    assert cache.model is model and cache.image_size == 32 and cache.noun == "digit"
    cfg = model.config
    assert (cfg.patch_size, cfg.window_size, len(model.stages)) == (2, 4, 3)
    # 12 validation digits: each of 0..9 at least once, named by their true digit and index in the val split
    val = digits_val()
    assert len(cache.names) == 12 and val.images.shape[1:] == (3, 32, 32)
    found = [tuple(int(v) for v in NAME.fullmatch(n).groups()) for n in cache.names]
    assert {d for d, _ in found} == set(range(10))
    assert all(int(val.labels[i]) == d for d, i in found)
    assert [i for _, i in found] == pick_images(val.labels)

    ex = attention_maps_explorer()
    assert list(ex.controls["image"].options) == list(cache.names) and ex.controls["image"].description == "digit"
    assert ex.controls["block"].options == tuple(f"stage{s}.block{j}" for s in (1, 2, 3) for j in (0, 1))
    label = f"trained weights (digits-small, val top-1 {ref_info['val_top1']:.1f}%)"
    assert ex.figure.layout.title.text.endswith(label) and "randomly" not in ex.figure.layout.title.text
    assert f"Weights: {ref_info['what']}, {ref_info['epochs']} epochs" in ex.spec.caption
    r, c = ex.state["row"], ex.state["col"]  # the default query sits on the digit's stroke
    assert cache.photo(ex.state["image"], 32)[2 * r : 2 * r + 2, 2 * c : 2 * c + 2].mean() > 100
    _, ref = digit_forward(reference, ex.state["image"])
    expected = brute_force_map(ref["stage1.block1.attn.hook_probs"], 16, 16, (4, 4), (2, 2), r, c, 0)
    np.testing.assert_allclose(np.asarray(ex.figure.data[HEAT].z), expected, atol=1e-5)

    ex.set(image=cache.names[7], block="stage3.block1", head=7)  # 4 x 4 tokens of 8 px: one window, no shift
    assert ex.state["image"] == cache.names[7] and (ex.controls["row"].max, ex.controls["head"].max) == (3, 7)
    assert "moved" in ex.message.value and "tokens of 8 px" in ex.spec.caption
    ex.set(row=9, head=9)
    assert (ex.state["row"], ex.state["head"]) == (3, 7) and "clamped" in ex.message.value
    for change in BENCH_CHANGES:
        ex.set(**change)
        assert "Could not draw" not in ex.message.value, change
    assert len(ex.timings) >= len(BENCH_CHANGES)
    with pytest.raises(ValueError, match="unknown source"):
        attention_maps_spec(source="imagenet")


@pytest.mark.parametrize(("block", "row", "col", "head"), DIGIT_CASES)
def test_digits_attention_map_matches_brute_force(shipped, block: str, row: int, col: int, head: int) -> None:
    """Patch 2, window 4, three stages: 16 x 16 (shift 2), 8 x 8 (shift 2), 4 x 4 (one window, no shift)."""
    name = _cache_for().names[3]
    spec = attention_maps_spec(name, block, row, col, head)
    stage = int(block[5])
    H = 16 // 2 ** (stage - 1)
    window, shift = swin_viz.effective_window(H, H, 4, 2 if block.endswith("1") else 0)
    assert (window, shift) == ((4, 4), (0, 0) if stage == 3 or block.endswith("0") else (2, 2))
    _, ref = digit_forward(shipped[0], name)
    expected = brute_force_map(ref[f"{block}.attn.hook_probs"], H, H, window, shift, row, col, head)
    heat = spec.panels[1].z
    np.testing.assert_allclose(heat, expected, atol=1e-5)
    assert heat.sum() == pytest.approx(1.0, abs=1e-5)  # 16 / 2**k is a multiple of 4: no padding
    inside = covered(spec.panels[1].rects, H, H)
    assert inside[row, col] and inside.sum() == 16 and np.all(heat[~inside] == 0)
    if stage == 3:  # the whole 4 x 4 map is the one window
        assert inside.all() and len([r for r in spec.panels[1].rects if r.style == "grid"]) == 1
    if shift != (0, 0):
        labels = swin_viz.region_labels(H, H, window, shift)[None, :, :, None]
        labels = swin_viz.reverse_cyclic_shift(labels, shift)[0, :, :, 0].numpy()
        assert np.all(labels[heat > 1e-12] == labels[row, col])
    # The patch on the digit: stride patch_size * 2**(stage-1) = 2, 4, 8 pixels, at the query's place.
    stride = 2 * 2 ** (stage - 1)
    assert f"tokens of {stride} px" in spec.caption
    (patch,) = [r for r in spec.panels[0].rects if r.style == "highlight"]
    assert (patch.r0, patch.c0, patch.r1, patch.c1) == (row * stride, col * stride, (row + 1) * stride,
                                                        (col + 1) * stride)  # fmt: skip
    assert spec.panels[0].z.shape == (32, 32, 3)
    big = attention_maps_spec(name, block, row, col, head, display_size=128)  # outlines scale with the image
    (patch,) = [r for r in big.panels[0].rects if r.style == "highlight"]
    assert (patch.r0, patch.c1) == (4 * row * stride, 4 * (col + 1) * stride) and big.panels[0].z.shape[0] == 128


def test_caption_gives_the_models_prediction(shipped) -> None:
    model, _ = shipped
    for name in _cache_for().names:
        spec = attention_maps_spec(name, "stage2.block0", 3, 3, 0)
        found = re.search(r"the model predicts (\d) with probability ([0-9.]+) \((correct|wrong: it is (\d))\)",
                          spec.caption)  # fmt: skip
        assert found and spec.caption.startswith(name), spec.caption
        logits, _ = digit_forward(model, name)
        assert int(found[1]) == int(logits.argmax())
        assert float(found[2]) == pytest.approx(float(logits.softmax(-1).max()), abs=1e-3)
        truth = NAME.fullmatch(name)[1]
        assert (found[3] == "correct") == (found[1] == truth)


def test_a_callers_model_on_a_callers_images(make_tiny) -> None:
    model = make_tiny(patch_size=2)  # random weights, window 4 on the 32 x 32 digits
    images = digits_val()
    spec = attention_maps_spec(None, "stage2.block1", None, None, 3, model=model, images=images)
    assert spec.title.endswith("weights supplied by the caller") and "trained" not in spec.title
    assert "predicts" in spec.caption and spec.panels[1].z.shape == (8, 8)
    ex = attention_maps_explorer(model=model, images=images, weights_label="my weights")
    assert ex.controls["image"].description == "image" and len(ex.controls["image"].options) == 12
    assert ex.figure.layout.title.text.endswith("my weights")
    ex.set(block="stage3.block0", head=7)
    assert ex.controls["row"].max == 3 and "Could not draw" not in ex.message.value


# ------------------------------------------------------------------------------------------------ receptive field
def structural_reach(row: int, col: int, shifts: list[int], size: int = 28, M: int = 7) -> np.ndarray:
    """First block after which each token is connected to (row, col), composed from the library's window layout
    and shifted-window mask (which tokens may attend to which), block by block."""
    reach = np.zeros(size * size, dtype=bool)
    reach[row * size + col] = True
    first = np.where(reach, 0, len(shifts) + 1).reshape(size, size)
    ids = torch.arange(size * size).reshape(1, size, size, 1)
    for k, s in enumerate(shifts, start=1):
        rolled = swin_viz.cyclic_shift(ids, s) if s else ids
        windows = swin_viz.window_partition(rolled, M).reshape(-1, M * M).numpy()  # (nW, N) token ids
        mask = swin_viz.shifted_window_mask(size, size, M, s)  # (nW, N, N), all 0 when s == 0
        adjacency = np.zeros((size * size, size * size), dtype=bool)
        w, n, m = np.nonzero(mask.numpy() == 0)
        adjacency[windows[w, n], windows[w, m]] = True
        reach = reach @ adjacency  # boolean matrix product: one more block of attention
        first[(reach.reshape(size, size)) & (first > k)] = k
    return first


@pytest.mark.parametrize(("row", "col"), [(10, 10), (0, 0), (13, 20), (27, 3)])
def test_reach_matches_the_window_structure(row: int, col: int) -> None:
    counts = reach_counts(row, col)
    assert np.array_equal(counts["shifted"], structural_reach(row, col, [0, 3, 0, 3]))
    assert np.array_equal(counts["not shifted"], structural_reach(row, col, [0, 0, 0, 0]))
    # Without the shift a token never leaves its window: exactly window_partition's window, for every k.
    ids = torch.arange(28 * 28).reshape(1, 28, 28, 1)
    window = next(w for w in swin_viz.window_partition(ids, 7).reshape(-1, 49).tolist() if row * 28 + col in w)
    assert set(np.flatnonzero(counts["not shifted"] <= 4)) == set(window)
    assert (counts["shifted"] <= 2).sum() > 49


def test_reach_agrees_with_autograd() -> None:
    """Reverse mode from a few output tokens: d out[o] / d in[row, col] is non-zero exactly where reached."""
    row, col = 10, 10
    stacks, x = receptive_field_stacks()
    first = reach_counts(row, col)["shifted"]
    x = x.clone().requires_grad_(True)
    y = x
    with torch_threads(1):
        for block in stacks["shifted"][:2]:
            y = block(y)
    for o in [(10, 10), (7, 7), (3, 10), (4, 10), (13, 13), (14, 14), (17, 17), (18, 18), (0, 27), (16, 10)]:
        with torch_threads(1):
            (grad,) = torch.autograd.grad(y[0, o[0], o[1]].sum(), x, retain_graph=True)
        size = grad.abs().amax(-1)[0]
        depends = bool(size[row, col] > 1e-9 * size.max())
        assert depends == (first[o] <= 2), o


def test_receptive_field_spec_and_backends() -> None:
    for k in (1, 2, 4):
        spec = receptive_field_spec(k, 13, 20)
        counts = reach_counts(13, 20)
        for panel, name in zip(spec.panels[:2], ("shifted", "not shifted")):
            expected = np.where(counts[name] <= k, counts[name], np.nan)
            np.testing.assert_array_equal(panel.z, expected)
            assert panel.colorbar and "highlight" in {r.style for r in panel.rects}
        assert [s.y for s in spec.panels[2].series] == [[int((counts[n] <= j).sum()) for j in range(5)]
                                                        for n in ("shifted", "not shifted")]  # fmt: skip
        to_plotly(spec), to_matplotlib(spec)


def test_receptive_field_explorer_driven_headlessly() -> None:
    ex = receptive_field_explorer()
    ex.set(k=3, row=0, col=0)
    assert ex.state == dict(k=3, row=0, col=0)
    counts = reach_counts(0, 0)
    np.testing.assert_array_equal(np.asarray(ex.figure.data[0].z, dtype=float),
                                  np.where(counts["shifted"] <= 3, counts["shifted"], np.nan))  # fmt: skip
    ex.set(k=9)
    assert ex.state["k"] == 4 and "clamped" in ex.message.value
    ex.set(row=40, col=-2)
    assert (ex.state["row"], ex.state["col"]) == (27, 0) and "clamped" in ex.message.value
    for change in RECEPTIVE_FIELD_BENCH_CHANGES:
        ex.set(**change)
    assert ex.message.value.find("Could not draw") < 0


def test_receptive_field_static_has_one_step_per_state() -> None:
    fig = receptive_field_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(RECEPTIVE_FIELD_STATIC_STATES)
    s = RECEPTIVE_FIELD_STATIC_STATES[4]
    z = np.array(steps[4].args[0]["z"][0], dtype=float)  # NaN travels as null
    counts = reach_counts(s["row"], s["col"])["shifted"]
    np.testing.assert_array_equal(z, np.where(counts <= s["k"], counts, np.nan))
    assert len(fig.to_json()) < 1.5e6
