"""One small filesystem interface over local disk, S3 and Azure Blob/ADLS.

The lake needs only a handful of operations, and it needs two of them to be *atomic*:

* :meth:`LakeFileSystem.publish_file` makes a finished local file visible at its final path in one step.
  On local disk the file is written beside the lake in ``<lake>/.tmp`` and then hard-linked (immutable
  paths: fails if the path exists) or renamed (replaceable paths) into place. On S3 and Azure a single PUT
  (or a completed multipart upload / committed block list) is atomic by the service's own guarantee: a
  reader sees either nothing or the whole object.
* Nothing is ever written in place, so a crash leaves at most an orphan in ``.tmp``, never a half file.

Transient object-store errors (connection resets and timeouts, HTTP 429/500/502/503/504, throttling) are
retried with exponential backoff (:data:`RETRY_DELAYS_SECONDS`) on every S3/Azure call made here: listing,
``exists``/``info``, opening and whole-object reads, downloads, uploads and deletes. The service clients
retry a few times themselves; this covers outages longer than their budget. Nothing else is retried: a
missing object, a refused permission or a bad drop (an error of the readers, which parse bytes after they
were fetched) fails at once. Bytes streamed from an open file are not re-read here (s3fs/adlfs retry
their own range reads).

Credentials are never written in code. Under Dagster they come from the
:class:`~retina_assets.defs.resources.StorageCredentials` resource (``EnvVar`` fields) as
``storage_options``; without options (the :mod:`retina_assets.lake` API, scripts) s3fs reads
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_ENDPOINT_URL`` or ``RETINA_S3_ENDPOINT_URL`` for
S3-compatible servers) and adlfs ``AZURE_STORAGE_CONNECTION_STRING`` or ``AZURE_STORAGE_ACCOUNT_NAME``/
``AZURE_STORAGE_ACCOUNT_KEY``. ``repr`` of these objects never shows them.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import fsspec

log = logging.getLogger("retina_assets.storage")

# Waits before each retry of an object-store call that failed with a transient error (then it fails).
RETRY_DELAYS_SECONDS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# exception classes (by name, so neither botocore nor azure-core must be importable) that mean the request
# did not get a definite answer: connection refused/reset/closed, timeouts
TRANSIENT_ERROR_NAMES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ProxyConnectionError",
        "ClientConnectionError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ClientPayloadError",
        "ServiceRequestError",
        "ServiceResponseError",
        "FSTimeoutError",
        "IncompleteRead",
    }
)
PERMANENT_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a transient object-store failure worth
    retrying: a connection or timeout error, or an HTTP 408/429/5xx answer. A missing object, a refused
    permission, or any error about the data itself is not."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PERMANENT_ERRORS):
            return False
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if any(cls.__name__ in TRANSIENT_ERROR_NAMES for cls in type(current).__mro__):
            return True
        status = getattr(current, "status_code", None) or getattr(current, "status", None)
        response = getattr(current, "response", None)
        if isinstance(response, dict):  # botocore ClientError
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", status)
            code = response.get("Error", {}).get("Code", "")
            if code in ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"):
                return True
        if isinstance(status, int) and status in TRANSIENT_HTTP_STATUS:
            return True
        current = current.__cause__ or current.__context__
    return False


def sha256_file(path: str | os.PathLike[str], chunk: int = 4 << 20) -> str:
    """Hex SHA-256 of a local file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileInfo:
    """A file as listed: its full URI, size in bytes, a change token (mtime, etag or content-md5) and, when
    the backend reports it, its last-modified time (seconds since the epoch)."""

    uri: str
    size: int
    token: str
    modified: float | None = None


class LakeFileSystem:
    """Filesystem operations the lake needs, addressed by full URIs (``/abs/path``, ``s3://``, ``abfs://``)."""

    def __init__(self, root_uri: str, storage_options: Mapping[str, Any] | None = None):
        self.root_uri = root_uri.rstrip("/")
        self._options = dict(storage_options or {})
        parsed = urlparse(self.root_uri)
        self.protocol = parsed.scheme if parsed.scheme and len(parsed.scheme) > 1 else "file"
        if self.protocol == "file" and self.root_uri.startswith("file://"):
            self.root_uri = parsed.path
        self._fs: Any | None = None

    def __repr__(self) -> str:  # never show credentials
        return f"LakeFileSystem({self.root_uri!r})"

    @property
    def storage_options(self) -> dict[str, Any]:
        """The options this filesystem was made with, for Spark executors reaching the same lake (they hold
        credentials: never log them)."""
        return dict(self._options)

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    def _call(self, what: str, uri: str, operation: Callable[[], Any]) -> Any:
        """``operation()``, retried with backoff while an object store fails transiently (local disk: once)."""
        if self.is_local:
            return operation()
        for attempt, delay in enumerate((*RETRY_DELAYS_SECONDS, None), start=1):
            try:
                return operation()
            except Exception as exc:
                if delay is None or not is_transient(exc):
                    raise
                log.warning(
                    "transient %s error on %s %s (%s); retry %d of %d in %.1f s",
                    self.protocol,
                    what,
                    uri,
                    type(exc).__name__,
                    attempt,
                    len(RETRY_DELAYS_SECONDS),
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = _make_fsspec(self.protocol, self._options)
        return self._fs

    # --- reading -----------------------------------------------------------------------------------
    def exists(self, uri: str) -> bool:
        return bool(self._call("exists", uri, lambda: self.fs.exists(self._strip(uri))))

    @contextlib.contextmanager
    def open_read(self, uri: str) -> Iterator[IO[bytes]]:
        with self._call("open", uri, lambda: self.fs.open(self._strip(uri), "rb")) as fh:
            yield fh

    def read_bytes(self, uri: str) -> bytes:
        return self._call("read", uri, lambda: self.fs.cat_file(self._strip(uri)))

    def list_files(self, uri: str, recursive: bool = False) -> list[FileInfo]:
        """Files (not folders) below ``uri``, sorted by URI; hidden (``.``/``_``) entries are skipped."""
        return self._call("list", uri, lambda: self._list_files(uri, recursive))

    def _list_files(self, uri: str, recursive: bool) -> list[FileInfo]:
        base = self._strip(uri)
        if self.is_local and not recursive:
            return _list_local_folder(base)
        if not self.is_local:
            # a listing must show what is there now (sensors poll, commits race); adlfs keys its cache by
            # the path without protocol, so invalidate that spelling too
            self.fs.invalidate_cache(base)
            self.fs.invalidate_cache(str(self.fs._strip_protocol(base)).rstrip("/"))
        if not self.fs.exists(base):
            return []
        prefix = str(self.fs._strip_protocol(base)).rstrip("/")
        if recursive:
            entries = self.fs.find(base, detail=True)
            items = entries.values()
        else:
            items = [e for e in self.fs.ls(base, detail=True) if e.get("type") == "file"]
        out = []
        for entry in items:
            name = entry["name"].rstrip("/")
            rel = name[len(prefix) :].lstrip("/") if name.startswith(prefix) else name.rsplit("/", 1)[-1]
            if any(part.startswith((".", "_")) for part in rel.split("/")):
                continue
            out.append(
                FileInfo(
                    self._unstrip(name), int(entry.get("size") or 0), _change_token(entry), _modified(entry)
                )
            )
        return sorted(out, key=lambda f: f.uri)

    def info(self, uri: str) -> FileInfo:
        entry = self._call("info", uri, lambda: self.fs.info(self._strip(uri)))
        return FileInfo(uri, int(entry.get("size") or 0), _change_token(entry), _modified(entry))

    def local_copy(self, uri: str, tmp_dir: str) -> str:
        """A local path with the bytes of ``uri``: the file itself on local disk, else a download."""
        if self.is_local:
            return self._strip(uri)
        return self.download(uri, os.path.join(tmp_dir, uuid.uuid4().hex + "-" + os.path.basename(uri)))

    def download(self, uri: str, dest: str) -> str:
        """Copy the object ``uri`` to the local file ``dest`` (retried while the store fails transiently)."""
        self._call("download", uri, lambda: self.fs.get(self._strip(uri), dest))
        return dest

    # --- writing -----------------------------------------------------------------------------------
    def staging_dir(self) -> str:
        """A local folder for files being written. On local disk it is on the lake's own filesystem."""
        if self.is_local:
            path = os.path.join(self.root_uri, ".tmp")
            os.makedirs(path, exist_ok=True)
            return path
        path = os.path.join(tempfile.gettempdir(), "retina-staging")
        os.makedirs(path, exist_ok=True)
        return path

    @contextlib.contextmanager
    def staged_file(self, suffix: str = ".parquet") -> Iterator[str]:
        """A fresh local path to write to; removed afterwards whether or not it was published."""
        path = os.path.join(self.staging_dir(), f"{uuid.uuid4().hex}{suffix}")
        try:
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def publish_file(self, local_path: str, uri: str, *, replace: bool) -> bool:
        """Make ``local_path``'s bytes visible at ``uri`` atomically.

        With ``replace=False`` the destination is immutable: if it already exists nothing is written and
        ``False`` is returned (callers use content-addressed names, so an existing file has the same bytes).
        With ``replace=True`` the destination is swapped in one step. Returns ``True`` if bytes were written.
        """
        dest = self._strip(uri)
        if self.is_local:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if replace:
                tmp = os.path.join(os.path.dirname(dest), f".{uuid.uuid4().hex}.tmp")
                if _same_device(local_path, dest):
                    os.link(local_path, tmp)
                else:
                    shutil.copyfile(local_path, tmp)
                os.replace(tmp, dest)
                return True
            try:
                if _same_device(local_path, dest):
                    os.link(local_path, dest)
                else:
                    tmp = os.path.join(os.path.dirname(dest), f".{uuid.uuid4().hex}.tmp")
                    shutil.copyfile(local_path, tmp)
                    try:
                        os.link(tmp, dest)
                    finally:
                        os.remove(tmp)
            except FileExistsError:
                return False
            return True
        if not replace and self.exists(uri):
            return False
        # a PUT is all-or-nothing and the bytes are the same on every attempt, so repeating it is safe
        self._call("upload", uri, lambda: self.fs.put_file(local_path, dest))
        self.fs.invalidate_cache(os.path.dirname(dest))
        return True

    def write_bytes(self, uri: str, data: bytes, *, replace: bool = False) -> bool:
        """Atomically write a small object (e.g. a manifest record)."""
        with self.staged_file(suffix=".bin") as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
            return self.publish_file(tmp, uri, replace=replace)

    def create_exclusive(self, uri: str, data: bytes) -> bool:
        """Create the small object ``uri`` with ``data`` only if nothing exists there (put-if-absent), in one
        atomic step; ``False`` if it already existed (then nothing was written).

        The building block of commits: two writers creating the same name cannot both succeed. Local disk:
        a staged file hard-linked into place (``link`` fails on an existing name). S3: a PUT with
        ``If-None-Match: *``. Azure Blob: an upload with ``If-None-Match: *`` (``overwrite=False``). Both
        object stores answer 412/409 when the object exists; both are checked against the moto server and
        Azurite by the tests.
        """
        if self.is_local:
            dest = self._strip(uri)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with self.staged_file(suffix=".bin") as tmp:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, dest)
                except FileExistsError:
                    return False
            return True
        try:
            self.fs.pipe_file(self._strip(uri), data, mode="create")
        except FileExistsError:
            return False
        finally:
            self.fs.invalidate_cache(os.path.dirname(self._strip(uri)))
        return True

    def replace_with_copy(self, local_path: str, uri: str, *, read_only: bool = True) -> None:
        """Atomically replace ``uri`` with a *copy* of ``local_path`` (never a hard link: the result shares
        no inode with any other file, so writing one can never change the other). On local disk the copy is
        made read-only when ``read_only``; on S3 and Azure a single upload is atomic."""
        dest = self._strip(uri)
        if not self.is_local:
            self.fs.put_file(local_path, dest)
            self.fs.invalidate_cache(os.path.dirname(dest))
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = os.path.join(os.path.dirname(dest), f".{uuid.uuid4().hex}.tmp")
        try:
            shutil.copyfile(local_path, tmp)
            if read_only:
                os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)

    def seal(self, uri: str) -> None:
        """Make a published file read-only where the backend allows it: local files lose every write bit.
        S3 and Azure have no per-object write bit (Object Lock and immutability policies are bucket or
        container settings), so this is a no-op there."""
        if self.is_local:
            path = self._strip(uri)
            mode = os.stat(path).st_mode
            os.chmod(path, mode & ~0o222)

    def sha256(self, uri: str, chunk: int = 4 << 20) -> str:
        """Hex SHA-256 of the bytes at ``uri``, streamed in chunks (bounded memory)."""
        if self.is_local:
            return sha256_file(self._strip(uri), chunk)
        digest = hashlib.sha256()
        with self.open_read(uri) as fh:
            while block := fh.read(chunk):
                digest.update(block)
        return digest.hexdigest()

    def modified(self, uri: str) -> float | None:
        """Last-modified time of ``uri`` (epoch seconds), or ``None`` when the backend does not say."""
        return self.info(uri).modified

    def delete(self, uri: str, recursive: bool = False) -> None:
        """Delete the file ``uri`` (with ``recursive``: the folder and everything below it); a missing one
        is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self._call("delete", uri, lambda: self.fs.rm(self._strip(uri), recursive=recursive))

    def copy(self, src: str, dest: str) -> None:
        """Copy the file ``src`` to ``dest`` within the lake, atomically at ``dest`` (local disk: a hard link
        or a copy renamed into place; object stores: a server-side copy, which is all-or-nothing)."""
        if not self.is_local:
            self._call("copy", src, lambda: self.fs.copy(self._strip(src), self._strip(dest)))
            self.fs.invalidate_cache(os.path.dirname(self._strip(dest)))
            return
        self.publish_file(self._strip(src), dest, replace=True)

    # --- helpers -----------------------------------------------------------------------------------
    def _strip(self, uri: str) -> str:
        if self.is_local:
            return uri[len("file://") :] if uri.startswith("file://") else uri
        return uri

    def _unstrip(self, name: str) -> str:
        if self.is_local:
            return name
        return name if "://" in name else f"{self.protocol}://{name}"


def _list_local_folder(folder: str) -> list[FileInfo]:
    """The files of one local folder as :meth:`LakeFileSystem.list_files` reports them (the same URIs and
    change tokens as fsspec's listing), with one ``scandir`` and a ``stat`` per file: a landing folder of
    100,000 files is listed several times faster than through fsspec."""
    folder = str(Path(folder).resolve())
    out = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith((".", "_")) or not entry.is_file():
                    continue
                stat = entry.stat()
                out.append(
                    FileInfo(f"{folder}/{entry.name}", stat.st_size, str(stat.st_mtime), stat.st_mtime)
                )
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(out, key=lambda f: f.uri)


def _same_device(src: str, dest: str) -> bool:
    parent = os.path.dirname(dest)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return os.stat(src).st_dev == os.stat(parent).st_dev


def _change_token(entry: dict[str, Any]) -> str:
    for key in ("ETag", "etag", "content_md5", "mtime", "LastModified", "last_modified", "created"):
        value = entry.get(key)
        if value:
            return str(value.hex() if isinstance(value, bytes | bytearray) else value).strip('"')
    return str(entry.get("size"))


def _modified(entry: dict[str, Any]) -> float | None:
    """Last-modified time of a listing entry as epoch seconds (local ``mtime``, S3 ``LastModified``,
    Azure ``last_modified``), or ``None`` when the backend does not say."""
    for key in ("mtime", "LastModified", "last_modified"):
        value = entry.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime.datetime):
            return value.timestamp()
    return None


S3_SCHEMES = ("s3", "s3a")
AZURE_SCHEMES = ("abfs", "abfss", "az")

# Credential and endpoint settings -> the environment variables they are read from (first one set wins).
# Outside Dagster they are read here; under Dagster the same variables are the EnvVar fields of
# :class:`~retina_assets.defs.resources.StorageCredentials`. Both map them to options the same way.
CREDENTIAL_ENV_VARS: dict[str, tuple[str, ...]] = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "s3_endpoint_url": ("RETINA_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    "azure_connection_string": ("AZURE_STORAGE_CONNECTION_STRING",),
    "azure_account_name": ("AZURE_STORAGE_ACCOUNT_NAME",),
    "azure_account_key": ("AZURE_STORAGE_ACCOUNT_KEY",),
    "azure_sas_token": ("AZURE_STORAGE_SAS_TOKEN",),
}


def credentials_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The credential settings of :data:`CREDENTIAL_ENV_VARS` that are set in ``environ`` (default: the
    process environment)."""
    environ = os.environ if environ is None else environ
    found = {
        name: next((environ[v] for v in names if environ.get(v)), "")
        for name, names in CREDENTIAL_ENV_VARS.items()
    }
    return {name: value for name, value in found.items() if value}


def credential_options(scheme: str, settings: Mapping[str, str | None]) -> dict[str, Any]:
    """s3fs/adlfs ``storage_options`` for ``scheme`` from credential ``settings`` (keys of
    :data:`CREDENTIAL_ENV_VARS`; missing or empty = unset). S3: keys, token and endpoint; Azure: the
    connection string, else account name with its key, else its SAS token, else the identity chain
    (``DefaultAzureCredential``, ``anon=False``)."""

    def get(name: str) -> str | None:
        return settings.get(name) or None

    options: dict[str, Any] = {}
    if scheme in S3_SCHEMES:
        options = {
            "key": get("aws_access_key_id"),
            "secret": get("aws_secret_access_key"),
            "token": get("aws_session_token"),
            "endpoint_url": get("s3_endpoint_url"),
        }
    elif scheme in AZURE_SCHEMES:
        if get("azure_connection_string"):
            options = {"connection_string": get("azure_connection_string")}
        else:
            options = {"account_name": get("azure_account_name")}
            if get("azure_account_key"):
                options["account_key"] = get("azure_account_key")
            elif get("azure_sas_token"):
                options["sas_token"] = get("azure_sas_token")
            else:
                options["anon"] = False
    return {k: v for k, v in options.items() if v is not None}


def _make_fsspec(protocol: str, options: Mapping[str, Any]) -> Any:
    """The fsspec filesystem for ``protocol``: with explicit ``options`` (credentials resolved by Dagster,
    see :class:`retina_assets.defs.resources.StorageCredentials`) if given, else with the credentials in the environment."""
    if protocol == "file":
        return fsspec.filesystem("file")
    if protocol not in (*S3_SCHEMES, *AZURE_SCHEMES):
        raise ValueError(f"unsupported storage scheme {protocol!r}: use a local path, s3:// or abfs://")
    options = options or credential_options(protocol, credentials_from_environment())
    name = "s3" if protocol in S3_SCHEMES else "abfs"
    return fsspec.filesystem(name, skip_instance_cache=True, **options)


def filesystem_for(uri: str, storage_options: Mapping[str, Any] | None = None) -> LakeFileSystem:
    """The :class:`LakeFileSystem` that serves ``uri`` (``storage_options``: credentials for s3fs/adlfs;
    without them they are read from the environment)."""
    return LakeFileSystem(uri if "://" in uri else str(Path(uri).resolve()), storage_options)
