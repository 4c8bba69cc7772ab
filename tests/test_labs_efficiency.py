"""Lab 9 checks: right answers pass, the typical wrong ones fail with their specific explanation."""

from __future__ import annotations

import torch

from swin_course.efficiency import (
    check_saved_bytes,
    check_shift_vs_pad,
    check_window_macs_ratio,
    shift_vs_pad,
    window_macs_ratio,
)
from swin_viz.probes import saved_tensor_bytes


def reasons(report) -> str:
    return " | ".join(why for _, ok, why in report.results if not ok)


# ----------------------------------------------------------------------------------------- shift vs padding
def test_shift_vs_pad_reference_is_the_paper_count() -> None:
    n_shift, n_pad, macs_shift, macs_pad = shift_vs_pad(56, 56, 7, 96, 3)
    assert (n_shift, n_pad) == (64, 81)  # Swin-T stage 1: 8 x 8 windows, 9 x 9 with padding
    per_window = 49 * 96 * 3 * 96 + 2 * 49 * 49 * 96 + 49 * 96 * 96
    assert macs_shift == 64 * per_window and macs_pad == 81 * per_window
    assert shift_vs_pad(56, 28, 7, 96, 3)[:2] == (32, 45)


def own_shift_vs_pad(h, w, M, C, heads):
    """The lab's solution, written without swin_viz.flops."""
    windows_shift, windows_pad = (h // M) * (w // M), (h // M + 1) * (w // M + 1)
    N = M * M
    per_window = 3 * N * C * C + 2 * N * N * C + N * C * C
    return windows_shift, windows_pad, windows_shift * per_window, windows_pad * per_window


def own_saved_bytes(module, *inputs):
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(*inputs)
    return sum(storages.values())


def per_window_macs(N, C, heads):
    return 3 * N * C * C + 2 * N * N * C + N * C * C


def test_shift_vs_pad_correct_passes() -> None:
    assert check_shift_vs_pad(own_shift_vs_pad).passed
    assert "the library's own window_attention_macs" in reasons(check_shift_vs_pad(shift_vs_pad))


def test_shift_vs_pad_squared_count_fails_on_non_square() -> None:
    def squared(h, w, M, C, heads):
        per = per_window_macs(M * M, C, heads)
        n, p = (h // M) * (w // M), (h // M + 1) ** 2
        return n, p, n * per, p * per

    report = check_shift_vs_pad(squared)
    assert not report.passed
    assert "not square" in reasons(report)
    assert [ok for _, ok, _ in report.results][:2] == [True, True]  # square maps are fine


def test_shift_vs_pad_fig2_nine_and_attention_only_macs() -> None:
    def nine(h, w, M, C, heads):
        per = per_window_macs(M * M, C, heads)
        return (h // M) * (w // M), 9, (h // M) * (w // M) * per, 9 * per

    assert "Fig. 2" in reasons(check_shift_vs_pad(nine))

    def qk_only(h, w, M, C, heads):
        n, p = (h // M) * (w // M), (h // M + 1) * (w // M + 1)
        return n, p, n * 2 * M**4 * C, p * 2 * M**4 * C

    assert "only QK^T and AV" in reasons(check_shift_vs_pad(qk_only))

    def flops(h, w, M, C, heads):
        n, p, a, b = own_shift_vs_pad(h, w, M, C, heads)
        return n, p, 2 * a, 2 * b

    assert "FLOPs" in reasons(check_shift_vs_pad(flops))


def test_shift_vs_pad_not_written() -> None:
    def stub(h, w, M, C, heads):
        raise NotImplementedError

    assert "not written yet" in reasons(check_shift_vs_pad(stub))


# ------------------------------------------------------------------------------------------- saved bytes
def test_saved_bytes_correct_passes_and_checkpointing_saves_memory(make_tiny) -> None:
    assert check_saved_bytes(own_saved_bytes).passed
    assert "the library's own saved_tensor" in reasons(check_saved_bytes(saved_tensor_bytes))
    model = make_tiny()
    x = torch.randn(2, 3, 32, 32)
    plain = saved_tensor_bytes(model, x)
    model.set_grad_checkpointing(True)
    assert 0 < saved_tensor_bytes(model, x) < plain


def _counter(key_by_storage: bool, skip_params: bool, nbytes):
    def fn(model, *inputs):
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        seen = {}

        def pack(t):
            ptr = t.untyped_storage().data_ptr()
            if not (skip_params and ptr in params):
                seen[ptr if key_by_storage else len(seen)] = nbytes(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(*inputs)
        return sum(seen.values())

    return fn


def test_saved_bytes_typical_mistakes_are_named() -> None:
    storage = lambda t: t.untyped_storage().nbytes()  # noqa: E731
    twice = check_saved_bytes(_counter(False, True, storage))
    assert not twice.passed and "counted several times" in reasons(twice)
    params = check_saved_bytes(_counter(True, False, storage))
    assert not params.passed and "parameters are counted" in reasons(params)
    numel = check_saved_bytes(_counter(True, True, lambda t: t.untyped_storage().nbytes() // t.element_size()))
    assert not numel.passed and "not bytes" in reasons(numel)
    four = check_saved_bytes(_counter(True, True, lambda t: 4 * (t.untyped_storage().nbytes() // t.element_size())))
    assert not four.passed and "bfloat16" in reasons(four)


def test_saved_bytes_no_grad_is_explained() -> None:
    def no_grad(model, *inputs):
        total = 0

        def pack(t):
            nonlocal total
            total += t.untyped_storage().nbytes()
            return t

        with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(*inputs)
        return total

    assert "gradients enabled" in reasons(check_saved_bytes(no_grad))


# ---------------------------------------------------------------------------------------- window ratio
def test_window_ratio_reference_and_answers() -> None:
    C, M7, M14 = 96, 7, 14
    # per block hw C (12 C + 2 M^2) matmul MACs (+ 2 hw C for the LayerNorms in the official total)
    assert abs(window_macs_ratio(1) - (12 * C + 2 * M14**2 + 2) / (12 * C + 2 * M7**2 + 2)) < 1e-12
    assert check_window_macs_ratio(window_macs_ratio(1)).passed
    assert check_window_macs_ratio((12 * C + 2 * M14**2) / (12 * C + 2 * M7**2)).passed  # matmul-only: within 1%
    assert check_window_macs_ratio(window_macs_ratio(3), stage=3).passed


def test_window_ratio_typical_mistakes_are_named() -> None:
    assert "attention matmuls alone" in reasons(check_window_macs_ratio(4.0))
    assert "MLP" in reasons(check_window_macs_ratio((4 * 96 + 2 * 196) / (4 * 96 + 2 * 49)))
    assert "N^2 grows 16x" in reasons(check_window_macs_ratio(16))
    assert "upside down" in reasons(check_window_macs_ratio(1 / window_macs_ratio(1)))
    assert "not written yet" in reasons(check_window_macs_ratio(None))


def test_checks_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    check_saved_bytes(own_saved_bytes)
    check_shift_vs_pad(own_shift_vs_pad)
    assert torch.equal(before, torch.get_rng_state())
