"""Output files of the command line, checked before anything runs and written whole or not at all.

Every file a ``zerohero`` verb writes goes through this module, in two steps:

1. **Check**, before the command does any work (:meth:`Outputs.add`, :func:`check`): an
   output is refused, as one line ``OPTION FILE: why`` (a ``ValueError``: exit status 2), if

   - its name does not end in an extension the command writes (when it has such a list; the
     case does not matter, and the file is written under exactly the name given);
   - it is a directory;
   - it exists and is not a regular file: a device (``/dev/full``, ``/dev/null``), a FIFO or a
     socket is not a file to replace (writing through it may block forever or lose the data,
     replacing it would delete the node), so zerohero writes only regular files;
   - it is one of the command's inputs (the same file, also through a link);
   - the command writes another output to the same file;
   - its folder cannot be created (a part of the path is a file) or written.

   A symbolic link is followed: the file it points to is replaced and the link stays (replacing
   the link itself would turn it into a regular file and leave the file it named stale).

2. **Write** (:func:`write`, :func:`write_all`): each file goes to a temporary file in its own
   folder (``.NAME.XXXXXXXX.tmp``), is flushed and fsynced, and only when every file of the
   command is written are they renamed into place (``os.replace``, atomic within a folder).
   A failed write (a full disk, a file-size limit, an interrupt) removes the temporary files and
   leaves every existing target as it was; an ``OSError`` is reported as one line. New files
   get the permissions of any file the process creates (``0o666`` less the umask); a replaced
   file keeps its own, and one the user may not write is refused in step 1.

Content is ``str`` (written as UTF-8), ``bytes``, or a function that writes to a binary file
object: NumPy's ``save``/``savez`` and SciPy's ``mmwrite`` get the open file, never a name, so
they cannot append an extension (``R.NPY`` becoming ``R.NPY.npy``) and their write errors
reach the caller (``mmwrite`` given a name drops them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OutputError", "Output", "Outputs", "check", "write", "write_all"]


class OutputError(ValueError):
    """An output that is refused or cannot be written: one line, exit status 2."""


@dataclass(frozen=True)
class Output:
    """One checked output file."""

    option: str     # how messages name it, such as "--out"
    path: Path      # as given: messages and "wrote" lines show it
    target: Path    # the file replaced: ``path`` with symbolic links resolved

    def error(self, why: str) -> OutputError:
        return OutputError(f"{self.option} {self.path}: {why}")


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:             # one of them does not exist (yet): the names decide
        return os.path.realpath(a) == os.path.realpath(b)


class Outputs:
    """The output files of one command, each checked as it is added.

    ``inputs`` maps the command's input options to their paths (``None`` for one not given),
    such as ``{"--a": args.a, "--b": args.b}``."""

    def __init__(self, inputs: dict | None = None):
        self.inputs = {option: path for option, path in (inputs or {}).items() if path}
        self.outputs: list[Output] = []

    def add(self, option: str, path, suffixes=()) -> Output | None:
        """``path`` checked (module doc), or ``None`` when ``path`` is ``None``.
        ``suffixes``: the extensions the command writes, lowercase (empty: any name)."""
        if path is None:
            return None
        path = Path(path)
        out = Output(option, path, Path(os.path.realpath(path)))
        if suffixes and path.suffix.lower() not in suffixes:
            raise out.error(f"expected a {' or '.join(suffixes)} file name")
        if out.target.is_dir():
            raise out.error("is a directory")
        if out.target.exists() and not out.target.is_file():
            raise out.error("exists and is not a regular file (a device, FIFO or socket); "
                            "zerohero writes only regular files")
        if out.target.is_file() and not os.access(out.target, os.W_OK):
            raise out.error("is read-only; zerohero replaces only files it may write")
        for option_in, path_in in self.inputs.items():
            if _same(path_in, out.target):
                raise out.error(f"is the input {option_in} {path_in}; write to another file")
        for other in self.outputs:
            if _same(other.target, out.target):
                raise out.error(f"is also written as {other.option} {other.path}")
        folder = out.target.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            raise out.error(f"{folder} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise out.error(f"cannot create files in {folder}")
        self.outputs.append(out)
        return out


def check(option: str, path, suffixes=(), inputs: dict | None = None) -> Output | None:
    """The one output of a command, checked (:meth:`Outputs.add`); ``None`` without a path."""
    return Outputs(inputs).add(option, path, suffixes)


def write(output: Output, content) -> None:
    """Write one checked output (:func:`write_all`)."""
    write_all([(output, content)])


def write_all(files) -> None:
    """Write ``(output, content)`` pairs: all or none replace their targets (module doc)."""
    files = list(files)
    temps = []
    try:
        for out, content in files:
            try:
                out.target.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.target.with_name(f".{out.target.name}.{secrets.token_hex(4)}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                temps.append(tmp)
                with contextlib.suppress(FileNotFoundError):   # a replaced file keeps its mode
                    os.chmod(fd, stat.S_IMODE(os.stat(out.target).st_mode))
                with open(fd, "wb") as f:
                    if callable(content):
                        content(f)
                    else:
                        f.write(content.encode() if isinstance(content, str) else content)
                    f.flush()
                    os.fsync(f.fileno())    # a full disk may only show here
            except OSError as e:
                raise out.error(f"not written ({e.strerror or e}); an existing file is left "
                                "as it was") from None
        for (out, _), tmp in zip(files, temps):
            try:
                os.replace(tmp, out.target)
            except OSError as e:
                raise out.error(f"not written ({e.strerror or e})") from None
    finally:
        for tmp in temps:   # those not renamed into place
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
