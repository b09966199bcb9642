"""Loading, verification, preprocessing and hashing of images.

Every image is read once, checked (format, size, decompression bombs), turned into the exact
bytes every provider will receive, and identified by the sha256 of those bytes. What the check found
is remembered in the run store (`CheckedImage`), so a later run neither reads nor decodes a file
whose size, mtime, ctime and inode are unchanged, nor decodes in-memory bytes it has seen before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import re
import stat
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ctxsafe.errors import DataError
from ctxsafe.paths import why_not_a_file
from ctxsafe.schema import ImagePart

SENDABLE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
SENDABLE_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}  # others (CMYK, YCbCr, LAB, 16-bit) render unreliably
_PIL_STREAM = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
MAX_PIXELS = 40_000_000  # anything larger is refused as a likely decompression bomb
DEFAULT_MAX_SIDE = 2048
ORIGINAL = "original"
RACY_S = 2.0
"""A file modified this recently is checked but not remembered: a rewrite within the file system's
timestamp granularity could keep the same stamp (git's "racily clean" problem)."""


@dataclass(frozen=True)
class ImagePolicy:
    """How an image's bytes are prepared before sending; recorded in every ImagePart."""

    max_side: int = DEFAULT_MAX_SIDE

    def describe(self, reencoded: bool, notes: tuple[str, ...] = ()) -> str:
        """"original", or "png:max2048" plus why it was re-encoded beyond size (";first-frame-of-12",
        ";from-CMYK"): the image part records exactly what the provider was sent."""
        return f"png:max{self.max_side}" + "".join(f";{n}" for n in notes) if reencoded else ORIGINAL


@dataclass(frozen=True)
class CheckedImage:
    """What verifying one version of an image found, remembered in the run store under `key` (the
    resolved path, or `sha256:<digest>` of in-memory bytes) for one `max_side`."""

    key: str
    stamp: str
    """size:mtime_ns:ctime_ns:inode of the file when it was checked; empty for in-memory bytes."""
    sha256: str
    media_type: str
    width: int
    height: int
    policy: str
    payload_bytes: int


def file_stamp(path: Path) -> str | None:
    """The file's version as the OS reports it, or None when it changed too recently to be trusted."""
    st = os.stat(path)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_S * 1e9:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


@functools.lru_cache(maxsize=1024)
def _resolved_dir(folder: str) -> str:
    """A folder resolved once per process, not once per image: a data set's 12,000 images sit in a few
    folders, and resolving a path costs an `lstat` per component (half of loading remembered images)."""
    return str(Path(folder).resolve())


def _resolve(path: str) -> str:
    """`Path(path).resolve()`, with its folder resolved once (`_resolved_dir`): only a final component that
    is a symlink, `.` or `..` needs the full resolution. Strings, not `Path`s: pathlib's parsing was the next
    largest cost per image."""
    folder, name = os.path.split(path)
    if name in ("", ".", ".."):
        return str(Path(path).resolve())
    target = os.path.join(_resolved_dir(folder or "."), name)
    try:
        if stat.S_ISLNK(os.lstat(target).st_mode):
            return str(Path(path).resolve())
    except OSError:
        pass  # as resolve(): a missing or unreadable name stays as it is (the file check reports it)
    return target


def resolve_inside(root: Path, relative: str, *, file: str, record: str) -> Path:
    """Resolve `relative` under `root`, refusing absolute paths, `..` escapes and outward symlinks."""
    if not relative or not isinstance(relative, str):
        raise DataError("image path is empty or not a string", file=file, record=record)
    if os.path.isabs(relative):
        raise DataError(f"image path {relative!r} is absolute; it must stay inside {root}", file=file,
                        record=record)
    try:
        root_resolved = _resolved_dir(str(root))
        target = _resolve(os.path.join(root, relative))
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise DataError(f"image path {relative!r} cannot be resolved: {exc}", file=file, record=record) from None
    if target != root_resolved and not target.startswith(os.path.join(root_resolved, "")):
        raise DataError(f"image path {relative!r} leaves the data folder {root}", file=file, record=record)
    return Path(target)


def _prepare(data: bytes, source: str, policy: ImagePolicy, record: str) -> tuple[bytes, str, int, int, str]:
    from PIL import Image, UnidentifiedImageError  # loaded with the first image, not at start-up

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise DataError(f"image {source} is {width}x{height} pixels, over the {MAX_PIXELS} limit "
                                    "(possible decompression bomb)", file=source, record=record)
                probe.verify()
            with Image.open(io.BytesIO(data)) as img:
                img.load()  # the first frame
                frames = int(getattr(img, "n_frames", 1) or 1)
                notes = ((f"first-frame-of-{frames}",) if frames > 1 else ()) + \
                    ((f"from-{img.mode}",) if img.mode not in SENDABLE_MODES else ())
                if fmt in SENDABLE_FORMATS and max(width, height) <= policy.max_side and not notes:
                    return data, SENDABLE_FORMATS[fmt], width, height, policy.describe(False)
                small = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P", "PA") else "RGB")
                small.thumbnail((policy.max_side, policy.max_side))
                out = io.BytesIO()
                small.save(out, format="PNG", optimize=False)
                return out.getvalue(), "image/png", small.width, small.height, policy.describe(True, notes)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"image {source} refused as a decompression bomb: {exc}", file=source,
                        record=record) from exc
    except UnidentifiedImageError:
        raise DataError(f"image {source} is corrupt or of an unsupported format (not a recognised image)",
                        file=source, record=record) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as exc:
        detail = _PIL_STREAM.sub(source, str(exc)) or type(exc).__name__
        raise DataError(f"image {source} is corrupt or of an unsupported format: {detail}", file=source,
                        record=record) from None


class ImageStore:
    """Holds prepared image bytes by sha256; data URLs are built lazily and kept in an LRU bounded by size.

    With the default budget every payload of a benchmark-sized run is base64-encoded once per run,
    whichever provider or role sends it; `encodings` counts the encodings actually made.
    """

    def __init__(self, policy: ImagePolicy | None = None, lru_bytes: int = 512 << 20,
                 known: Mapping[str, CheckedImage] | None = None) -> None:
        self.policy = policy or ImagePolicy()
        self._known = known or {}
        self.fresh: dict[str, CheckedImage] = {}
        """Images checked (read and decoded) in this session, for the run store to remember."""
        self.decoded = 0
        self._later: dict[str, int] = {}  # sha -> payload size, for remembered images re-encoded only when sent
        self._paths: dict[str, Path | bytes] = {}
        self._urls: OrderedDict[str, str] = OrderedDict()
        self._lru_bytes = lru_bytes
        self._url_bytes = 0
        self.encodings = 0
        self._by_source: dict[str, ImagePart] = {}

    def add_file(self, path: Path, *, record: str, source: str | None = None) -> ImagePart:
        """Load, verify and register an image file; errors name the file and record."""
        src = source or str(path)
        if src in self._by_source:
            return self._by_source[src]
        problem = why_not_a_file(path)
        if problem is not None:
            raise DataError(f"image file {path} {problem}", file=str(path), record=record)
        try:
            stamp = file_stamp(path)
            seen = self._known.get(str(path))
            if seen is not None and stamp is not None and seen.stamp == stamp:
                part = self._recall(seen, src, path)
            else:
                part = self._register(path.read_bytes(), src, record, keep=path)
                if stamp is not None:
                    self.fresh[str(path)] = self._checked(str(path), stamp, part)
        except OSError as exc:
            raise DataError(f"cannot read image file {path}: {exc}", file=str(path), record=record) from exc
        self._by_source[src] = part
        return part

    def add_bytes(self, data: bytes, *, source: str, record: str) -> ImagePart:
        """Register in-memory image bytes (e.g. from a parquet row)."""
        if source in self._by_source:
            return self._by_source[source]
        key = f"sha256:{hashlib.sha256(data).hexdigest()}"
        seen = self._known.get(key)
        if seen is not None:
            part = self._recall(seen, source, data)
        else:
            part = self._register(data, source, record, keep=None)
            self.fresh[key] = self._checked(key, "", part)
        self._by_source[source] = part
        return part

    def _recall(self, seen: CheckedImage, source: str, held: Path | bytes) -> ImagePart:
        """An image checked in an earlier session: nothing is read or decoded now. One that was re-encoded
        is re-encoded again only if it is sent, and its sha256 checked then."""
        self._paths[seen.sha256] = held
        if seen.policy != ORIGINAL:
            self._later[seen.sha256] = seen.payload_bytes
        return ImagePart(source=source, sha256=seen.sha256, media_type=seen.media_type, width=seen.width,
                         height=seen.height, policy=seen.policy)

    def _checked(self, key: str, stamp: str, part: ImagePart) -> CheckedImage:
        return CheckedImage(key=key, stamp=stamp, sha256=part.sha256, media_type=part.media_type, width=part.width,
                            height=part.height, policy=part.policy, payload_bytes=self.size_of(part))

    def _register(self, data: bytes, source: str, record: str, keep: Path | None) -> ImagePart:
        sent, media_type, width, height, policy = _prepare(data, source, self.policy, record)
        self.decoded += 1
        sha = hashlib.sha256(sent).hexdigest()
        # Keep only the path when the original bytes are sent unchanged, to hold memory flat.
        self._paths[sha] = keep if (keep is not None and sent is data) else sent
        return ImagePart(source=source, sha256=sha, media_type=media_type, width=width, height=height,
                         policy=policy)

    def bytes_of(self, part: ImagePart) -> bytes:
        held = self._paths.get(part.sha256)
        if held is None:
            raise DataError(f"image {part.source} was not loaded in this session", file=part.source)
        data = held.read_bytes() if isinstance(held, Path) else held
        if part.sha256 in self._later:
            data = _prepare(data, part.source, self.policy, part.source)[0]
        if (isinstance(held, Path) or part.sha256 in self._later) and hashlib.sha256(data).hexdigest() != part.sha256:
            where = str(held) if isinstance(held, Path) else part.source
            raise DataError(f"image {where} changed on disk since it was loaded", file=where)
        return data

    def data_url(self, part: ImagePart) -> str:
        url = self._urls.get(part.sha256)
        if url is None:
            url = f"data:{part.media_type};base64,{base64.b64encode(self.bytes_of(part)).decode('ascii')}"
            self.encodings += 1
            self._urls[part.sha256] = url
            self._url_bytes += len(url)
            while self._url_bytes > self._lru_bytes and len(self._urls) > 1:
                self._url_bytes -= len(self._urls.popitem(last=False)[1])
        else:
            self._urls.move_to_end(part.sha256)
        return url

    def size_of(self, part: ImagePart) -> int:
        """Bytes of the payload as sent (for providers' per-image size limits), without reading a file."""
        held = self._paths.get(part.sha256)
        if held is None:
            raise DataError(f"image {part.source} was not loaded in this session", file=part.source)
        if part.sha256 in self._later:
            return self._later[part.sha256]
        return held.stat().st_size if isinstance(held, Path) else len(held)

    def policy_summary(self, parts: Iterable[ImagePart]) -> str:
        """One line saying how the run's distinct images are sent, e.g. `12 images: 10 original, 2 png:max2048`."""
        by_sha = {p.sha256: p.policy for p in parts}
        counts = Counter(by_sha.values())
        detail = ", ".join(f"{n} {policy}" for policy, n in sorted(counts.items()))
        return f"{len(by_sha)} images sent as prepared once for every provider: {detail}" if by_sha else ""

    def base64_of(self, part: ImagePart) -> str:
        """The base64 payload alone (Anthropic, Gemini), cut from the cached data URL so it is encoded once."""
        return self.data_url(part).partition(",")[2]
