"""Content-addressed photo store: ``<root>/ab/cd/abcd…`` named by the bytes' sha256.

store = PhotoStore(Path("/data/photos"))
sha = store.put(b"...jpeg bytes...")   # atomic: temp file + rename; idempotent
sha, created = store.add(b"...")       # created: this call wrote the file (else it was there)
store.read(sha)                        # RegisterError if missing or corrupt
store.discard(sha)                     # remove (the register decides when that is safe)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from finishscan.errors import RegisterError

_SHA = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def relpath(sha: str) -> str:
        """Where a photo lives relative to the root (what the register stores)."""
        if not _SHA.match(sha):
            raise RegisterError(f"not a sha256 hex digest: {sha!r}")
        return f"{sha[:2]}/{sha[2:4]}/{sha}"

    def path(self, sha: str) -> Path:
        return self.root / self.relpath(sha)

    def put(self, data: bytes) -> str:
        """Store ``data`` (if not already there, intact) and return its sha256."""
        return self.add(data)[0]

    def add(self, data: bytes, *, sha: str | None = None) -> tuple[str, bool]:
        """Store ``data`` atomically; ``(sha256, True)`` if this call wrote the file,
        ``(sha256, False)`` if it was already there intact (its mtime is then refreshed, so a
        sweep of old unreferenced files leaves it alone while the new write is in flight).
        ``sha``: the caller's sha256 of ``data`` (saves hashing twice)."""
        sha = sha or sha256_hex(data)
        dst = self.path(sha)
        if dst.exists() and dst.stat().st_size == len(data):
            with contextlib.suppress(OSError):  # a read-only store still serves reads
                os.utime(dst)
            return sha, False
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dst)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha, True

    def discard(self, sha: str) -> bool:
        """Remove the stored file; True if it was there."""
        try:
            self.path(sha).unlink()
        except FileNotFoundError:
            return False
        return True

    def read(self, sha: str) -> bytes:
        """The stored bytes; RegisterError when the file is missing or its hash does not match."""
        p = self.path(sha)
        try:
            data = p.read_bytes()
        except FileNotFoundError as e:
            raise RegisterError(f"stored photo {sha[:12]} is missing from {self.root}") from e
        except OSError as e:
            raise RegisterError(f"stored photo {sha[:12]} cannot be read: {e}") from e
        if sha256_hex(data) != sha:
            raise RegisterError(f"stored photo {sha[:12]} is corrupt (its sha256 does not match)")
        return data

    def check(self, sha: str) -> str | None:
        """``None`` if intact, else a one-line reason (missing / corrupt)."""
        try:
            self.read(sha)
        except RegisterError as e:
            return str(e)
        return None

    def files(self) -> list[str]:
        """The sha256 of every stored file (temporary files excluded)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.glob("??/??/*") if _SHA.match(p.name))
