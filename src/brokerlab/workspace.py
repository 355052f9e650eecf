"""The learner's workspace: your own copies of the course's notebooks, apart from the course.

The course's notebooks are tracked in git, executed, with the outputs that the tests compare.
If you ran and saved them in place, your copy would differ from the course's, and the next
``git pull`` that brings a new chapter would stop with "local changes would be overwritten".
So ``brokerlab lab`` never opens them. It opens a **workspace** instead: a folder outside the
tracked files (``workspace/`` in the checkout, which ``.gitignore`` lists), holding

- ``notebooks/`` and ``exercises/``: your copies of the chapter notebooks and of the exercises,
  yours to run, change and save;
- ``handbook/`` and ``src/``: links to the course's handbook and the reference broker's source,
  so that the notebooks' links to them work from the workspace too.

Every start brings the workspace up to date with :meth:`Workspace.sync`:

- a notebook that is new in the course is copied in, and reported as added;
- a notebook you have not changed since it was copied follows the course's new version;
- a notebook you have changed is never overwritten. If the course's version changed too, you are
  told, and ``brokerlab reset PATH`` gives you the course's version, keeping yours aside in
  ``old/``.

A notebook you deleted stays deleted (``brokerlab reset`` brings it back). What was copied, and
as which version, is kept in ``.brokerlab/manifest.json`` (a SHA-256 of each file).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidArgument

#: Folders whose notebooks the learner gets a copy of.
COPIED = ("notebooks", "exercises")
#: Folders the workspace links to (read, not changed, by the learner).
LINKED = ("handbook", "src")
MANIFEST = Path(".brokerlab") / "manifest.json"


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes: how the workspace tells versions apart."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class SyncReport:
    """What one :meth:`Workspace.sync` did, by path relative to the workspace."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # yours, changed; the course's changed too

    def lines(self) -> list[str]:
        """One line per thing worth telling the learner; none when nothing happened."""
        out = [f"added {path}" for path in self.added]
        out += [f"updated {path} (you had not changed it)" for path in self.updated]
        out += [
            f"kept your copy of {path}; the course has a newer one: brokerlab reset {path}"
            for path in self.kept
        ]
        return out


class Workspace:
    """The learner's folder for the course checked out at ``course``."""

    def __init__(self, course: Path, folder: Path | None = None) -> None:
        self.course = Path(course).resolve()
        self.folder = (self.course / "workspace" if folder is None else Path(folder)).resolve()
        if self.folder == self.course or self.folder in self.course.parents:
            raise InvalidArgument(
                f"workspace={str(folder)!r} is the course checkout or a folder above it: your "
                "copies would overwrite the course's files. Pass a new folder, e.g. "
                "--workspace workspace."
            )
        for name in (*COPIED, *LINKED):
            if self.folder == self.course / name:
                raise InvalidArgument(
                    f"workspace={str(folder)!r} is the course's own {name}/ folder. Pass a "
                    "folder of its own, e.g. --workspace workspace."
                )

    def __repr__(self) -> str:
        return f"Workspace({str(self.folder)!r})"

    # -- what the course offers -------------------------------------------------------------

    def course_files(self) -> list[str]:
        """The notebooks the course offers, as paths relative to the course (and workspace)."""
        return sorted(
            str(path.relative_to(self.course))
            for name in COPIED
            for path in (self.course / name).glob("*.ipynb")
        )

    # -- the manifest -------------------------------------------------------------------------

    def _load(self) -> dict[str, str]:
        path = self.folder / MANIFEST
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _save(self, manifest: dict[str, str]) -> None:
        path = self.folder / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    # -- keeping up to date -------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Create the workspace, or bring it up to date with the course. Never overwrites a file
        the learner changed."""
        report = SyncReport()
        manifest = self._load()
        self.folder.mkdir(parents=True, exist_ok=True)
        for rel in self.course_files():
            source, mine = self.course / rel, self.folder / rel
            course_version = digest(source)
            copied_version = manifest.get(rel)
            if copied_version is None:  # new in the course since the last start
                if not mine.exists():
                    self._copy(source, mine)
                    report.added.append(rel)
                manifest[rel] = course_version if digest(mine) == course_version else ""
            elif not mine.exists() or course_version == copied_version:
                continue  # deleted by the learner, or nothing new
            elif digest(mine) == copied_version:  # the learner has not touched it
                self._copy(source, mine)
                manifest[rel] = course_version
                report.updated.append(rel)
            else:
                report.kept.append(rel)
        for name in LINKED:
            self._link(name)
        self._save(manifest)
        return report

    def reset(self, rel: str | Path) -> Path | None:
        """Give the learner the course's version of ``rel`` again; keep their copy in ``old/``.

        Returns where the old copy went (None if there was no copy to keep).
        """
        rel_path = Path(rel)
        if rel_path.is_absolute():
            try:
                rel_path = rel_path.resolve().relative_to(self.folder)
            except ValueError:
                rel_path = rel_path.resolve().relative_to(self.course)
        key = str(rel_path)
        if key not in self.course_files():
            raise InvalidArgument(
                f"{key!r} is not one of the course's notebooks. Pass a path such as "
                "notebooks/00-start-here.ipynb or exercises/ex01_capacity.ipynb."
            )
        mine, kept = self.folder / key, None
        if mine.exists():
            kept = self._free_name(self.folder / "old" / key)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(mine), str(kept))
        self._copy(self.course / key, mine)
        manifest = self._load()
        manifest[key] = digest(mine)
        self._save(manifest)
        return kept

    # -- files --------------------------------------------------------------------------------

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    @staticmethod
    def _free_name(path: Path) -> Path:
        """``path``, or ``name.1.ipynb``, ``name.2.ipynb``... if it is taken."""
        n, candidate = 0, path
        while candidate.exists():
            n += 1
            candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        return candidate

    def _link(self, name: str) -> None:
        """Make ``workspace/name`` lead to the course's ``name/`` (a symlink; a copy where the
        file system has none)."""
        link, target = self.folder / name, self.course / name
        if link.is_symlink() or link.exists() or not target.exists():
            return
        try:
            os.symlink(os.path.relpath(target, self.folder), link, target_is_directory=True)
        except OSError:  # pragma: no cover - file systems without symlinks
            shutil.copytree(target, link)
