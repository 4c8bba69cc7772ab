import numpy as np
import torch

import swin_viz
from swin_viz.viz import to_matplotlib, to_plotly, windows_explorer, windows_spec, windows_static
from swin_viz.viz.windows import STATIC_STATES


def _window_of_each_token(H: int, W: int, M: int) -> np.ndarray:
    ids = torch.arange(H * W, dtype=torch.float32).reshape(1, H, W, 1)
    windows = swin_viz.window_partition(ids, M).reshape(-1, M * M)
    out = np.empty(H * W, dtype=int)
    for w, row in enumerate(windows.long().tolist()):
        out[row] = w
    return out.reshape(H, W)


def test_token_map_colours_match_window_partition() -> None:
    for H, W, M in [(14, 14, 7), (8, 12, 4), (6, 6, 2)]:
        spec = windows_spec(H, W, M)
        assert np.array_equal(spec.panels[0].z, _window_of_each_token(H, W, M))
        batch = spec.panels[1].z
        assert batch.shape == ((H // M) * (W // M), M * M)
        assert np.array_equal(batch, np.repeat(np.arange(batch.shape[0])[:, None], M * M, axis=1))
        to_plotly(spec), to_matplotlib(spec)


def test_padding_and_clamping_are_shown() -> None:
    spec = windows_spec(10, 10, 7)  # padded to 14x14: 4 windows, padding is the last category
    z = spec.panels[0].z
    assert z.shape == (14, 14) and spec.panels[0].categories[-1] == "padding"
    assert np.all(z[10:] == 4) and np.all(z[:, 10:] == 4) and np.all(z[:10, :10] < 4)
    assert (spec.panels[1].z == 4).sum() == 14 * 14 - 100
    clamped = windows_spec(5, 9, 7)  # 5 rows < M: one 5-row window, as the model does
    assert clamped.panels[1].z.shape == (2, 35) and "clamped" in clamped.title


def test_explorer_driven_headlessly() -> None:
    ex = windows_explorer()
    ex.set(H=8, W=8, M=4)
    assert ex.state == dict(H=8, W=8, M=4)
    assert np.array_equal(np.asarray(ex.figure.data[0].z), _window_of_each_token(8, 8, 4))
    ex.set(M=3)
    assert "zero-padded" in ex.message.value
    ex.set(M=16, H=4, W=4)
    assert "larger than the whole" in ex.message.value and np.asarray(ex.figure.data[0].z).shape == (4, 4)


def test_static_has_one_step_per_state() -> None:
    fig = windows_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    z = np.asarray(steps[3].args[0]["z"][0])  # state 3 is 8x8 with M=4
    assert np.array_equal(z, _window_of_each_token(8, 8, 4))
