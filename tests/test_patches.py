import pytest
import torch
from torch import nn

import swin_viz
from swin_viz import PatchEmbed, patch_partition


def test_patch_partition_shape_and_order() -> None:
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    p = patch_partition(x, 4)
    assert p.shape == (2, 2, 3, 48)
    # Token (1, 2) of image 1 holds the 4x4 pixels of rows 4..7, columns 8..11, channel-major.
    expected = x[1, :, 4:8, 8:12].reshape(-1)
    assert torch.equal(p[1, 1, 2], expected)


def test_conv_embedding_equals_partition_plus_linear() -> None:
    embed = PatchEmbed(patch_size=4, in_chans=3, embed_dim=24, patch_norm=False)
    linear = nn.Linear(48, 24)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.reshape(24, 48))
        linear.bias.copy_(embed.proj.bias)
    x = torch.randn(2, 3, 32, 20)
    torch.testing.assert_close(embed(x), linear(patch_partition(x, 4)), atol=1e-5, rtol=1e-5)


def test_patch_embed_output_is_channels_last_with_norm() -> None:
    embed = PatchEmbed(embed_dim=96)
    out = embed(torch.randn(1, 3, 224, 160))
    assert out.shape == (1, 56, 40, 96)
    # LayerNorm with unit weight and zero bias: every token has mean 0 and variance ~1.
    torch.testing.assert_close(out.mean(-1), torch.zeros(1, 56, 40), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((3, 224, 224), "add a batch axis"),
        ((1, 1, 224, 224), "expected 3 input channels"),
        ((1, 224, 224, 3), "channels-last"),
        ((1, 3, 222, 224), "multiple of patch_size 4"),
        ((1, 3, 224, 30), "W=30 must be a multiple of patch_size 4"),
    ],
)
def test_bad_images_raise_value_error_naming_the_constraint(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PatchEmbed()(torch.randn(*shape))
    with pytest.raises(ValueError, match=message):
        swin_viz.swin_t(num_classes=2, depths=(2,), num_heads=(3,))(torch.randn(*shape))
