"""Find a dataset's files on this machine, or download them once, checked by SHA-256.

Search order, first complete directory wins (each file plain or ``.gz``):

1. the ``root`` argument (the directory itself, then ``root/<name>``);
2. ``$DEEPGRAD_DATA/<name>``;
3. the cache, ``~/.cache/deepgrad/<name>``;
4. system directories (e.g. ``/usr/share/datasets/fashion-mnist`` from Debian's
   ``dataset-fashion-mnist``);
5. a download from the official mirrors into the cache: streamed to a temporary file in the cache
   directory, checked against the published SHA-256, fsynced, then renamed into place, so that
   neither a failed check nor a crash leaves a partial file under the real name.

When all fail, one :class:`DatasetNotFoundError` lists every place tried and how to fix it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepgrad.datasets.idx import GZIP_MAGIC
from deepgrad.errors import FileFormatError

DATA_ENV = "DEEPGRAD_DATA"
DOWNLOAD_TIMEOUT = 60.0   # seconds without data before a mirror is given up
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One published file of a dataset.

    Args:
        name: the published file name, e.g. ``train-images-idx3-ubyte.gz``.
        sha256: the SHA-256 of the published file.
        content_sha256: the SHA-256 of its decompressed content; a download matching only this
            one (a mirror that recompressed the same data) is accepted too.
    """

    name: str
    sha256: str
    content_sha256: str

    @property
    def stem(self) -> str:
        """The name without ``.gz`` (the uncompressed file's name)."""
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's files can be found or downloaded.

    Args:
        name: its directory name under the data roots, e.g. ``fashion-mnist``.
        title: its name in messages, e.g. ``Fashion-MNIST``.
        files: the files that make it up.
        mirrors: base URLs (ending in ``/``) tried in order; a file's URL is base + file name.
        system_dirs: directories where a system package puts the files.
        install_hint: a command that installs such a package, for the error message.
    """

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are nowhere to be found and could not be downloaded."""


def urlopen(url: str, timeout: float) -> Any:
    """``urllib.request.urlopen``, imported on first use (its import takes ~15 ms)."""
    from urllib.request import urlopen as open_url

    return open_url(url, timeout=timeout)


def cache_dir(source: DatasetSource) -> Path:
    """The directory downloads go to: ``~/.cache/deepgrad/<name>``."""
    return Path.home() / ".cache" / "deepgrad" / source.name


def locate(source: DatasetSource, root: str | os.PathLike | None = None,
           download: bool = True) -> dict[str, Path]:
    """The path of each of the dataset's files, keyed by :attr:`RemoteFile.stem`, found in the
    search order of this module (downloading into the cache if ``download``).

    Raises:
        DatasetNotFoundError: nothing worked; the message lists each place tried.
    """
    tried: list[str] = []
    for label, directory in search_places(source, root):
        if directory is None:
            tried.append(label)
            continue
        found, problem = _look(source, directory)
        if not problem:
            return found
        tried.append(f"{label}: {problem}")
    if not download:
        tried.append("download: not attempted (download=False)")
    else:
        found = _download_missing(source, tried)
        if found is not None:
            return found
    raise DatasetNotFoundError(_report(source, tried))


def search_places(source: DatasetSource, root: str | os.PathLike | None
            ) -> list[tuple[str, Path | None]]:
    """(label, directory) of the places to look for ``source``, in this module's search order
    (without the download); a place that is not set has no directory, and its label says so."""
    places: list[tuple[str, Path | None]] = []
    if root is None:
        places.append(("root argument: not given", None))
    else:
        root = Path(root).expanduser()
        places += [(f"root={os.fspath(root)!r}", root),
                   (f"root={os.fspath(root)!r} + {source.name}", root / source.name)]
    data = os.environ.get(DATA_ENV)
    if data:
        directory = Path(data).expanduser() / source.name
        places.append((f"${DATA_ENV}/{source.name} = {directory}", directory))
    else:
        places.append((f"${DATA_ENV}/{source.name}: {DATA_ENV} is not set", None))
    places.append((f"cache {cache_dir(source)}", cache_dir(source)))
    places += [(f"system directory {d}", Path(d)) for d in source.system_dirs]
    return places


def _look(source: DatasetSource, directory: Path) -> tuple[dict[str, Path], str]:
    """The files present in ``directory`` and '' if all are, else what is wrong."""
    if not directory.is_dir():
        return {}, "does not exist"
    found, missing = {}, []
    for file in source.files:
        for candidate in (directory / file.name, directory / file.stem):
            if candidate.is_file():
                found[file.stem] = candidate
                break
        else:
            missing.append(f"{file.stem}(.gz)")
    return found, ("missing " + ", ".join(missing)) if missing else ""


def _download_missing(source: DatasetSource, tried: list[str]) -> dict[str, Path] | None:
    """Download into the cache the files it lacks; None (and the failures in ``tried``) if one
    could not be had from any mirror."""
    found, _ = _look(source, cache_dir(source))
    for file in source.files:
        if file.stem in found:
            continue
        for mirror in source.mirrors:
            url = mirror + file.name
            try:
                found[file.stem] = _fetch(url, file, cache_dir(source))
                break
            except (OSError, ValueError) as error:   # URLError is an OSError
                tried.append(f"download {url}: {error}")
        else:
            return None
    return found


def _fetch(url: str, file: RemoteFile, directory: Path) -> Path:
    """Download ``url`` into ``directory`` atomically, checked against ``file``'s hashes."""
    print(f"deepgrad: downloading {url} to {directory}", file=sys.stderr)
    directory.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=f".{file.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            with urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        compressed = _starts_with_gzip(temp)
        if digest.hexdigest() != file.sha256 and _content_sha256(temp) != file.content_sha256:
            raise FileFormatError(
                f"checksum mismatch: SHA-256 {digest.hexdigest()}, but the published file has "
                f"{file.sha256} (a corrupted or altered download; nothing was kept)")
        target = directory / (file.name if compressed else file.stem)
        os.replace(temp, target)
        return target
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _starts_with_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _content_sha256(path: str) -> str | None:
    """SHA-256 of the decompressed content (of the bytes if not gzip); None if corrupted."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if _starts_with_gzip(path) else raw
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        return None
    return digest.hexdigest()


def _report(source: DatasetSource, tried: list[str]) -> str:
    names = ", ".join(f.name for f in source.files)
    lines = [f"{source.title}: its data files were not found and could not be downloaded.",
             f"Looked for {names} (each plain or .gz), in this order:"]
    lines += [f"  - {entry}" for entry in tried]
    lines.append("To fix it, do one of:")
    if source.install_hint:
        lines.append(f"  - install the system package: {source.install_hint}")
    lines += [f"  - put the files in a directory and pass root=<that directory>, or set "
              f"{DATA_ENV}=<dir> with the files in <dir>/{source.name}",
              f"  - allow the download (download=True, with internet access): the files are "
              f"downloaded once into {cache_dir(source)}"]
    return "\n".join(lines)
