"""Loaders: every one yields ``(x, y)`` batches on the device and shares one interface.

``x`` is ``(b, 3, S, S)``: uint8 (streamed, synthetic) or float in ``[0, 1]`` (in memory), or ImageNet-normalised
float when the loader was made with ``normalize=True``; ``y`` is ``(b,)`` int64. Each loader has ``len()``
(batches per epoch for this rank), ``set_epoch(e)``, ``state_dict()`` / ``load_state_dict()`` for an exact
resume mid-epoch, ``classes``, ``name`` and ``kind`` (what the training log says about the path that runs): the
:class:`Loader` protocol; ``len()`` and ``set_epoch`` are written once, in :class:`EpochLoader`.

* :class:`DeviceLoader` (``kind="in-memory"``): a small :class:`~swin_viz.data.sources.ImageSet` moved to the
  device once; batches are gathered and cropped there.
* :class:`StreamingLoader` (``kind="streaming"``): a :class:`~swin_viz.data.sources.FolderIndex` decoded by
  ``torch.utils.data.DataLoader`` worker processes from the full-resolution files; pinned memory, non-blocking
  copies, prefetch. Memory does not grow with the data set (``bench/bench_data.py`` measures it).
* :class:`SyntheticLoader` (``kind="synthetic"``): one random batch, for throughput measurements.
* :class:`~swin_viz.data.shards.ShardLoader` (``kind="shards"``): webdataset tar shards.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)``, the same on every rank (:class:`EpochPlan`);
each rank takes a contiguous slice of every global batch, so the ranks of step ``i`` together hold exactly the
single-process batch of step ``i``. A streamed image's crop is seeded by ``(seed, e, index)``: it is the same
whichever worker or rank decodes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from .._validate import check_nonnegative, check_positive, is_int
from .augment import apply_thetas, crop_thetas
from .rand_augment import RandAugment
from .sources import FolderIndex, ImageSet, eval_view
from .transforms import RRC_RATIO, RRC_SCALE, decode_rgb, normalize, sample_rng, train_crop

__all__ = ["DeviceLoader", "EpochLoader", "EpochPlan", "Loader", "StreamingLoader", "SyntheticLoader"]


def _derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (an LCG-style mix), so (seed, epoch, stream) pairs don't collide trivially."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = (h * 6364136223846793005 + (int(p) & 0xFFFFFFFFFFFFFFFF) + 1442695040888963407) % 2**64
        h ^= h >> 29
    return h % 2**63



class EpochPlan:
    """Which samples this rank takes at each step of an epoch: a function of ``(seed, epoch)``, ``rank`` and
    ``world_size`` only.

    ``batch_size`` is the *global* batch ``B`` (divisible by ``world_size``). Epoch ``e``'s order is
    ``randperm(n)`` from a CPU generator seeded with ``(seed, e)`` (dataset order when not ``shuffle``); global
    batch ``i`` is ``order[i*B : (i+1)*B]`` and this rank takes its ``rank``-th contiguous ``B / world_size``
    slice. A last partial batch (``drop_last=False``) is cut into ``world_size`` near-equal parts; a rank whose
    part is empty skips it (``len`` counts that).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, drop_last: bool = True) -> None:  # fmt: skip
        if is_int(n) and n == 0:
            raise ValueError("the data set is empty")
        check_positive(n, "n (the number of images)")
        check_positive(batch_size, "batch_size")
        check_positive(world_size, "world_size")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} is the global batch size and must be divisible by world_size {world_size}"
            )
        if not is_int(rank) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an int in 0..{world_size - 1}, got {rank!r}")
        if drop_last and n < batch_size:
            raise ValueError(f"drop_last with {n} images and batch_size {batch_size} gives no batch at all")
        self.n, self.batch_size, self.seed = n, batch_size, int(seed)
        self.rank, self.world_size, self.shuffle, self.drop_last = rank, world_size, shuffle, drop_last

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        if self.drop_last or rest == 0:
            return full
        return full + int(rest * (self.rank + 1) // self.world_size > rest * self.rank // self.world_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(_derive_seed(self.seed, epoch, 0))
        return torch.randperm(self.n, generator=g)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(size of the global batch, offset of this rank's slice in it, this rank's indices)`` for each of this
        rank's batches, from its batch ``start`` on."""
        order = self.order(epoch)
        n, B = self.n, self.batch_size
        n_global = n // B if self.drop_last else -(-n // B)
        done = 0
        for step in range(n_global):
            lo, hi = step * B, min(step * B + B, n)
            size = hi - lo
            a, b = size * self.rank // self.world_size, size * (self.rank + 1) // self.world_size
            if b == a:
                continue
            done += 1
            if done <= start:
                continue
            yield size, a, order[lo + a : lo + b]


@runtime_checkable
class Loader(Protocol):
    """What the training loop asks of a loader: ``(x, y)`` batches on the device (module docstring), ``len()``
    batches per epoch for this rank, ``set_epoch``, and ``state_dict``/``load_state_dict`` for an exact resume."""

    kind: str
    name: str
    classes: list[str]
    epoch: int

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EpochLoader:
    """What every loader shares, written once: ``len()`` (this rank's batches of an epoch, from its
    :class:`EpochPlan` unless a loader counts otherwise) and :meth:`set_epoch`."""

    plan: EpochPlan
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.plan)

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s order and augmentation. A resume point inside another epoch is discarded."""
        check_nonnegative(epoch, "epoch")  # it seeds the order and the crops
        epoch = int(epoch)
        if epoch != self.epoch:
            self._restart()
        self.epoch = epoch

    def _restart(self) -> None:
        """Forget where an interrupted pass stopped (called when another epoch is selected)."""


class DeviceLoader(EpochLoader):
    """Batches of an in-memory :class:`ImageSet`, cut and augmented on ``device`` (``kind="in-memory"``).

    ``x`` is float ``(b, 3, S, S)``: ImageNet-normalised (``normalize=True``, the default) or in ``[0, 1]`` (the
    training loop normalises after RandAugment). ``S`` is ``image_size`` (default: the stored size). The whole set
    moves to ``device`` once (uint8).

    ``batch_size`` is the *global* batch; the order and each rank's slice follow :class:`EpochPlan`.
    ``train=True``: shuffled, ``drop_last`` (default True), and when ``augment`` a random-resized crop (area
    (0.08, 1), bicubic) with a flip if ``data.flip``, drawn for the whole global batch from :attr:`generator` (in
    the same state on every rank) and sliced, so augmented batches also match a single-process run.
    ``train=False``: dataset order, ``drop_last`` default False, only a resize to ``S`` if needed (bilinear,
    antialiased when shrinking). ``randaugment`` (e.g. ``"rand-m9-mstd0.5-inc1"``, training with ``augment``
    only): after the crop, each image goes through :class:`~swin_viz.data.rand_augment.RandAugment`, the same PIL
    operations as in the streaming workers, seeded by ``(seed, epoch, index)``: the batch is copied to the host and
    back (quantised to 8 bits), a cost that only a small set can afford.

    Reproducibility: the generator is reseeded with ``(seed, epoch)`` at the start of each pass; ``state_dict()``
    taken between batches records the epoch, the batches done and the generator state, and after
    ``load_state_dict`` the next pass continues exactly where the interrupted one was.
    """

    kind = "in-memory"

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device | str = "cpu",
        train: bool = True,
        augment: bool = True,
        image_size: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool | None = None,
        normalize: bool = True,
        scale: tuple[float, float] = RRC_SCALE,
        randaugment: str | None = None,
    ) -> None:
        self.rand_augment = RandAugment.from_spec(randaugment) if randaugment and augment and train else None
        self.plan = EpochPlan(len(data), batch_size, seed, rank, world_size, shuffle=train,
                              drop_last=train if drop_last is None else drop_last)  # fmt: skip
        self.device = torch.device(device)
        self.batch_size, self.train, self.augment = batch_size, train, augment and train
        self.flip, self.seed, self.rank, self.world_size = data.flip, int(seed), rank, world_size
        self.drop_last = self.plan.drop_last
        self.normalize, self.scale = normalize, scale
        self.num_classes, self.classes, self.name = data.num_classes, list(data.classes), data.name
        if image_size is not None:
            check_positive(image_size, "DeviceLoader: image_size")
        self.image_size = int(image_size) if image_size is not None else int(data.images.shape[-2])
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.epoch = 0
        self._batches_done = 0
        self._resume: tuple[int, torch.Tensor | None] | None = None

    def _restart(self) -> None:
        self._resume = None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start, state = self._resume if self._resume is not None else (0, None)
        self._resume = None
        if state is not None:
            self.generator.set_state(state)
        else:
            self.generator.manual_seed(_derive_seed(self.seed, self.epoch, 1))
        self._batches_done = start
        S = self.image_size
        for size, a, idx in self.plan.batches(self.epoch, start):
            idx = idx.to(self.device)
            x = self.images.index_select(0, idx).float().div_(255.0)
            if self.augment:
                theta = crop_thetas(size, x.shape[-2], x.shape[-1], self.generator, self.device,
                                     self.scale, RRC_RATIO, self.flip)  # fmt: skip
                x = apply_thetas(x, theta[a : a + len(idx)], S)
                if self.rand_augment is not None:  # the workers' per-image PIL operations, here on the host
                    rngs = [sample_rng(self.seed, self.epoch, int(i)) for i in idx]
                    x = self.rand_augment.augment_batch(x.mul(255).round_().byte(), rngs).float().div_(255.0)
            elif tuple(x.shape[-2:]) != (S, S):
                x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False, antialias=x.shape[-1] > S)
            self._batches_done += 1
            yield (normalize(x) if self.normalize else x), self.labels.index_select(0, idx)

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "batch", "generator", "generator_device", "seed"}``: where this loader is, for exact resume."""
        return {"epoch": self.epoch, "batch": self._batches_done, "generator": self.generator.get_state(),
                "generator_device": self.device.type, "seed": self.seed}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output: the next pass over ``state["epoch"]`` resumes at ``state["batch"]``.

        Mid-epoch the generator state must come from a loader on the same device type (CPU and CUDA generators
        differ); at an epoch boundary only the epoch and seed matter.
        """
        self.seed = int(state.get("seed", self.seed))
        self.plan.seed = self.seed
        self.epoch = int(state["epoch"])
        batch = min(int(state.get("batch", 0)), len(self))
        gen_state = None
        if 0 < batch < len(self):
            if state.get("generator_device", self.device.type) != self.device.type:
                raise ValueError(
                    f"cannot resume mid-epoch: the saved generator is a {state['generator_device']} generator, "
                    f"this loader's is {self.device.type}; resume from an epoch boundary instead"
                )
            gen_state = state["generator"].detach().to("cpu", torch.uint8)
        self._resume = (batch, gen_state)
        self._batches_done = batch


class _FolderImages(torch.utils.data.Dataset):
    """Map-style data set over a :class:`FolderIndex`; an item key is ``(index, epoch)``.

    Returns ``(uint8 (3, S, S), label)``: a random-resized crop and flip seeded by ``(seed, epoch, index)`` when
    ``train``, else the centre crop.
    """

    def __init__(self, index: FolderIndex, size: int, train: bool, seed: int, flip: bool = True,
                 center_crop: bool = True, randaugment: RandAugment | None = None) -> None:  # fmt: skip
        self.index, self.size, self.train, self.seed, self.flip = index, size, train, seed, flip
        self.center_crop, self.randaugment = center_crop, randaugment

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        i, epoch = key
        im = decode_rgb(self.index.path(i))
        if self.train:
            x = train_crop(im, self.size, sample_rng(self.seed, epoch, i), self.flip, self.randaugment)
        else:
            x = eval_view(im, self.size, self.center_crop)
        return x, int(self.index.labels[i])


class _PlanSampler(torch.utils.data.Sampler):
    """The batch sampler of a :class:`StreamingLoader`: this rank's batches of one epoch, as ``(index, epoch)``
    keys, from batch ``start`` on. Mutable, so a persistent ``DataLoader`` re-reads it every epoch."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan, self.epoch, self.start = plan, 0, 0

    def __len__(self) -> int:
        return len(self.plan) - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for _, _, idx in self.plan.batches(self.epoch, self.start):
            yield [(int(i), self.epoch) for i in idx]


class StreamingLoader(EpochLoader):
    """An image folder decoded on the fly by ``DataLoader`` worker processes (``kind="streaming"``).

    ``index`` is a :class:`FolderIndex` (paths and labels, no pixels), so resident memory does not grow with the
    number of images. Workers decode each file at full resolution and crop it (training: random-resized crop
    (0.08, 1) bicubic, flip and, given ``randaugment``, RandAugment, seeded by ``(seed, epoch, index)``;
    evaluation: resize and centre crop); batches
    are ``uint8 (b, 3, S, S)``, pinned on the host when ``device`` is CUDA, and copied with ``non_blocking=True``.
    ``prefetch_factor`` batches per worker are decoded ahead. ``normalize=True`` yields normalised floats instead.

    The batches of each rank follow :class:`EpochPlan` (``batch_size`` is global). ``state_dict`` records the epoch
    and the batches done; since every crop is a function of ``(seed, epoch, index)``, a resume is exact.
    """

    kind = "streaming"

    def __init__(
        self,
        index: FolderIndex,
        batch_size: int,
        image_size: int = 224,
        device: torch.device | str = "cpu",
        train: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 4,
        prefetch_factor: int = 4,
        drop_last: bool | None = None,
        normalize: bool = False,
        flip: bool = True,
        center_crop: bool = True,
        randaugment: str | None = None,
    ) -> None:
        check_nonnegative(num_workers, "num_workers")
        if num_workers > 0:
            check_positive(prefetch_factor, "prefetch_factor")
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        self.plan = EpochPlan(len(index), batch_size, seed, rank, world_size, shuffle=train,
                              drop_last=train if drop_last is None else drop_last)  # fmt: skip
        self.index, self.device, self.train, self.seed = index, torch.device(device), train, int(seed)
        self.batch_size, self.image_size, self.normalize = batch_size, image_size, normalize
        self.classes, self.num_classes, self.name = list(index.classes), index.num_classes, index.name
        self.num_workers = num_workers
        self.epoch = 0
        self._sampler = _PlanSampler(self.plan)
        self._batches_done = 0
        pin = self.device.type == "cuda"
        extra: dict[str, Any] = {}
        if num_workers > 0:
            extra = dict(prefetch_factor=prefetch_factor, persistent_workers=True)
        self._loader = torch.utils.data.DataLoader(
            _FolderImages(index, image_size, train, self.seed, flip, center_crop,
                          RandAugment.from_spec(randaugment) if randaugment and train else None),
            batch_sampler=self._sampler,
            num_workers=num_workers, pin_memory=pin, **extra,
        )  # fmt: skip

    def _restart(self) -> None:
        self._sampler.start = 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._sampler.epoch = self.epoch  # the batch sampler runs in this process, so it reads the epoch now
        self._batches_done = self._sampler.start
        try:
            for x, y in self._loader:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                self._batches_done += 1
                yield (normalize(x.float().div_(255.0)) if self.normalize else x), y
        finally:
            self._sampler.start = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self._batches_done, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(f"loader state has seed {state['seed']}, this loader {self.seed}")
        self.set_epoch(int(state["epoch"]))
        self._sampler.start = min(int(state.get("batch", 0)), len(self))
        self._batches_done = self._sampler.start


class SyntheticLoader(EpochLoader):
    """``steps`` copies of one random batch, made on the device (``kind="synthetic"``): throughput only.

    ``x`` uint8 ``(b, 3, S, S)`` (``b`` = ``batch_size / world_size``), ``y`` int64 in ``0..num_classes - 1``.
    Nothing can be learned from it; it measures the model and the loop without any data loading.
    """

    kind = "synthetic"

    def __init__(self, batch_size: int, image_size: int, num_classes: int = 1000, steps: int = 50,
                 device: torch.device | str = "cpu", seed: int = 0, world_size: int = 1) -> None:  # fmt: skip
        check_positive(batch_size, "SyntheticLoader: batch_size")
        check_positive(world_size, "SyntheticLoader: world_size")
        check_positive(image_size, "SyntheticLoader: image_size")
        check_positive(num_classes, "SyntheticLoader: num_classes")
        check_nonnegative(steps, "SyntheticLoader: steps")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by world_size {world_size}")
        self.device, self.steps, self.image_size = torch.device(device), int(steps), int(image_size)
        self.classes = [str(i) for i in range(num_classes)]
        self.num_classes, self.name, self.epoch = num_classes, f"synthetic ({num_classes} classes)", 0
        g = torch.Generator(device=self.device).manual_seed(seed)
        b = batch_size // world_size
        self.x = torch.randint(0, 256, (b, 3, image_size, image_size), generator=g, device=self.device,
                               dtype=torch.uint8)  # fmt: skip
        self.y = torch.randint(0, num_classes, (b,), generator=g, device=self.device)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps):
            yield self.x, self.y

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
