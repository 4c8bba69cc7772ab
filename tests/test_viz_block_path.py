"""One token's path through a Swin block: the figure reads the hook points and adds up as Eq. 3 says."""

import numpy as np
import pytest

from swin_viz.viz import block_path as bp


@pytest.mark.parametrize("block", ["stage1.block0", "stage1.block1", "stage2.block1"])
def test_the_path_is_eq_3(block: str) -> None:
    p = bp.token_path(block, row=2, col=6)
    assert list(p) == list(bp.STEPS)
    np.testing.assert_allclose(p["after attn"], p["input"] + p["attn_out"], atol=1e-6)
    np.testing.assert_allclose(p["out"], p["after attn"] + p["mlp_out"], atol=1e-5)
    # LN1 is a LayerNorm of the input: zero mean, then the learned affine map; it is not the input
    assert not np.allclose(p["LN1"], p["input"])


def test_where_it_looked_is_one_window_of_probabilities() -> None:
    spec = bp.block_path_spec("stage1.block1", row=0, col=0, head=1)
    z = spec.panels[2].z
    assert z.shape == (16, 16) and z.sum() == pytest.approx(1.0, abs=1e-5)
    # in the shifted block the top-left token's window wraps round: it holds rows and columns 14, 15, 0, 1 ...
    rows, cols = np.nonzero(z)
    assert set(rows.tolist()) == set(cols.tolist()) == {0, 1, 14, 15}
    # ... and the mask leaves the wrapped-in tokens (another region) only exp(-100)-sized probabilities
    assert z[:2, :2].sum() == pytest.approx(1.0, abs=1e-5) and z[14:].sum() < 1e-30
    unshifted = bp.block_path_spec("stage1.block0", row=0, col=0).panels[2].z
    assert set(np.nonzero(unshifted)[0].tolist()) <= {0, 1, 2, 3}


def test_clamp_names_the_limit() -> None:
    state, note = bp.block_path_clamp({"block": "stage2.block0", "row": 12, "col": 3, "head": 9})
    assert state["row"] == 7 and state["head"] == 3 and "row limited to 0..7" in note and "head" in note
