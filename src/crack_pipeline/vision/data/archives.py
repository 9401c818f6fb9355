"""A downloaded archive into the folder ingest reads: unpacked safely, arranged in a data set's layout, and
moved into place in one rename, so that a folder that exists is a folder that is complete.

Archives come from the network: a member that would land outside the folder it is unpacked into (an
absolute path, `..`, a link) stops the unpacking with an `InputError` naming the archive and the member.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.io

from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.errors import InputError

RAR_MAGIC = b"Rar!\x1a\x07"  # RAR 4 and RAR 5 both start so
RAR_TOOL = "bsdtar"  # libarchive's command line: reads RAR 4 and 5; Python's standard library reads neither

Layout = Callable[[Path, Path], None]  # (unpacked archive, folder to fill) -> None


def unpack_as(archive: Path, target: Path, layout: Layout) -> None:
    """Unpack `archive` beside `target`, arrange it with `layout`, then rename it to `target`; on any
    failure the temporary folder is removed, so no half-unpacked data set is ever left behind. If `target`
    appeared meanwhile (another run renamed its own into place first), that one stays and this is done."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    try:
        unpacked, arranged = staging / "unpacked", staging / "arranged"
        unpack(archive, unpacked)
        arranged.mkdir()
        try:
            layout(unpacked, arranged)
        except InputError as error:
            raise InputError(f"{archive}: {error}") from None
        try:
            arranged.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_unfinished_unpacking(target: Path) -> None:
    """The temporary folders that unpacking into `target` left when it was killed. Only while no unpacking
    into `target` runs: the caller makes sure of it."""
    for staging in target.parent.glob(_staging_prefix(target) + "*"):
        shutil.rmtree(staging, ignore_errors=True)


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.unpacking-"


def unpack(archive: Path, into: Path, shown_as: str | None = None) -> None:
    """Every member of a zip, tar (any compression) or RAR archive into `into`, which it creates.

    Errors name the archive `shown_as` (by default its path): an archive inside another one is unpacked
    from a temporary folder that will be gone when the message is read.
    """
    name = shown_as or str(archive)
    into.mkdir(parents=True)
    with archive.open("rb") as file:
        magic = file.read(len(RAR_MAGIC))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as members:
                _check_members(name, members.namelist())
                members.extractall(into)
        elif magic == RAR_MAGIC:
            _unpack_rar(archive, name, into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as members:
                _check_members(name, members.getnames())
                members.extractall(into, filter="data")  # the standard library's guard too: no links out
        else:
            raise InputError(f"{name}: neither a zip, a tar nor a RAR archive (a web page, or damaged?)")
    except tarfile.FilterError as error:  # a link or member the standard library's guard caught first
        raise InputError(f"{name}: {error}; an archive like this is not unpacked") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise InputError(f"{name}: a damaged archive ({type(error).__name__}: {error})") from None
    _refuse_links(name, into)


def _unpack_rar(archive: Path, name: str, into: Path) -> None:
    tool = shutil.which(RAR_TOOL)
    if tool is None:
        raise InputError(
            f"{name} is a RAR archive, and unpacking it needs the `{RAR_TOOL}` command: install it "
            f"(Debian/Ubuntu: apt-get install libarchive-tools; macOS: brew install libarchive) and run the "
            f"same command again; the download is kept."
        )
    listing = subprocess.run([tool, "-tf", str(archive)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise InputError(f"{name}: {RAR_TOOL} cannot read it: {listing.stderr.strip()}")
    _check_members(name, listing.stdout.splitlines())
    unpacking = subprocess.run([tool, "-xf", str(archive), "-C", str(into)], capture_output=True, text=True)
    if unpacking.returncode != 0:
        raise InputError(f"{name}: {RAR_TOOL} failed to unpack it: {unpacking.stderr.strip()}")


def _check_members(archive: str, members: Iterable[str]) -> None:
    for member in members:
        path = PurePosixPath(member.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise InputError(
                f"{archive}: member {member!r} would land outside the folder it is unpacked into; "
                f"an archive like this is not unpacked"
            )


def _refuse_links(archive: str, root: Path) -> None:
    """A data set is plain files and folders: a link could point anywhere once moved."""
    for path in root.rglob("*"):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise InputError(f"{archive}: member {path.relative_to(root)} is a link or a special file")


def folder_holding(root: Path, names: Iterable[str], archive_kind: str) -> Path:
    """The shallowest folder under `root` (itself included) with all of the subfolders `names`."""
    names = list(names)
    candidates = [root, *sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts))]
    for folder in candidates:
        if all((folder / name).is_dir() for name in names):
            return folder
    raise InputError(
        f"the {archive_kind} archive has no folder with subfolders {', '.join(n + '/' for n in names)} "
        f"(is it the right file?)"
    )


def move_folders(source: Path, names: Iterable[str], out: Path) -> None:
    for name in names:
        (source / name).rename(out / name)


# --- the layout of each data set: what `fetch` leaves in data/01_raw/<name> ---

OZGENEL_CLASSES = ("Positive", "Negative")
# Bridge decks, pavements, walls: each with its C<x>/ and U<x>/ folders, which ingest's aliases label.
SDNET_SURFACES = ("D", "P", "W")


def ozgenel_layout(unpacked: Path, out: Path) -> None:
    """Özgenel's `Positive/` and `Negative/`, as they are: ingest reads them."""
    move_folders(folder_holding(unpacked, OZGENEL_CLASSES, "Özgenel"), OZGENEL_CLASSES, out)


def sdnet_layout(unpacked: Path, out: Path) -> None:
    """SDNET2018's `D/`, `P/` and `W/`, each with its cracked `C<x>/` and uncracked `U<x>/` folders.

    The publisher's bundle holds a README and the data set as a zip inside the zip: that one is unpacked
    too, with the same care.
    """
    inner = sorted(unpacked.rglob("*.zip"))
    if len(inner) == 1:
        unpack(inner[0], unpacked / ".inner", shown_as=f"member {inner[0].relative_to(unpacked).as_posix()}")
    move_folders(folder_holding(unpacked, SDNET_SURFACES, "SDNET2018"), SDNET_SURFACES, out)


def cfd_layout(unpacked: Path, out: Path) -> None:
    """CFD's photos with ground truth as `images/NNN.jpg` and their crack masks as `masks/NNN.png` (mode L,
    255 = crack), the layout `mask_tiles` and `explain.masks_dir` read; photos without ground truth are
    left out."""
    source = folder_holding(unpacked, ("image", "groundTruth"), "CrackForest")
    (out / "images").mkdir()
    (out / "masks").mkdir()
    for mat in sorted((source / "groundTruth").glob("*.mat")):
        photo = source / "image" / f"{mat.stem}.jpg"
        if photo.is_file():
            photo.rename(out / "images" / photo.name)
            (out / "masks" / f"{mat.stem}.png").write_bytes(png_bytes(cfd_crack_mask(mat)))
    if not any((out / "images").iterdir()):
        raise InputError(
            f"the CrackForest archive has no photo with ground truth in its folder "
            f"{source.relative_to(unpacked).as_posix()}/"
        )


def cfd_crack_mask(mat: Path) -> np.ndarray:
    """CFD's ground truth (`groundTruth{1}.Segmentation`: 1 = background, 2 = crack) as a 0/255 uint8 mask."""
    try:
        truth = scipy.io.loadmat(mat, squeeze_me=True, struct_as_record=False)["groundTruth"]
        segmentation = np.atleast_1d(truth)[0].Segmentation
    except (KeyError, AttributeError, IndexError, ValueError) as error:
        raise InputError(f"{mat.name}: not CFD ground truth ({type(error).__name__}: {error})") from None
    return np.where(np.asarray(segmentation) == 2, 255, 0).astype(np.uint8)
