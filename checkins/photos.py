"""Photos of check-ins, kept under ``DUBAN_HOME`` by content hash (a photo posted twice is
stored once), checked for size and type by their first bytes, never by their name.

They are read by the office (DOCX of the digest) and nobody else: the files are private
to the service's account, and no chat message carries them out of the group.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkins.errors import BadPhoto

PRIVATE = 0o600
# magic bytes -> (MIME type, file suffix)
_MAGIC: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"WEBP", 8, "image/webp", ".webp"),
)


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    sha256: str
    path: str  # relative to the photo folder
    mime: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "path": self.path, "mime": self.mime, "size": self.size}


def sniff(data: bytes) -> tuple[str, str] | None:
    """(MIME type, suffix) of an image by its first bytes, or None."""
    for magic, offset, mime, suffix in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return mime, suffix
    return None


def check(data: bytes, *, max_bytes: int, index: int = 1) -> tuple[str, str]:
    """The photo's type, or :class:`BadPhoto` naming which photo and why."""
    if not data:
        raise BadPhoto(f"第{index}张照片是空的", f"photo {index}: empty")
    if len(data) > max_bytes:
        raise BadPhoto(
            f"第{index}张照片过大（{len(data) // 1024} KB，上限 {max_bytes // 1024} KB），"
            "请压缩后重发",
            f"photo {index}: {len(data)} bytes > {max_bytes}",
        )
    found = sniff(data)
    if found is None:
        raise BadPhoto(
            f"第{index}张附件不是照片（只收 JPEG、PNG、GIF、WebP）",
            f"photo {index}: unknown type",
        )
    return found


def store(folder: Path, data: bytes, *, max_bytes: int, index: int = 1) -> StoredPhoto:
    """Keep ``data`` under ``folder`` by its SHA-256 (once); what was stored."""
    mime, suffix = check(data, max_bytes=max_bytes, index=index)
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[:2]}/{digest}{suffix}"
    target = folder / relative
    if not target.exists():
        _write_whole(target, data)
    return StoredPhoto(sha256=digest, path=relative, mime=mime, size=len(data))


def _write_whole(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target`` (mode 0600), then rename it into
    place: a crash leaves no half photo under its hash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, PRIVATE)
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def photo_folder(home: Path) -> Path:
    return home / "checkins" / "photos"
