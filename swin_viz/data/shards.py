"""Sharded tar files (webdataset) for data on many nodes or in object storage.

:func:`write_shards` turns an ImageFolder tree (``root/train``, ``root/val``) into ``train-000000.tar`` ... and
``val-000000.tar`` ... plus ``meta.json`` (classes, counts, shard names), through ``webdataset.ShardWriter``. Each
sample is the original file's bytes (not re-encoded), its label and its index; training shards hold the samples
in a seeded random order, so a small shuffle buffer suffices.

:class:`ShardLoader` reads them with ``webdataset.WebDataset`` in ``DataLoader`` workers, with the same transforms
and the same batch interface as :class:`~swin_viz.data.loaders.StreamingLoader`. Each epoch the shards are
permuted by ``(seed, epoch)`` and dealt round-robin to the ranks (so there must be at least as many shards as
ranks); each rank yields exactly ``count // batch_size`` training batches (cycling its shards as often as it must),
so every rank takes the same number of steps. What is exact: the set of shards each rank reads, and every image's crop
(seeded by ``(seed, epoch, index)``). What is not: the order within a rank's stream differs from the folder
loader's, because a shuffle buffer, not a global permutation, mixes it.

    python -m swin_viz.data.shards ~/imagenette2 ~/imagenette2-shards --max-count 1000
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validate import check_positive, is_int
from ..atomic import atomic_write_text
from .loaders import EpochLoader
from .rand_augment import RandAugment
from .sources import eval_view, scan_image_folder
from .transforms import normalize, sample_rng, train_crop

__all__ = ["ShardLoader", "write_shards"]


def write_shards(root: str | os.PathLike, out: str | os.PathLike, max_count: int = 1000, seed: int = 0,
                 splits: tuple[str, ...] = ("train", "val")) -> dict[str, Any]:  # fmt: skip
    """Write ``root/<split>/<class>/<image>`` as webdataset shards in ``out``; returns (and writes) ``meta.json``.

    Every split must name the training split's classes (``ValueError`` naming the difference otherwise).
    """
    import webdataset as wds

    if not isinstance(max_count, int) or max_count < 1:
        raise ValueError(f"max_count must be a positive int, got {max_count!r}")
    root, out = Path(root).expanduser(), Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"format": "swin_viz shards", "version": 1, "source": str(root), "splits": {}}
    classes: list[str] | None = None
    for split in splits:
        index = scan_image_folder(root / split, classes=classes)
        classes = classes or index.classes
        order = np.random.default_rng(seed).permutation(len(index)) if split == "train" else np.arange(len(index))
        pattern = str(out / f"{split}-%06d.tar")
        with wds.ShardWriter(pattern, maxcount=max_count, verbose=0) as sink:
            for i in order:
                path = index.path(int(i))
                ext = Path(path).suffix.lower().lstrip(".").replace("jpeg", "jpg")
                sink.write({"__key__": f"{int(i):09d}", ext: Path(path).read_bytes(),
                            "cls": str(int(index.labels[i])).encode(), "idx": str(int(i)).encode()})  # fmt: skip
        shards = sorted(p.name for p in out.glob(f"{split}-*.tar"))
        meta["splits"][split] = {"count": len(index), "shards": shards}
    meta["classes"] = classes
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1))
    return meta


def _decode_sample(sample: dict[str, Any], size: int, train: bool, seed: int, epoch: int, center_crop: bool = True,
                   randaugment: RandAugment | None = None) -> tuple[torch.Tensor, int]:  # fmt: skip
    from PIL import Image

    key = next(k for k in sample if k in ("jpg", "png", "bmp", "webp"))
    idx = int(sample["idx"])
    with Image.open(io.BytesIO(sample[key])) as im:
        im = im.convert("RGB")
        x = (train_crop(im, size, sample_rng(seed, epoch, idx), True, randaugment) if train
             else eval_view(im, size, center_crop))  # fmt: skip
    return x, int(sample["cls"])


def _whole(src: Iterator[Any]) -> Iterator[Any]:
    return src  # node splitting is done by ShardLoader itself (each rank is given its own shard list)


class ShardLoader(EpochLoader):
    """webdataset shards written by :func:`write_shards`, read like a :class:`StreamingLoader` (``kind="shards"``).

    Yields ``(x, y)`` on ``device``: ``x`` uint8 ``(b, 3, S, S)`` (``b = batch_size / world_size``; normalised
    float with ``normalize=True``), ``y`` int64. ``randaugment`` (training only): RandAugment per image in the
    workers, after the crop, as :class:`StreamingLoader`. See the module docstring for what is exact across ranks.
    """

    kind = "shards"

    def __init__(self, root: str | os.PathLike, split: str, batch_size: int, image_size: int = 224,
                 device: torch.device | str = "cpu", train: bool = True, seed: int = 0, rank: int = 0,
                 world_size: int = 1, num_workers: int = 4, shuffle_buffer: int = 1000,
                 normalize: bool = False, center_crop: bool = True,
                 randaugment: str | None = None) -> None:  # fmt: skip
        self.randaugment = RandAugment.from_spec(randaugment) if randaugment and train else None
        self.root = Path(root).expanduser()
        meta_path = self.root / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found: write shards with python -m swin_viz.data.shards")
        meta = json.loads(meta_path.read_text())
        if split not in meta["splits"]:
            raise FileNotFoundError(f"{self.root} has no {split!r} shards (it has {sorted(meta['splits'])})")
        check_positive(batch_size, "ShardLoader: batch_size")
        check_positive(world_size, "ShardLoader: world_size")
        check_positive(image_size, "ShardLoader: image_size")
        if not is_int(rank) or not 0 <= rank < world_size:
            raise ValueError(f"ShardLoader: rank must be an int in 0..{world_size - 1}, got {rank!r}")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by world_size {world_size}")
        self.shards = [str(self.root / s) for s in meta["splits"][split]["shards"]]
        if len(self.shards) < world_size:
            raise ValueError(
                f"{len(self.shards)} {split} shards cannot be dealt to {world_size} ranks; write smaller shards "
                f"(--max-count) so there are at least as many shards as ranks"
            )
        self.count = int(meta["splits"][split]["count"])
        self.classes, self.num_classes = list(meta["classes"]), len(meta["classes"])
        self.name = f"webdataset shards {self.root} ({split}: {self.count} images in {len(self.shards)} shards)"
        self.batch_size, self.image_size, self.device = batch_size, image_size, torch.device(device)
        self.train, self.seed, self.rank, self.world_size = train, int(seed), rank, world_size
        self.num_workers, self.shuffle_buffer, self.normalize = num_workers, shuffle_buffer, normalize
        self.center_crop = center_crop
        self.epoch, self._start, self._done = 0, 0, 0
        if train and self.count < batch_size:
            raise ValueError(f"{self.count} images give no batch of {batch_size}")

    def __len__(self) -> int:
        if self.train:
            return self.count // self.batch_size
        return -(-self.count // self.batch_size)  # an upper bound: ranks' shards may hold different counts

    def _restart(self) -> None:
        self._start = 0

    def _my_shards(self) -> list[str]:
        if not self.train:
            return self.shards[self.rank :: self.world_size]
        perm = np.random.default_rng([self.seed, self.epoch, 0x5A]).permutation(len(self.shards))
        return [self.shards[i] for i in perm[self.rank :: self.world_size]]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        import webdataset as wds

        urls = self._my_shards()
        b = self.batch_size // self.world_size
        workers = min(self.num_workers, len(urls) * 2) if self.train else min(self.num_workers, len(urls))
        if self.train:
            # A rank whose shards are short of a full epoch cycles them: every rank must take len() steps (DDP
            # waits for all). Each shard holds at least one image and each worker drops at most one partial batch,
            # so b * (len() + workers) shard reads always suffice; at least two passes, as before.
            urls = urls * max(2, math.ceil(b * (len(self) + max(workers, 1)) / len(urls)))
        size, train, seed, epoch = self.image_size, self.train, self.seed, self.epoch
        ds = wds.WebDataset(urls, shardshuffle=False, nodesplitter=_whole, empty_check=False)
        if train:
            ds = ds.shuffle(self.shuffle_buffer, seed=seed * 1000003 + epoch)
        # a partial, not a lambda: it must pickle under the spawn and forkserver start methods (3.14's default)
        decode = functools.partial(_decode_sample, size=size, train=train, seed=seed, epoch=epoch,
                                   center_crop=self.center_crop, randaugment=self.randaugment)  # fmt: skip
        ds = ds.map(decode).batched(b, partial=not train)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                             pin_memory=self.device.type == "cuda")  # fmt: skip
        steps = len(self) if train else None
        start, self._start, self._done = self._start, 0, self._start
        for x, y in itertools.islice(loader, start, steps):
            x, y = x.to(self.device, non_blocking=True), torch.as_tensor(y).to(self.device, non_blocking=True)
            self._done += 1
            yield (normalize(x.float().div_(255.0)) if self.normalize else x), y

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self._done, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.set_epoch(int(state["epoch"]))
        self._start = self._done = int(state.get("batch", 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swin_viz.data.shards", description=write_shards.__doc__)
    parser.add_argument("root", help="ImageFolder tree with train/ and val/")
    parser.add_argument("out", help="folder for the shards and meta.json")
    parser.add_argument("--max-count", type=int, default=1000, help="images per shard")
    parser.add_argument("--seed", type=int, default=0, help="order of the training samples in the shards")
    args = parser.parse_args(argv)
    meta = write_shards(args.root, args.out, args.max_count, args.seed)
    for split, info in meta["splits"].items():
        print(f"{split}: {info['count']} images in {len(info['shards'])} shards -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
