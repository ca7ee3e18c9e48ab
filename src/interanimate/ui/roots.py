"""What the web app may read: the dataset folders given on the command line and the app's own temporary folder,
nothing else. A path is resolved (symlinks followed) before it is compared, so ``..``, absolute paths elsewhere and
symlinks that lead out are all refused alike."""

from __future__ import annotations

import os
from pathlib import Path

from interanimate.errors import UserError


class Roots:
    def __init__(self, roots: list[str | os.PathLike]):
        self.roots = [Path(r).resolve() for r in roots]

    def __contains__(self, path: str | os.PathLike) -> bool:
        resolved = Path(path).resolve()
        return any(resolved == r or resolved.is_relative_to(r) for r in self.roots)

    def resolve(self, path: str | os.PathLike, what: str = "path") -> Path:
        """``path`` (absolute, or relative to the first root) resolved, if it lies inside a root; else one line."""
        text = str(path).strip()
        if not text:
            raise UserError(f"{what}: empty")
        candidate = Path(text)
        if not candidate.is_absolute():
            if not self.roots:
                raise UserError(f"{what} {text}: no folder was given to the app (--data DIR)")
            candidate = self.roots[0] / candidate
        resolved = candidate.resolve()
        if resolved not in self:
            allowed = ", ".join(str(r) for r in self.roots) or "none"
            raise UserError(f"{what} {text}: outside the folders this app may read ({allowed})")
        return resolved
