"""Augmentation on whole batches, on the device: crops for in-memory sets, Mixup/CutMix; the recipe's figure.

The paper's recipe (App. A2.1; DeiT's, written in timm as ``rand-m9-mstd0.5-inc1``, random erasing 0.25, Mixup
0.8, CutMix 1.0, switch probability 0.5, label smoothing 0.1):

* RandAugment per image where the image is cropped, random erasing on the device:
  :mod:`~swin_viz.data.rand_augment`;
* Mixup's and CutMix's lambda: ``numpy.random.Generator.beta`` on the host (a Python float: no device sync).

:func:`augment_batch` is the random-resized crop and flip of in-memory sets (digits, CIFAR-10, a folder decoded
into memory), all samples in one ``grid_sample``; streamed images are cropped in the loader's workers instead
(:mod:`swin_viz.data.transforms`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import check_positive
from .rand_augment import RandAugment, RandomErasing, parse_randaugment
from .transforms import RRC_RATIO, RRC_SCALE, normalize

__all__ = [
    "MixupCutmix",
    "apply_thetas",
    "augment_batch",
    "crop_thetas",
    "mixup_cutmix",
    "parse_randaugment",
    "pipeline_stages",
]

_CROP_TRIES = 10


def crop_thetas(
    n: int,
    H: int,
    W: int,
    generator: torch.Generator,
    device: torch.device,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip: bool,
) -> torch.Tensor:
    """``(n, 2, 3)`` affine matrices (``affine_grid``'s convention) of random-resized crops with optional flips.

    Like the usual RandomResizedCrop: area fraction ~ U(scale), log aspect ratio ~ U(log ratio), up to 10 tries
    for a box that fits (first one that does wins) at a uniform position, else the center crop with the image's
    aspect ratio clamped to ``ratio`` (as :func:`~swin_viz.data.transforms.random_resized_crop_box`). Continuous
    coordinates, no rounding to pixels. Always one ``torch.rand`` call of fixed size.
    """
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < scale[0] <= scale[1] <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < ratio[0] <= ratio[1], got {ratio}")
    T = _CROP_TRIES
    u = torch.rand(n, 2 * T + 3, generator=generator, device=device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, :T]
    log_r0, log_r1 = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_r0 + (log_r1 - log_r0) * u[:, T : 2 * T])
    wf = torch.sqrt(area * aspect * (H / W))  # crop width / image width
    hf = torch.sqrt(area / aspect * (W / H))
    fits = (wf <= 1) & (hf <= 1)
    first = fits.float().argmax(dim=1, keepdim=True)  # index of the first box that fits (0 if none)
    # Fallback: center crop, the whole image when its own aspect ratio W/H is within `ratio`.
    in_ratio = W / H
    fb_w, fb_h = 1.0, 1.0
    if in_ratio < ratio[0]:
        fb_h = (W / ratio[0]) / H
    elif in_ratio > ratio[1]:
        fb_w = (H * ratio[1]) / W
    ok = fits.any(dim=1)
    wf = torch.where(ok, wf.gather(1, first).squeeze(1), fb_w)
    hf = torch.where(ok, hf.gather(1, first).squeeze(1), fb_h)
    # Normalised [-1, 1] coordinates of the crop center: uniform for a sampled box, 0 for the fallback.
    cx = torch.where(ok, (2 * u[:, 2 * T] - 1) * (1 - wf), 0.0)
    cy = torch.where(ok, (2 * u[:, 2 * T + 1] - 1) * (1 - hf), 0.0)
    sign = torch.where(u[:, 2 * T + 2] < 0.5, -1.0, 1.0) if flip else torch.ones_like(wf)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = wf * sign
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = hf
    theta[:, 1, 2] = cy
    return theta


def apply_thetas(x: torch.Tensor, theta: torch.Tensor, out_size: int, mode: str = "bicubic") -> torch.Tensor:
    """``(B, C, H, W)`` float -> ``(B, C, out_size, out_size)``: ``grid_sample`` of each sample's box."""
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], out_size, out_size], align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0) if mode == "bicubic" else out


def augment_batch(
    x: torch.Tensor,
    generator: torch.Generator,
    out_size: int,
    scale: tuple[float, float] = RRC_SCALE,
    ratio: tuple[float, float] = RRC_RATIO,
    flip: bool = True,
    mode: str = "bicubic",
) -> torch.Tensor:
    """Random-resized-crop and (if ``flip``) a random horizontal flip, per sample, as one batched op.

    ``x`` is a float batch ``(B, C, H, W)`` in ``[0, 1]``; returns ``(B, C, out_size, out_size)`` on the same
    device. Crop area fraction ~ U(``scale``) (the paper's (0.08, 1) by default), aspect ratio log-uniform in
    ``ratio``, position uniform, flip with probability 1/2; parameters are drawn from ``generator``, which must
    live on ``x``'s device. One ``affine_grid`` + ``grid_sample`` (bicubic by default, clamped to ``[0, 1]``).
    With ``scale=(1, 1)`` and ``flip=False`` the result is ``x`` resized when its aspect ratio ``W / H`` is within
    ``ratio`` (``x`` itself, up to float rounding, when ``out_size == H == W``); otherwise the centre crop whose
    aspect ratio is ``W / H`` clamped to ``ratio``.
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"augment_batch expects a float (B, C, H, W) batch, got {tuple(x.shape)} {x.dtype}")
    theta = crop_thetas(x.shape[0], x.shape[-2], x.shape[-1], generator, x.device, scale, ratio, flip)
    return apply_thetas(x, theta, out_size, mode)


# ------------------------------------------------------------------------------------------- mixup / cutmix


class MixupCutmix:
    """Mixup or CutMix with label smoothing, for a batch made of ``groups`` contiguous equal slices.

    Each slice is mixed with itself reversed (partner of its sample ``i`` is its sample ``b-1-i``), with its own
    draws from its own ``numpy.random.Generator`` seeded with ``(seed, group id)``: lambda ~ Beta(alpha, alpha)
    (``Generator.beta``); CutMix with probability ``switch_prob`` when both alphas are > 0; the CutMix box has area
    about ``(1 - lambda) H W`` at a uniform centre, clipped, and lambda becomes the kept fraction.

    This is what makes multi-GPU runs checkable: a rank mixes its own slice (group id = its rank), and one
    process given ``group_ids=range(world_size)`` mixes the whole global batch exactly as the ranks do together.
    All draws happen on the host (Python floats and ints): nothing synchronises with the device.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        seed: int = 0,
        group_ids: Sequence[int] = (0,),
    ) -> None:
        check_positive(num_classes, "MixupCutmix: num_classes")
        if not (math.isfinite(mixup_alpha) and math.isfinite(cutmix_alpha) and mixup_alpha >= 0 and cutmix_alpha >= 0):
            raise ValueError(f"mixup/cutmix alphas must be finite and >= 0, got {mixup_alpha}, {cutmix_alpha}")
        if not 0 <= switch_prob <= 1:
            raise ValueError(f"switch_prob must be in [0, 1], got {switch_prob}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if not group_ids:
            raise ValueError("group_ids must name at least one group")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.switch_prob, self.label_smoothing = float(switch_prob), float(label_smoothing)
        self.group_ids = [int(g) for g in group_ids]
        self.rngs = [np.random.default_rng([int(seed) & 0xFFFFFFFF, g, 0x313]) for g in self.group_ids]

    @property
    def active(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def state_dict(self) -> dict[str, Any]:
        return {"group_ids": self.group_ids, "rngs": [r.bit_generator.state for r in self.rngs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["group_ids"]) != self.group_ids:
            raise ValueError(f"Mixup state is for groups {state['group_ids']}, this one mixes {self.group_ids}")
        for r, s in zip(self.rngs, state["rngs"]):
            r.bit_generator.state = s

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        """Smoothed one-hot targets ``(B, K)``: ``1 - ls + ls/K`` on the label, ``ls/K`` elsewhere.

        ``y`` ``(B,)`` int64 class indices in ``0..K-1`` (checked here for labels on the CPU; on an accelerator the
        check would wait for the device, so a label out of range fails there in ``one_hot``).
        """
        if y.dtype != torch.int64:
            raise ValueError(f"MixupCutmix: labels must be int64 class indices, got {y.dtype}")
        if y.device.type == "cpu" and y.numel() and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
            raise ValueError(
                f"MixupCutmix: labels must be in 0..num_classes-1 = 0..{self.num_classes - 1}, "
                f"got values in {int(y.min())}..{int(y.max())}"
            )
        off = self.label_smoothing / self.num_classes
        return F.one_hot(y, self.num_classes).to(torch.float32) * (1.0 - self.label_smoothing) + off

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, C, H, W)``, ``y`` ``(B,)`` -> mixed ``x`` and soft targets ``(B, K)`` whose rows sum to 1."""
        if x.dim() != 4 or y.shape != (x.shape[0],):
            raise ValueError(f"MixupCutmix expects x (B, C, H, W) and y (B,), got {tuple(x.shape)}, {tuple(y.shape)}")
        t = self.targets(y)
        if not self.active:
            return x, t
        G = len(self.rngs)
        if x.shape[0] % G:
            raise ValueError(f"batch of {x.shape[0]} cannot be cut into {G} equal Mixup groups")
        xs, ts = [], []
        for rng, xg, tg in zip(self.rngs, x.chunk(G), t.chunk(G)):
            xm, lam = self._mix_one(rng, xg)
            xs.append(xm)
            ts.append(lam * tg + (1.0 - lam) * tg.flip(0))
        return torch.cat(xs), torch.cat(ts)

    def _mix_one(self, rng: np.random.Generator, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or rng.random() < self.switch_prob)
        if not use_cutmix:
            lam = float(rng.beta(self.mixup_alpha, self.mixup_alpha))
            return x * lam + x.flip(0) * (1.0 - lam), lam
        lam = float(rng.beta(self.cutmix_alpha, self.cutmix_alpha))
        H, W = x.shape[-2:]
        cut_h, cut_w = int(H * math.sqrt(1.0 - lam)), int(W * math.sqrt(1.0 - lam))
        cy, cx = int(rng.integers(0, H)), int(rng.integers(0, W))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy - cut_h // 2 + cut_h, H)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx - cut_w // 2 + cut_w, W)
        out = x.clone()
        out[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
        return out, 1.0 - (y1 - y0) * (x1 - x0) / (H * W)


def mixup_cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    rng: np.random.Generator | int = 0,
    mixup_alpha: float = 0.8,
    cutmix_alpha: float = 1.0,
    switch_prob: float = 0.5,
    label_smoothing: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One call of :class:`MixupCutmix` on one group: ``(x_mixed (B, C, H, W), targets (B, K))``.

    ``rng`` is a ``numpy.random.Generator`` (advanced in place) or a seed.
    """
    mix = MixupCutmix(num_classes, mixup_alpha, cutmix_alpha, switch_prob, label_smoothing)
    if isinstance(rng, np.random.Generator):
        mix.rngs = [rng]
    else:
        mix.rngs = [np.random.default_rng(int(rng))]
    return mix(x, y)


def pipeline_stages(
    image: Any, partner: Any, size: int = 224, seed: int = 0, randaugment: str = "rand-m9-mstd0.5-inc1",
    reprob: float = 1.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One photograph through the training pipeline, stage by stage, for the book's figure.

    ``image``, ``partner``: PIL RGB images (the partner is what Mixup and CutMix blend in). Returns an ordered
    ``{stage name: (3, size, size) float in [0, 1]}``: the evaluation crop, three random-resized crops with flips
    (seeds ``seed..seed+2``), then RandAugment of the first crop with six draws (each panel names the operations
    it got and their magnitudes; an operation that is not applied, probability 1/2, is left out of the name),
    random erasing (``reprob``, 1 here so that it shows; the recipe uses 0.25; the noise is shown clipped to the
    image's range), Mixup and CutMix with the partner, and everything together. Seeded: the same call gives the
    same figure.
    """
    from PIL import Image

    from .transforms import IMAGENET_MEAN, IMAGENET_STD, eval_crop, sample_rng, train_crop

    def unnormalize(x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return (x * std + mean).clamp(0, 1)

    def pil(x: torch.Tensor) -> Any:
        return Image.fromarray((x * 255).round().byte().permute(1, 2, 0).numpy())

    def tensor(im: Any) -> torch.Tensor:
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255

    stages: dict[str, torch.Tensor] = {"evaluation crop": eval_crop(image, size).float() / 255}
    crops = [train_crop(image, size, sample_rng(seed, 0, i)).float() / 255 for i in range(3)]
    for i, c in enumerate(crops):
        stages[f"random-resized crop + flip #{i + 1}"] = c
    ra = RandAugment.from_spec(randaugment)
    for k in range(6):
        rng = np.random.default_rng([seed, k, 0x2A])
        ops = ra.draw(np.random.default_rng([seed, k, 0x2A]))
        what = ", ".join(f"{name} {mag:.1f}{'-' if neg else ''}" for name, mag, neg in ops) or "nothing"
        stages[f"RandAugment #{k + 1}: {what}"] = tensor(ra(pil(crops[0]), rng))
    torch.manual_seed(seed)
    er = RandomErasing(reprob)
    stages["random erasing (per-pixel noise)"] = unnormalize(er(normalize(crops[0][None]))[0])
    other = train_crop(partner, size, sample_rng(seed, 0, 99)).float() / 255
    pair = torch.stack([crops[0], other])
    y = torch.tensor([0, 1])
    for name, alphas in (("Mixup", (0.8, 0.0)), ("CutMix", (0.0, 1.0))):
        mix = MixupCutmix(2, *alphas, label_smoothing=0.0, seed=seed)
        xm, t = mix(pair, y)
        stages[f"{name} (weight {t[0, 0]:.2f} on this image)"] = xm[0]
    rngs = [np.random.default_rng([seed + 1, i, 0x2A]) for i in range(2)]
    full = torch.stack([tensor(ra(pil(p), r)) for p, r in zip(pair, rngs)])
    torch.manual_seed(seed + 1)
    xm, t = MixupCutmix(2, 0.8, 1.0, seed=seed + 1, label_smoothing=0.1)(RandomErasing(reprob)(normalize(full)), y)
    stages["all together"] = unnormalize(xm[0])
    return stages
