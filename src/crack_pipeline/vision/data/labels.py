"""Class labels from folder names, through configurable aliases."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError

CRACK = "crack"
NO_CRACK = "no_crack"
CLASS_NAMES = (NO_CRACK, CRACK)  # index 1 is the positive class everywhere

DEFAULT_ALIASES: dict[str, list[str]] = {
    CRACK: ["Positive", "crack", "cracks", "cracked", "1_cracked", "CD", "CP", "CW"],
    NO_CRACK: ["Negative", "no_crack", "non_crack", "uncracked", "0_uncracked", "UD", "UP", "UW"],
}


class UnknownLabelFolders(InputError):
    """Some files sit in folders whose names match no label alias."""


def _folder_names(label: str, names: object) -> list[str]:
    """A class's aliases as patterns: a folder named by digits (`[1, 1_cracked]`, a number in YAML) is that
    name; anything but a list is a `ConfigError` (`crack: Positive` was matched letter by letter, so the
    folder Positive/ was reported unlabelled)."""
    if not isinstance(names, list | tuple) or not all(
        isinstance(name, str | int) and not isinstance(name, bool) for name in names
    ):
        example = "[Positive]" if label == CRACK else "[Negative]"
        raise ConfigError(
            f"ingest.label_aliases.{label}: a list of folder names, e.g. {example}, not {names!r}"
        )
    return [str(name) for name in names]


class LabelResolver:
    """Maps a file's relative path to a label: the nearest enclosing folder that matches an alias wins.

    Aliases are case-insensitive shell patterns (`C*` works), so SDNET2018's `D/CD/x.jpg` is a crack
    and `Positive/x.jpg` too. Folders that match no alias are treated as plain grouping folders.
    """

    def __init__(self, aliases: Mapping[str, Iterable[str]]):
        unknown = set(aliases) - set(CLASS_NAMES)
        if unknown:
            raise ConfigError(
                f"ingest.label_aliases has unknown classes {sorted(unknown)}; use {list(CLASS_NAMES)}"
            )
        self._patterns = [
            (pattern.lower(), label)
            for label, names in aliases.items()
            for pattern in _folder_names(label, names)
        ]
        self.label_of_folder = functools.lru_cache(maxsize=4096)(self._label_of_folder)

    def _label_of_folder(self, name: str) -> str | None:
        name = name.lower()
        matches = {label for pattern, label in self._patterns if fnmatch.fnmatchcase(name, pattern)}
        if len(matches) > 1:
            raise ConfigError(f"ingest.label_aliases: folder name {name!r} matches aliases of both classes")
        return matches.pop() if matches else None

    def label_of(self, relative_path: str) -> str | None:
        for folder in reversed(relative_path.split("/")[:-1]):
            label = self.label_of_folder(folder)
            if label is not None:
                return label
        return None

    def require_labels(
        self, relative_paths: Iterable[str], root_name: str = "", labelled_files: int = 0
    ) -> None:
        """Raise `UnknownLabelFolders` listing the folders of the paths that have no label; where files lie at
        the top level of a folder itself named as a class (`root_name`: .../Positive given for its parent),
        saying so; where they lie at the top level beside `labelled_files` images in class folders, saying
        they are unlabelled images to move, not folder names to alias."""
        unmatched: dict[str, list[str]] = {}
        for path in relative_paths:
            if self.label_of(path) is None:
                unmatched.setdefault(str(PurePosixPath(path).parent), []).append(PurePosixPath(path).name)
        if unmatched:
            # A file's name too: one stray image (a cover.jfif) among a folder's other files is found.
            listing = ", ".join(
                f"{'<top level>' if folder == '.' else repr(folder)} "
                + (f"(1 file: {names[0]})" if len(names) == 1 else f"({len(names)} files, e.g. {min(names)})")
                for folder, names in sorted(unmatched.items())
            )
            root_label = self.label_of_folder(root_name) if "." in unmatched and root_name else None
            given = (
                f" The folder given, {root_name!r}, is itself a class folder ({root_label}): give the folder "
                f"that holds it and the other class's."
                if root_label
                else ""
            )
            loose = len(unmatched.get(".", []))
            # "label these next" leaves a site's folder so: a few labelled, the rest loose beside them. The
            # alias hint named no folder there (its top level has no name to alias).
            beside = (
                f" The {loose} image(s) at the top level lie beside {labelled_files} in class folders: "
                f"unlabelled (evaluate_folder ranks such images for labelling), and a folder to train on "
                f"holds labelled ones only: move them into class folders too, or out of this folder."
                if loose and labelled_files and not root_label
                else ""
            )
            aliases = (
                " Put images in class folders such as Positive/ and Negative/, or add these folder names to "
                "`ingest.label_aliases` in conf/base/parameters_ingest.yml, or in the run's environment "
                "(conf/local/ by default, kept out of git; conf/<env>/ with --env=<env>)."
                if set(unmatched) - {"."} or not beside
                else ""
            )
            raise UnknownLabelFolders(f"no class label for the files in: {listing}.{given}{beside}{aliases}")
