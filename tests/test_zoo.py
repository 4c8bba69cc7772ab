"""The one cache of shared, read-only models (swin_viz.zoo.shared_model), and the callers that borrow from it."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz import zoo
from swin_viz.model import SwinConfig, SwinTransformer, create_model, model_config
from swin_viz.pretrained import load_pretrained, pretrained_info
from swin_viz.zoo import shared_model


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts from an empty cache (and leaves one), so no test sees another's objects."""
    zoo.cache_clear()
    yield
    zoo.cache_clear()


def _impls(model: SwinTransformer) -> set[str]:
    return {block.attn.attn_impl for stage in model.stages for block in stage.blocks}


def test_exported_from_the_package() -> None:
    assert swin_viz.shared_model is shared_model and "shared_model" in swin_viz.__all__


def test_same_object_on_repeat_calls_however_the_defaults_are_spelled() -> None:
    a = shared_model("tiny")
    assert shared_model("tiny") is a
    assert shared_model("tiny", weights="random", seed=0, attn_impl="auto") is a
    assert shared_model("tiny", seed=None, attn_impl=None) is a
    p = shared_model("digits-small", weights="pretrained")
    assert shared_model("digits-small", weights="pretrained") is p
    assert zoo.cached_keys() == [("tiny", "random", 0, "auto"), ("digits-small", "pretrained", None, "auto")]


def test_every_argument_is_part_of_the_key() -> None:
    models = [
        shared_model("tiny"),
        shared_model("tiny", seed=1),
        shared_model("tiny", attn_impl="explicit"),
        shared_model("tiny", weights="meta"),
        shared_model("small"),
        shared_model("digits-small", weights="pretrained"),
        shared_model("digits-small", weights="pretrained", attn_impl="explicit"),
    ]
    assert len({id(m) for m in models}) == len(models)
    a, b = models[0], models[1]
    assert not torch.equal(a.stage1.block0.attn.qkv.weight, b.stage1.block0.attn.qkv.weight)  # seed 1 is not seed 0
    assert _impls(models[2]) == {"explicit"} and _impls(models[0]) == {"auto"}
    assert _impls(models[6]) == {"explicit"}


def test_a_re_registered_name_is_a_new_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(swin_viz.model._REGISTRY, "zoo_test", SwinConfig(**model_config("tiny")))
    old = shared_model("zoo_test")
    monkeypatch.setitem(swin_viz.model._REGISTRY, "zoo_test", SwinConfig(**model_config("tiny", embed_dim=8)))
    new = shared_model("zoo_test")
    assert new is not old and new.config.embed_dim == 8 and old.config.embed_dim == 16


def test_random_weights_are_the_seeded_create_model() -> None:
    """The same weights the figures drew before the provider existed: their executed outputs stay valid."""
    for name, seed in (("tiny", 0), ("tiny", 5), ("demo", 0)):
        torch.manual_seed(seed)
        want = create_model(name).state_dict()
        got = shared_model(name, seed=seed).state_dict()
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), (name, seed)


def test_the_callers_random_stream_is_untouched() -> None:
    for name, weights in (("tiny", "random"), ("digits-small", "pretrained"), ("tiny", "meta")):
        torch.manual_seed(123)
        before = torch.get_rng_state()
        shared_model(name, weights=weights)  # a build: draws initial weights, under a forked RNG
        assert torch.equal(torch.get_rng_state(), before), weights
        shared_model(name, weights=weights)  # a cache hit
        assert torch.equal(torch.get_rng_state(), before), weights


@pytest.mark.parametrize(("name", "weights"), [("tiny", "random"), ("digits-small", "pretrained"), ("swin_t", "meta")])
def test_eval_mode_and_no_gradients(name: str, weights: str) -> None:
    model = shared_model(name, weights=weights)
    assert [n for n, m in model.named_modules() if m.training] == []
    assert [n for n, p in model.named_parameters() if p.requires_grad] == []
    assert sum(1 for _ in model.parameters()) > 0


def test_pretrained_weights_are_load_pretrained_s() -> None:
    want, info = load_pretrained("digits-small")
    got = shared_model("digits-small", weights="pretrained")
    assert got.config == want.config
    sd, ref = got.state_dict(), want.state_dict()
    assert sd.keys() == ref.keys() and all(torch.equal(sd[k], ref[k]) for k in ref)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(got(x), want(x))
    assert info == pretrained_info("digits-small") and "val_top1" in info


def test_meta_model_has_meta_parameters_and_runs_on_meta() -> None:
    model = shared_model("swin_t", weights="meta", attn_impl="explicit")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert model.config == create_model("swin_t").config and _impls(model) == {"explicit"}
    with torch.no_grad():
        out = model(torch.empty(1, 3, 224, 224, device="meta"))
    assert out.shape == (1, 1000) and out.device.type == "meta"


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("swin_xxl", {}, r"unknown model 'swin_xxl' for weights='random'; choose one of \['swin_t', 'swin_s'"),
        ("swin_xxl", {"weights": "meta"}, r"unknown model 'swin_xxl' for weights='meta'; choose one of \['swin_t'"),
        ("digits-small", {}, r"'digits-small' is a shipped checkpoint: pass weights='pretrained'"),
        ("swin_t", {"weights": "pretrained"}, r"unknown checkpoint 'swin_t'.*shipped: \['digits-small'\].*'random'"),
        ("swin_t", {"weights": "imagenet"}, r"weights must be one of \('random', 'pretrained', 'meta'\)"),
        ("swin_t", {"attn_impl": "flash"}, r"attn_impl must be one of \('auto', 'explicit', 'fused'\)"),
        ("swin_t", {"seed": 1.5}, r"seed must be an int"),
        (["swin_t"], {}, r"name must be a string"),
        ("swin_t", {"attn_impl": ["auto"]}, r"attn_impl must be one of"),
        ("swin_t", {"weights": "meta", "seed": 1}, r"seed applies to weights='random' only"),
        ("digits-small", {"weights": "pretrained", "seed": 0}, r"seed applies to weights='random' only"),
    ],
)
def test_bad_arguments_name_the_choices(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shared_model(name, **kwargs)
    assert zoo.cached_keys() == []  # nothing half-built is kept


def _no_grad(fn, *args):
    with torch.no_grad():
        return fn(*args)


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda m: m.train(), "the model is in training mode"),
        (lambda m: m.stage2.block1.mlp.train(), "stage2.block1.mlp is in training mode"),
        (lambda m: m.head.requires_grad_(True), "head.weight requires grad"),
        (lambda m: m.set_attn_impl("explicit"), "its attn_impl is 'explicit', not 'auto'"),
        (lambda m: _no_grad(m.head.weight.add_, 1.0), "head.weight was written in place"),
        (lambda m: m.load_state_dict(m.state_dict()), "was written in place"),
        (lambda m: m.double(), "patch_embed.proj.weight was converted or moved"),
        (lambda m: m.stage1.block0.attn.relative_bias.index.zero_(), "relative_bias.index was written in place"),
        (lambda m: setattr(m, "head", torch.nn.Linear(64, 10).eval()), "head was replaced"),
        (lambda m: setattr(m.head, "weight", torch.nn.Parameter(m.head.weight + 1, False)), "head.weight was replaced"),
    ],
)
def test_a_caller_that_changes_the_shared_model_is_told_who_should_copy(mutate, why: str) -> None:
    model = shared_model("tiny")
    mutate(model)
    with pytest.raises(RuntimeError) as err:
        shared_model("tiny")
    text = str(err.value)
    assert why in text and "read-only" in text and "copy.deepcopy(shared_model('tiny', weights='random'))" in text
    fresh = shared_model("tiny")  # the broken one is dropped: the next call builds a correct one
    assert fresh is not model and not fresh.training and _impls(fresh) == {"auto"}
    assert shared_model("tiny") is fresh


def test_the_message_for_a_changed_checkpoint_says_how_to_load_one_of_your_own() -> None:
    shared_model("digits-small", weights="pretrained").train()
    own = r"build your own with swin_viz\.pretrained\.load_pretrained\('digits-small'\)\[0\]"
    with pytest.raises(RuntimeError, match=own):
        shared_model("digits-small", weights="pretrained")


def test_a_private_copy_leaves_the_shared_model_alone() -> None:
    model = shared_model("tiny")
    mine = copy.deepcopy(model).train().requires_grad_(True)
    mine.set_attn_impl("explicit")
    with torch.no_grad():
        mine.head.weight.add_(1.0)
    assert shared_model("tiny") is model and not torch.equal(mine.head.weight, model.head.weight)


# ----------------------------------------------------------------------------------------------- the callers
def test_the_figures_labs_and_checks_borrow_the_one_model() -> None:
    from swin_course import capstone, merging
    from swin_course.model import lab_model
    from swin_viz.viz import flops, sources

    shipped = shared_model("digits-small", weights="pretrained")
    assert lab_model() is shipped
    model, info = sources.trained_model()
    assert model is shipped and info == pretrained_info("digits-small")
    assert sources.resolve_source().model is shipped
    assert sources.resolve_source("random").model is sources.default_model()
    assert sources.default_model() is shared_model("demo")
    assert capstone.reference_model() is shared_model("swin_t")
    assert merging._swin_t_meta() is shared_model("swin_t", weights="meta")
    for name in ("swin_t", "swin_b"):
        assert flops.meta_model(name) is shared_model(name, weights="meta", attn_impl="explicit")
    assert zoo.cached_keys() == [
        ("digits-small", "pretrained", None, "auto"),
        ("demo", "random", 0, "auto"),
        ("swin_t", "random", 0, "auto"),
        ("swin_t", "meta", None, "auto"),
        ("swin_t", "meta", None, "explicit"),
        ("swin_b", "meta", None, "explicit"),
    ]


def test_the_callers_leave_the_shared_models_as_they_found_them() -> None:
    """Figures, lab checks and explorers run on the shared models; afterwards every weight is unchanged and the
    models are still in eval mode without gradients (the provider's own check, on the next call)."""
    from swin_course.model import check_capture
    from swin_viz.viz import attention_maps, block_path, shapes
    from swin_viz.viz.flops import macs_breakdown
    from swin_viz.viz.merging import stage_table

    keys = [("digits-small", "pretrained"), ("demo", "random")]
    before = {k: {n: t.clone() for n, t in shared_model(k[0], weights=k[1]).state_dict().items()} for k in keys}
    swin_t = shared_model("swin_t")
    checksum = sum(float(p.double().sum()) for p in swin_t.parameters())

    def capture(model, x, name):
        store = {}
        handle = model.get_submodule(name).register_forward_hook(lambda m, i, out: store.__setitem__("t", out))
        try:
            model(x)
        finally:
            handle.remove()
        return store["t"]

    assert check_capture(capture).passed
    attention_maps.attention_maps_spec()
    attention_maps.attention_maps_spec(source="random", block="stage2.block1")
    block_path.block_path_spec()
    shapes.trace_shapes(64, 64)
    macs_breakdown("swin_t")
    stage_table("swin_t")

    for (name, weights), sd in before.items():
        now = shared_model(name, weights=weights).state_dict()  # also runs the provider's eval / grad check
        assert all(torch.equal(now[n], t) for n, t in sd.items()), name
    assert shared_model("swin_t") is swin_t
    assert sum(float(p.double().sum()) for p in swin_t.parameters()) == checksum


def test_a_first_call_under_inference_mode_still_builds_normal_tensors() -> None:
    """The shape tracer first asks under torch.inference_mode; the capstone's checks share that model later."""
    with torch.inference_mode():
        model = shared_model("tiny")
        assert shared_model("tiny") is model  # the check on a cache hit works in inference mode too
    assert not any(p.is_inference() for p in model.parameters())
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    model(x).sum().backward()  # gradients reach the input through the shared (frozen) weights
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert shared_model("tiny") is model


# ---------------------------------------------------------------------------------------------- one home, kept
ROOT = Path(__file__).resolve().parents[1]
PRIVATE_MODEL_CACHES_ALLOWED = {
    # The reader's own ImageNet file, named by an environment variable and returned with its LoadReport: keyed on
    # a path outside the package, not on a name the package can build (see swin_viz/viz/real_weights.py).
    "swin_viz/viz/real_weights.py:_load",
}


def _cached_model_functions(path: Path) -> set[str]:
    """``path:function`` for every function cached with functools (lru_cache / cache) that returns a model."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef) or node.returns is None:
            continue
        cached = any("cache" in ast.unparse(d) for d in node.decorator_list)
        if cached and "SwinTransformer" in ast.unparse(node.returns):
            found.add(f"{path.relative_to(ROOT).as_posix()}:{node.name}")
    return found


def test_no_module_keeps_a_private_cache_of_models() -> None:
    files = [p for d in ("swin_viz", "swin_course") for p in sorted((ROOT / d).rglob("*.py"))]
    found = set().union(*(_cached_model_functions(p) for p in files))
    assert found == PRIVATE_MODEL_CACHES_ALLOWED, f"cache models with swin_viz.shared_model instead: {found}"


def test_the_provider_is_core_it_imports_no_upper_layer() -> None:
    tree = ast.parse((ROOT / "swin_viz" / "zoo.py").read_text())
    imported = {"." * n.level + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    upper = {n for n in imported if n.lstrip(".").split(".")[0] in ("data", "train", "viz", "swin_course")}
    assert imported and not upper, upper
