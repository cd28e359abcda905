"""Where outputs go, and whether they can be written: checked before any work, one way for every command.

Output names are planned from the inputs alone (``DIR/`` mode mirrors each input's path), two
spellings of one file are told apart by device and inode, and :func:`check_writable` is the one
check that an output may and can be written (``detect``'s rows and report, ``stability -o``,
``annotate -o``, sidecars and manifests through :mod:`blazecli.outputs.sinks`).
"""

from __future__ import annotations

import errno
import glob
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import InvalidOptionError, OutputExistsError, OutputNotWritableError, permission_denied_as
from ..media.files import STDIN, is_url

STDOUT = "-"
SIDECAR = ".meta.json"  # beside a CSV or JSON Lines output: its run settings and per-video facts


def check_writable(path: Path, overwrite: bool, *, folder_made_later: bool = False,
                   stdout: bool = True) -> None:
    """Refuse an output that is a folder, exists (without ``overwrite``), or lies in a folder
    that is missing or not writable; ``folder_made_later``: the run creates its folder.

    An existing name that is not a regular file (a device, a named pipe, or a link to one such
    as ``/dev/stdout``) is refused even with ``overwrite``: outputs are renamed into place, and
    the rename would put a file where the device or pipe was. ``stdout``: the refusal points to
    ``-`` (the caller writes to stdout)."""
    with permission_denied_as(OutputNotWritableError, path):
        _check_writable(path, overwrite, folder_made_later, stdout)


def _check_writable(path: Path, overwrite: bool, folder_made_later: bool, stdout: bool) -> None:
    if path.is_dir():
        raise OutputNotWritableError(f"{path}: is a directory")
    if path.exists() and not path.is_file() or _names_a_descriptor(path):
        hint = "name a file, or '-' for stdout" if stdout else "name a file"
        raise OutputNotWritableError(f"{path}: is a device, a pipe or a stream, not a file: outputs are "
                                     f"written as new files ({hint})")
    if (path.exists() or path.is_symlink()) and not overwrite:  # a link to nothing is there too
        raise OutputExistsError(f"{path}: already exists (use `overwrite=True` to replace it)")
    folder = path.parent if str(path.parent) else Path(".")
    if folder_made_later and not folder.exists():
        return
    if not folder.is_dir():
        raise OutputNotWritableError(f"{path}: {folder} is a file, not a folder" if folder.exists()
                                     else f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):  # read-only, say: before the work, not after it
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        why = os.strerror(errno.EROFS if read_only else errno.EACCES)
        raise OutputNotWritableError(f"{path}: folder {folder} is not writable ({why})")


_DESCRIPTORS = ("/proc/", "/dev/fd/")
_STANDARD_STREAMS = ("/dev/stdin", "/dev/stdout", "/dev/stderr")


def _names_a_descriptor(path: Path) -> bool:
    """Whether the name, or a link on its way, is a process's descriptor (``/dev/stdout``, a
    link to ``/proc/self/fd/1``): a stream, even while a file is behind it (``> out.csv``),
    which renaming the output into place would replace for every process."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        current = os.path.join(os.path.realpath(os.path.dirname(current)), os.path.basename(current))
        if current.startswith(_DESCRIPTORS) or current in _STANDARD_STREAMS:
            return True
        if not os.path.islink(current):
            return False
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return False  # a loop of links: no descriptor, and refused as existing


def file_identity(path: str) -> object:
    """What makes two spellings one file: device and inode where it exists (symlinks and hard
    links too), else its real path (an output still to write); stdin (``-`` and
    ``/dev/stdin``) is one. Compared to tell inputs, outputs and reports apart."""
    if path in (STDIN, "/dev/stdin"):
        return STDIN
    try:
        status = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return status.st_dev, status.st_ino


def is_directory_output(output: str) -> bool:
    with permission_denied_as(OutputNotWritableError, output):
        return output.endswith(("/", "\\")) or Path(output).is_dir()


def check_output(sources: list[str], output: str, sidecar: bool = False) -> None:
    """Refuse an output that is empty or would replace one of the inputs (itself, or with
    ``sidecar`` the metadata file written beside it), before any work."""
    if not output:
        raise InvalidOptionError("`output` is empty: give a file, a folder ending in '/', or '-' for stdout")
    if output == STDOUT:
        return
    refuse_replacing_inputs(sources, output, [Path(output + SIDECAR)] if sidecar else [])


def refuse_replacing_inputs(sources: list[str], output: str, written: list[Path]) -> None:
    """Refuse ``output`` where it, or a file it stands for (``written``: the files of a folder
    output, a sidecar), is one of the inputs: it would be overwritten."""
    inputs = {file_identity(source): source for source in sources if source != STDIN}
    for path in [Path(output), *written]:
        source = inputs.get(file_identity(str(path)))
        if source is None:
            continue
        if path == Path(output):
            raise InvalidOptionError(f"`output={output}` is the input {source}: it would be overwritten")
        raise InvalidOptionError(f"`output={output}` would write {path}, which is the input {source}: "
                                 "it would be overwritten")


NAME_MAX = 255  # bytes in one file name, on nearly every filesystem


def url_name(url: str) -> str:
    """A URL's output name: the last part of its path (``rtsp://cam/ch1?x=1`` -> ``ch1``), or
    its host where the path is empty (``udp://127.0.0.1:1234`` -> ``127.0.0.1_1234``)."""
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]).replace("/", "_")
    if name in ("", ".", ".."):
        name = parts.netloc.replace(":", "_")
    return name or "stream"


def output_targets(sources: list[str], inputs: list[str], out_dir: Path, fmt: str) -> list[Path]:
    """``DIR/`` mode: each input's output file, its path mirrored below the folder it came from,
    its whole name kept (``clip.mp4.parquet``).

    The name depends on the input alone, so a clip and its thumbnail (``clip.jpg``) never
    meet, and a rerun with ``--skip-existing`` finds the same files whatever else was added.
    Checked before any work: no two inputs may share an output (``x.mkv`` given from two
    folders), no output or sidecar may be an input, and each name must fit a filesystem.
    """
    targets: list[Path] = []
    taken: dict[Path, str] = {}
    sidecar = "" if fmt == "parquet" else SIDECAR
    roots = [Path(os.path.normpath(r)) for r in inputs if r != STDIN and Path(r).is_dir()]
    for source in sources:
        path = Path(os.path.normpath(source))  # `d/../x.mp4` is not below d/
        root = next((r for r in roots if source != STDIN and path != r and path.is_relative_to(r)), None)
        relative = (Path("stdin") if source == STDIN else Path(url_name(source)) if is_url(source)
                    else path.relative_to(root) if root else Path(path.name))
        target = out_dir / relative.with_name(f"{relative.name}.{fmt}")
        if target in taken:
            raise InvalidOptionError(f"{taken[target]} and {source} would both be written to "
                                     f"{target}: give them in separate runs or folders")
        if len(os.fsencode(target.name + sidecar)) > NAME_MAX:
            raise InvalidOptionError(f"{source}: its output name would be longer than {NAME_MAX} "
                                     "bytes; rename the input")
        taken[target] = source
        targets.append(target)
    written = targets + ([Path(f"{target}{sidecar}") for target in targets] if sidecar else [])
    refuse_replacing_inputs(sources, f"{out_dir}/", written)
    return targets


def make_folder(folder: Path) -> list[Path]:
    """Create an output folder (and its parents) or say why it cannot be; the folders it
    created, outermost first, for :func:`remove_empty_folders`."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(f"{folder}: cannot create folder ({exc.strerror})") from exc
    return missing


def remove_empty_folders(made: list[Path]) -> None:
    """Remove the folders a run created (:func:`make_folder`) that it left empty, innermost
    first: a run whose inputs all failed leaves nothing behind."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:  # holds an output, or is gone
            continue


def _temporary_prefix(final: Path) -> str:
    """The name is cut so that a long final name still leaves room for the temporary one."""
    return f".{final.name[:96]}."


def temporary_pattern(final: Path) -> str:
    """A glob for the temporary files :func:`temporary_beside` makes for ``final``."""
    return glob.escape(_temporary_prefix(final)) + "*.tmp"


def temporary_beside(final: Path, overwrite: bool, stdout: bool = True) -> tuple[int, str]:
    """A hidden temporary file (descriptor, path) in the output's folder, so that renaming it
    to ``final`` is atomic; raises first if ``final`` may not or cannot be written (``stdout``:
    as :func:`check_writable`)."""
    check_writable(final, overwrite, stdout=stdout)
    folder = final.parent if str(final.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(final), suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputNotWritableError(f"{final}: cannot write ({exc.strerror})") from exc
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their owner
    except BaseException:  # Ctrl-C or SIGTERM right here must not leave the file behind
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def publish(tmp: str, final: str, overwrite: bool) -> None:
    """Give a finished temporary file its final name, atomically.

    Without ``overwrite`` a file that appeared under that name while this one was written (a
    second run given the same output) is kept: ``link`` fails where the name exists, where
    ``rename`` would silently replace it. Filesystems without hard links fall back to a check
    and a rename.
    """
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise OutputExistsError(f"{final}: appeared while this run wrote it (another run given the "
                                "same output?); it was kept and this run's result dropped") from None
    except OSError:  # no hard links here (FAT, some network filesystems)
        if os.path.lexists(final):
            raise OutputExistsError(f"{final}: appeared while this run wrote it; it was kept") from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)
