"""``python -m swin_viz.train``: every :class:`~swin_viz.train.config.TrainConfig` field is a ``--flag``.

Values are checked before anything runs: a choice outside its set, a negative clip or an accumulation of 0 stop
with a message naming the flag. Problems found later in the user's data or flags (a missing folder, a split
without a class, a file that is not an image, a checkpoint of another run) print one line and exit with status 2;
a loss that became NaN exits with 3. A bare ``python -m swin_viz.train`` says what to pass instead of training Swin-T on
32x32 digits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

import torch.distributed as dist
from PIL import UnidentifiedImageError

from .config import (
    AMP_CHOICES,
    COMPILE_MODES,
    DATA_CHOICES,
    LOADER_CHOICES,
    LR_SCHEDULES,
    PRESETS,
    SWITCH_CHOICES,
    TrainConfig,
)
from .loop import NonFiniteLossError, train

__all__ = ["BARE_MESSAGE", "USER_ERRORS", "main", "parse_args", "user_error_line"]

_CHOICES = {"data": DATA_CHOICES, "loader": LOADER_CHOICES, "amp": AMP_CHOICES, "compile": SWITCH_CHOICES,
            "compile_mode": COMPILE_MODES, "channels_last": SWITCH_CHOICES, "lr_schedule": LR_SCHEDULES}  # fmt: skip

BARE_MESSAGE = """python -m swin_viz.train needs to know what to train on. For example:
  python -m swin_viz.train --preset cpu-demo                       # a small Swin on the bundled digits, ~30 s on a CPU
  python -m swin_viz.train --data folder --data-root ~/imagenet    # the paper's recipe on root/train, root/val
  python -m swin_viz.train --data shards --data-root ~/imagenet-shards
  python -m swin_viz.train --help                                  # every flag"""


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                                              PermissionError, UnidentifiedImageError)  # fmt: skip
"""What ``main`` reports in one line with exit status 2: problems with the data or the flags (a missing folder, a
split missing a class, a file that is not an image, a checkpoint of another run), not bugs."""


def user_error_line(exc: BaseException) -> str:
    """The one line that names the problem. An error raised in a DataLoader worker arrives wrapped ("Caught X in
    DataLoader worker process 0. Original Traceback ..."): its last line is the worker's own message."""
    text = str(exc).strip() or type(exc).__name__
    if "Original Traceback" in text:
        text = text.splitlines()[-1]
    return " ".join(line.strip() for line in text.splitlines())


def _field_type(f: dataclasses.Field) -> type:
    hints = typing.get_type_hints(TrainConfig)
    t = hints[f.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if args else t


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The config the command line describes (a preset, then the flags given), validated."""
    parser = argparse.ArgumentParser(prog="python -m swin_viz.train", description=sys.modules[__package__].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                        help="start from a named configuration; other flags override it")  # fmt: skip
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        kind = _field_type(f)
        if f.name == "model_kwargs":
            parser.add_argument(flag, type=json.loads, default=None, help="JSON, e.g. '{\"embed_dim\": 64}'")
        elif f.name == "crop_scale":
            parser.add_argument(flag, type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                                help=f"default: {default}")  # fmt: skip
        elif kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, type=kind, default=None, choices=_CHOICES.get(f.name),
                                help=f"default: {default}")  # fmt: skip
    args = parser.parse_args(argv)
    values = dict(PRESETS[args.preset])
    for f in dataclasses.fields(TrainConfig):
        given = getattr(args, f.name)
        if given is not None:
            values[f.name] = tuple(given) if f.name == "crop_scale" else given
    try:
        return TrainConfig(**values).validate()
    except ValueError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(BARE_MESSAGE, file=sys.stderr)
        return 2
    cfg = parse_args(argv)
    try:
        train(cfg)
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except USER_ERRORS as exc:  # the user's data or flags: one line, no traceback
        print(f"error: {user_error_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0
