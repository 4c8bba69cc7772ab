"""Weights: the small trained checkpoint that ships with the package, and opt-in real ImageNet Swin-T weights.

``digits-small`` is the ``small`` Swin (``swin_viz.create_model("small")``) trained by this project's own loop
on scikit-learn's bundled handwritten digits, upsampled to 32x32 -- a real, if modest, data set that needs no
download. ``swin_viz/assets/digits_small.json`` records the command that produced it and its metrics;
``scripts/make_digits_checkpoint.py`` regenerates both.

Real ImageNet-1K Swin-T weights never ship, and nothing here downloads at import, build or test time. A reader
who has them passes a local file to :func:`load_imagenet_swin_t` (or sets ``SWIN_VIZ_IMAGENET_WEIGHTS`` to it,
which the chapters read through :func:`imagenet_swin_t_from_env`); ``download=True`` fetches a published file,
only when the reader asks. Either way the file is read with ``torch.load(weights_only=True)`` and loaded through
:func:`swin_viz.load_state_dict`, whose :class:`~swin_viz.LoadReport` names every missing, unexpected or
mis-shaped key.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .checkpoints import LoadReport, load_checkpoint, model_from_checkpoint
from .model import SwinTransformer, swin_t

__all__ = [
    "IMAGENET_ENV",
    "IMAGENET_SWIN_T",
    "PRETRAINED",
    "RealWeights",
    "download_weights",
    "imagenet_swin_t_from_env",
    "load_imagenet_swin_t",
    "load_pretrained",
    "pretrained_info",
]

ASSETS = Path(__file__).resolve().parent / "assets"

PRETRAINED = {"digits-small": "digits_small"}
"""Name -> file stem in ``swin_viz/assets`` (``.pt`` weights, ``.json`` provenance)."""


def pretrained_info(name: str = "digits-small") -> dict[str, Any]:
    """Provenance of a shipped checkpoint: the command, data, metrics and versions that produced it."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown checkpoint {name!r}; shipped: {sorted(PRETRAINED)}")
    path = ASSETS / f"{PRETRAINED[name]}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run scripts/make_digits_checkpoint.py to regenerate it")
    return json.loads(path.read_text())


def load_pretrained(name: str = "digits-small") -> tuple[SwinTransformer, dict[str, Any]]:
    """``(model in eval mode, provenance)`` of a shipped checkpoint, loaded with ``weights_only=True``.

    A new model on every call, the caller's to change. The figures and labs share one read-only copy instead:
    :func:`swin_viz.shared_model` ``(name, weights="pretrained")``.
    """
    info = pretrained_info(name)
    model = model_from_checkpoint(ASSETS / f"{PRETRAINED[name]}.pt")
    return model.eval(), info


# ---------------------------------------------------------------------------------------------------------------
# Real ImageNet-1K Swin-T weights, opt-in.


@dataclass(frozen=True)
class RealWeights:
    """Where a publisher puts a Swin-T ImageNet-1K file, and what it publishes to check it with.

    ``sha256`` is a full digest when the publisher gives one; ``sha256_prefix`` the leading hex digits when only
    those are published (torchvision names its files ``<name>-<first 8 hex digits of the sha256>.pth`` and
    ``torch.hub`` checks that prefix). ``None`` when nothing is published: then pass ``sha256=`` yourself.
    """

    url: str
    layout: str
    sha256: str | None
    sha256_prefix: str | None
    citation: str


IMAGENET_SWIN_T: dict[str, RealWeights] = {
    "torchvision": RealWeights(
        url="https://download.pytorch.org/models/swin_t-704ceda3.pth",
        layout="torchvision",
        sha256=None,
        sha256_prefix="704ceda3",
        citation="torchvision.models.Swin_T_Weights.IMAGENET1K_V1 (torchvision/models/swin_transformer.py); the "
        "file name carries the first 8 hex digits of its sha256, the only hash torchvision publishes",
    ),
    "official": RealWeights(
        url="https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth",
        layout="official",
        sha256=None,
        sha256_prefix=None,
        citation="github.com/microsoft/Swin-Transformer, README (Swin-T, ImageNet-1K, 224x224); the release "
        "publishes no checksum, so pass sha256= to check the file",
    ),
}
"""Publishers of Swin-T ImageNet-1K weights swin_viz can load. No hash here is typed in from memory: the only
one pinned is torchvision's, read from its published file name."""

IMAGENET_ENV = "SWIN_VIZ_IMAGENET_WEIGHTS"
"""Environment variable naming a local Swin-T ImageNet-1K file; the chapters draw the real model when it is set."""

_CHUNK = 1 << 20


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swin_viz"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hash(digest: str, what: str, sha256: str | None, sha256_prefix: str | None) -> None:
    for expected, name in ((sha256, "sha256"), (sha256_prefix, "sha256 prefix")):
        if expected is None:
            continue
        expected = expected.lower()
        if not digest.startswith(expected):
            raise ValueError(
                f"{what}: {name} mismatch: expected {expected}, the file has {digest[: max(len(expected), 8)]}... "
                f"(full sha256 {digest}); the file is not the one published (corrupt, truncated or replaced)"
            )


def download_weights(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` (written atomically), checking its sha256 (or a published prefix of it).

    A file that fails the check is never left at ``dest``. Raises :class:`ConnectionError` naming the URL when
    the server cannot be reached or answers with an error, :class:`ValueError` on a hash mismatch.
    """
    dest = Path(dest)
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as exc:
            code = getattr(exc, "code", None)
            reason = f"HTTP {code} {exc.reason}" if code is not None else getattr(exc, "reason", exc)
            raise ConnectionError(
                f"could not download {url}: {reason}. Nothing was written to {dest}. Download the file "
                f"yourself and pass its path (path=...), or retry when the server can be reached"
            ) from exc
        _check_hash(digest.hexdigest(), f"download of {url}", sha256, sha256_prefix)
    return dest


def load_imagenet_swin_t(
    path: str | os.PathLike | None = None,
    *,
    download: bool = False,
    source: str = "torchvision",
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    timeout: float = 60.0,
) -> tuple[SwinTransformer, LoadReport]:
    """Swin-T (``swin_viz.swin_t()``, 1000 classes) with real ImageNet-1K weights, in eval mode, and its load report.

    * ``path``: a local file in any layout the loader knows (official, timm, torchvision, HuggingFace).
    * ``download=True`` (and no ``path``): fetch ``IMAGENET_SWIN_T[source].url`` (or ``url``) into ``cache_dir``
      (default ``~/.cache/swin_viz``), unless a file is already there; checked against ``sha256`` when given,
      else against what the publisher publishes. Nothing is downloaded unless you pass ``download=True``.

    ``sha256`` (a full hex digest you trust) is checked for a local file too. The weights are loaded strictly:
    every missing, unexpected or mis-shaped key is named in the ``ValueError``.
    """
    if source not in IMAGENET_SWIN_T:
        raise ValueError(f"unknown source {source!r}; choose one of {sorted(IMAGENET_SWIN_T)}")
    published = IMAGENET_SWIN_T[source]
    if path is None:
        if not download:
            raise ValueError(
                f"no weights file given: pass path= to a local Swin-T ImageNet-1K file, set {IMAGENET_ENV}, or pass "
                f"download=True to fetch {published.url} ({published.citation})"
            )
        link = url or published.url
        path = Path(cache_dir) if cache_dir is not None else _default_cache()
        path = path / Path(urllib.parse.urlparse(link).path).name
        prefix = published.sha256_prefix if url is None else None
        expected = sha256 or (published.sha256 if url is None else None)
        if not path.exists():
            download_weights(link, path, sha256=expected, sha256_prefix=prefix, timeout=timeout)
        else:
            _check_hash(_sha256(path), str(path), expected, prefix)
    elif sha256 is not None:
        _check_hash(_sha256(Path(path)), str(path), sha256, None)
    model = swin_t()
    report = load_checkpoint(model, path)
    return model.eval(), report


def imagenet_swin_t_from_env() -> tuple[SwinTransformer, LoadReport] | None:
    """The real Swin-T if ``SWIN_VIZ_IMAGENET_WEIGHTS`` names a file, else ``None`` (never downloads)."""
    value = os.environ.get(IMAGENET_ENV, "").strip()
    if not value:
        return None
    return load_imagenet_swin_t(value)
