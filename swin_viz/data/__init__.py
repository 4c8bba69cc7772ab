"""The data side of training (the book's chapter "Training Swin"): where images come from, how they are
augmented, how they are batched.

* :mod:`~swin_viz.data.sources`: in-memory sets (:func:`load_digits`, the offline default; :func:`load_cifar10`;
  :func:`load_image_folder`) and folder indexes for streaming (:func:`scan_image_folder`, :func:`scan_splits`);
* :mod:`~swin_viz.data.transforms`: per-image crops in loader workers, :func:`normalize` and the ImageNet constants;
* :mod:`~swin_viz.data.rand_augment`: the recipe's RandAugment (per image, on PIL, where the crop happens) and
  random erasing (per-pixel noise, on the device);
* :mod:`~swin_viz.data.augment`: batch augmentation on the device (crops of in-memory sets, Mixup/CutMix);
* :mod:`~swin_viz.data.loaders`: :class:`DeviceLoader` (in memory), :class:`StreamingLoader` (worker processes),
  :class:`SyntheticLoader`; :mod:`~swin_viz.data.shards`: webdataset shards;
* :mod:`~swin_viz.data.tasks`: generated, controlled tasks, each isolating one mechanism (the book's experiments).
"""

from .augment import MixupCutmix, augment_batch, mixup_cutmix
from .loaders import DeviceLoader, EpochPlan, StreamingLoader, SyntheticLoader
from .rand_augment import RandAugment, RandomErasing, parse_randaugment
from .sources import (
    IMAGE_EXTENSIONS,
    FolderIndex,
    ImageSet,
    load_cifar10,
    load_dataset,
    load_digits,
    load_image_folder,
    scan_image_folder,
    scan_splits,
    split_folder,
)
from .transforms import IMAGENET_MEAN, IMAGENET_STD, decode_rgb, eval_crop, normalize, train_crop

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "DeviceLoader",
    "EpochPlan",
    "FolderIndex",
    "ImageSet",
    "MixupCutmix",
    "RandAugment",
    "RandomErasing",
    "StreamingLoader",
    "SyntheticLoader",
    "augment_batch",
    "decode_rgb",
    "eval_crop",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "mixup_cutmix",
    "normalize",
    "parse_randaugment",
    "scan_image_folder",
    "scan_splits",
    "split_folder",
    "train_crop",
]
