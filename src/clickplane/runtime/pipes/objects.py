"""Object-storage ClickPipes' source side: which files a pipe's URL names and their bytes, decompressed.

A URL is an S3 (or S3-compatible) bucket and a key pattern, listed with ListObjectsV2; or, without credentials and
without glob characters, one file fetched with a plain HTTP GET, so any HTTP file server works. ClickHouse parses
the files (the worker inserts them with `INSERT ... FORMAT`); nothing here knows formats, the API or the store.

boto3 is synchronous and untyped: its calls run in threads, behind `_S3Bucket`, which types what this module uses.
"""

from __future__ import annotations

import asyncio
import functools
import lzma
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import boto3  # type: ignore[import-untyped]
import brotli  # type: ignore[import-untyped]
import httpx
import zstandard
from botocore import UNSIGNED  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.pipes.errors import SourceProblem

GLOB_CHARACTERS = "*?"
# The reference refuses files over 10 GB; a file is read whole into memory, so the worker may well ask for less.
MAX_FILE_BYTES = 10 * 1024**3
# Short, so a dead or hung endpoint fails a check or a listing within seconds instead of holding a worker.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
ATTEMPTS = 2  # the first try and one retry: a blip is forgiven, a dead endpoint is not waited on
LIST_PAGE_KEYS = 1000  # the most ListObjectsV2 returns per page
CHUNK_BYTES = 1024 * 1024

# The compression names the reference accepts (case-insensitive), each to the codec that undoes it.
COMPRESSIONS: dict[str, str | None] = {
    "none": None, "gzip": "gzip", "gz": "gzip", "brotli": "brotli", "br": "brotli",
    "xz": "xz", "lzma": "xz", "zstd": "zstd", "auto": "auto",
}
EXTENSIONS: dict[str, str] = {".gz": "gzip", ".br": "brotli", ".xz": "xz", ".lzma": "xz", ".zst": "zstd",
                              ".zstd": "zstd"}
WORKING_AUTHENTICATIONS = "a public bucket (no authentication) or an access key (IAM_USER: accessKeyId and secretKey)"

_AWS_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_AWS_PATH_HOST = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_BRACES = re.compile(r"\{[^}]*\}")
T = TypeVar("T")


class ObjectUnreadable(RuntimeFailure):
    """One file could not be read: gone since it was listed, corrupt, or too large. The message names the file; the
    worker records it and goes on with the next one."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot read {url}: {reason}")
        self.url = url


class ObjectTooLarge(ObjectUnreadable):
    """A file, or what it decompresses to, is over the size the worker accepts."""


@dataclass(frozen=True)
class ObjectSource:
    """A pipe's object-storage source as the user gave it."""

    url: str
    access_key_id: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    compression: str = "auto"
    authentication: str | None = None  # the reference's "IAM_USER" or "IAM_ROLE"; None: from the keys given

    @property
    def signed(self) -> bool:
        return self.access_key_id is not None


@dataclass(frozen=True)
class Location:
    """Where a source's files are: an S3 bucket and key pattern, or one plain HTTP(S) file."""

    origin: str  # "scheme://host[:port]" as written, the start of every file's URL
    endpoint_url: str | None  # the S3-compatible server; None on AWS, where boto3 picks it from the region
    region: str | None  # named by an AWS host; None: us-east-1, from which AWS redirects
    bucket: str  # "" for a plain HTTP file
    pattern: str  # the key pattern; for a plain HTTP file its path
    prefix: str  # the pattern's literal start, before the first glob character: the listing's Prefix
    virtual_hosted: bool  # the bucket is in the host name (AWS), not the path
    plain_url: str | None = None  # set when the one file is fetched with a plain HTTP GET of this URL

    @property
    def is_glob(self) -> bool:
        return any(character in self.pattern for character in GLOB_CHARACTERS)

    def object_url(self, key: str) -> str:
        if self.plain_url is not None:
            return self.plain_url
        bucket = "" if self.virtual_hosted else f"/{self.bucket}"
        return f"{self.origin}{bucket}/{quote(key, safe='/')}"


@dataclass(frozen=True)
class StoredObject:
    """One file to load: its key (the order continuous mode goes by), its size, and its full URL for `_path`."""

    key: str
    size: int  # bytes as stored; 0 for a plain HTTP file whose server gives no Content-Length
    url: str


def parse(source: ObjectSource) -> Location:
    """The source's location, with everything about it a user could have got wrong refused as a SourceProblem."""
    _check_authentication(source)
    _codec_name(source.compression)
    parts = urlsplit(source.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceProblem(f"the URL {source.url!r} is not an http(s) URL: write https://<bucket>.s3.<region>"
                            ".amazonaws.com/<path> for AWS, or http(s)://<host>:<port>/<bucket>/<path>")
    origin = f"{parts.scheme}://{parts.netloc}"
    # Everything after the host is the key pattern, `?` included (a glob), except a query with parameters: a
    # presigned or otherwise parameterised URL of one file, which only a plain GET can fetch.
    rest = source.url[len(origin):]
    path, _, query = rest.partition("?")
    if not source.signed and "=" in query and not any(c in path for c in GLOB_CHARACTERS):
        return _plain_location(origin, path, source.url)
    _refuse_braces(rest)
    if not source.signed and not any(c in rest for c in GLOB_CHARACTERS):
        return _plain_location(origin, rest, source.url)
    return _s3_location(source.url, origin, parts.hostname.lower(), rest)


def _check_authentication(source: ObjectSource) -> None:
    kind = (source.authentication or "").upper()
    if kind not in ("", "IAM_USER"):
        raise SourceProblem(f"authentication {source.authentication} is not available here; what works is "
                            f"{WORKING_AUTHENTICATIONS}")
    if (source.access_key_id is None) != (source.secret_key is None) or (kind == "IAM_USER" and not source.signed):
        raise SourceProblem("an access key needs both accessKeyId and secretKey; give both, or neither for a public "
                            "bucket")


def _codec_name(compression: str) -> str | None:
    try:
        return COMPRESSIONS[compression.lower()]
    except KeyError:
        raise SourceProblem(f"compression {compression!r} is not known; use one of none, gzip, gz, brotli, br, xz, "
                            "LZMA, zstd or auto") from None


def _refuse_braces(rest: str) -> None:
    if _BRACES.search(rest):
        raise SourceProblem("braces ({a,b} or {N..M}) are not supported in the URL's path; use the globs ? (one "
                            "character), * (any characters but /) or ** (any characters), or one pipe per path")


def _plain_location(origin: str, path: str, url: str) -> Location:
    key = unquote(path).lstrip("/")
    return Location(origin=origin, endpoint_url=None, region=None, bucket="", pattern=key, prefix=key,
                    virtual_hosted=False, plain_url=url)


def _s3_location(url: str, origin: str, host: str, rest: str) -> Location:
    virtual = _AWS_VIRTUAL_HOST.match(host)
    path_style = _AWS_PATH_HOST.match(host)
    if virtual:
        bucket, pattern = virtual["bucket"], rest.removeprefix("/")
        region, endpoint_url = virtual["region"], None
    else:
        bucket, _, pattern = rest.removeprefix("/").partition("/")
        region = path_style["region"] if path_style else None
        endpoint_url = None if path_style else origin
    pattern = unquote(pattern)
    if not bucket or not pattern:
        raise SourceProblem(f"the URL {url!r} names no bucket and file path; write "
                            "https://<bucket>.s3.<region>.amazonaws.com/<path> or http(s)://<host>/<bucket>/<path>, "
                            "the path with globs such as *.csv")
    if region == "dualstack":
        region = None
    return Location(origin=origin, endpoint_url=endpoint_url, region=region, bucket=unquote(bucket),
                    pattern=pattern, prefix=_literal_prefix(pattern), virtual_hosted=bool(virtual))


def _literal_prefix(pattern: str) -> str:
    cut = min((pattern.index(c) for c in GLOB_CHARACTERS if c in pattern), default=len(pattern))
    return pattern[:cut]


def matches(pattern: str, key: str) -> bool:
    """Whether `key` is one of the keys `pattern` names: `?` one character but `/`, `*` any run without `/`, `**`
    any run; everything else literal, case-sensitive, against the whole key."""
    return _glob_regex(pattern).fullmatch(key) is not None


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    pieces = []
    for token in re.split(r"(\*\*|\*|\?)", pattern):
        pieces.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token) or re.escape(token))
    return re.compile("".join(pieces), re.DOTALL)


def codec_for(source: ObjectSource, key: str) -> str | None:
    """The codec a file is decompressed with: the source's compression, or for auto the key's extension."""
    codec = _codec_name(source.compression)
    if codec != "auto":
        return codec
    lowered = key.lower()
    return next((name for ext, name in EXTENSIONS.items() if lowered.endswith(ext)), None)


async def check(source: ObjectSource) -> None:
    """Raise a SourceProblem unless the source can be used: its bucket reachable and listable with the access it
    has, or its one file there. A pattern matching no file yet passes: continuous mode waits for files."""
    location = parse(source)
    if location.plain_url is not None:
        await _plain_size(location.plain_url, missing_is_problem=True)
    elif location.is_glob:
        await _in_thread(source, location, lambda bucket: bucket.list_page(location.prefix, None, None, 1))
    else:
        await _in_thread(source, location, lambda bucket: bucket.check_object(location.pattern))


async def list_after(source: ObjectSource, after: str | None, limit: int) -> list[StoredObject]:
    """The source's files with keys strictly greater than `after` (a pipe's startAfter, or the last key continuous
    mode loaded), in key order, at most `limit`. A named file that does not exist lists as nothing."""
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    location = parse(source)
    if location.plain_url is not None:
        return await _list_plain(location, after)
    if not location.is_glob:
        if after is not None and location.pattern <= after:
            return []
        size = await _in_thread(source, location, lambda bucket: bucket.size_of(location.pattern))
        if size is None:
            return []
        return [StoredObject(location.pattern, size, location.object_url(location.pattern))]
    return await _in_thread(source, location, lambda bucket: _list_matching(bucket, location, after, limit))


def _list_matching(bucket: _S3Bucket, location: Location, after: str | None, limit: int) -> list[StoredObject]:
    found: list[StoredObject] = []
    token: str | None = None
    while len(found) < limit:
        page, token = bucket.list_page(location.prefix, after, token, LIST_PAGE_KEYS)
        found.extend(StoredObject(key, size, location.object_url(key)) for key, size in page
                     if matches(location.pattern, key) and (after is None or key > after))
        if token is None:
            break
    return found[:limit]


async def read(source: ObjectSource, stored: StoredObject, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, decompressed. A file that is gone, corrupt, or over `max_bytes` (stored or decompressed)
    raises ObjectUnreadable naming it; a source that stopped answering raises SourceProblem."""
    location = parse(source)
    if stored.size > max_bytes:
        raise ObjectTooLarge(stored.url, f"it is {stored.size} bytes, over the {max_bytes} a file may have")
    if location.plain_url is not None:
        data = await _get_plain(stored.url, max_bytes)
    else:
        data = await _in_thread(source, location, lambda bucket: bucket.download(stored.key, stored.url, max_bytes))
    codec = codec_for(source, stored.key)
    if codec is None:
        return data
    return await asyncio.to_thread(_decompress, data, codec, stored.url, max_bytes)


# --- S3, through boto3 -------------------------------------------------------------------------------------------


class _S3Bucket:
    """One bucket through one boto3 client, typed; every failure leaves as a SourceProblem or ObjectUnreadable."""

    def __init__(self, client: Any, location: Location, signed: bool) -> None:
        self._client = client
        self._location = location
        self._signed = signed

    def list_page(self, prefix: str, start_after: str | None, token: str | None,
                  max_keys: int) -> tuple[list[tuple[str, int]], str | None]:
        """One ListObjectsV2 page: (key, size) in key order, and the token of the next page if there is one."""
        arguments: dict[str, Any] = {"Bucket": self._location.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if token is not None:
            arguments["ContinuationToken"] = token
        elif start_after is not None:
            arguments["StartAfter"] = start_after
        with self._translated_errors():
            page = self._client.list_objects_v2(**arguments)
        keys = [(str(item["Key"]), int(item["Size"])) for item in page.get("Contents", [])]
        next_token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        return keys, None if next_token is None else str(next_token)

    def size_of(self, key: str) -> int | None:
        """The object's size, or None when there is no such object."""
        try:
            with self._translated_errors():
                head = self._client.head_object(Bucket=self._location.bucket, Key=key)
        except _Missing:
            return None
        return int(head["ContentLength"])

    def check_object(self, key: str) -> None:
        if self.size_of(key) is not None:
            return
        # HEAD answers a bare 404 for a missing bucket too: a listing refuses that one by name. (S3 answers a 404
        # only to those who may list, so the listing is allowed whenever the object is merely missing.)
        self.list_page(key, None, None, 1)
        raise SourceProblem(f"there is no file {key!r} in bucket {self._location.bucket}: check the URL")

    def download(self, key: str, url: str, max_bytes: int) -> bytes:
        try:
            with self._translated_errors():
                answer = self._client.get_object(Bucket=self._location.bucket, Key=key)
                body = answer["Body"]
                try:
                    return _read_capped(url, lambda: bytes(body.read(CHUNK_BYTES)), max_bytes)
                finally:
                    body.close()
        except _Missing:
            raise ObjectUnreadable(url, "the file is gone (deleted since it was listed?)") from None

    @functools.cached_property
    def _where(self) -> str:
        return self._location.endpoint_url or f"AWS S3 ({self._location.region or 'us-east-1'})"

    def _translated_errors(self) -> _ErrorTranslation:
        return _ErrorTranslation(self._location.bucket, self._where, self._signed)


class _Missing(Exception):
    """An object (not its bucket) does not exist; callers decide what that means."""


class _ErrorTranslation:
    """Turns boto3's exceptions into what users can act on."""

    def __init__(self, bucket: str, where: str, signed: bool) -> None:
        self._bucket, self._where, self._signed = bucket, where, signed

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        if error is None or isinstance(error, ObjectUnreadable):
            return
        if isinstance(error, ClientError):
            raise self._refusal(error) from None
        if isinstance(error, BotoCoreError):
            raise SourceProblem(f"cannot reach {self._where}: {str(error).rstrip('.')}; check the URL and that the "
                                "server is up and reachable from clickplane") from None

    def _refusal(self, error: Any) -> Exception:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "NoSuchBucket":
            return SourceProblem(f"bucket {self._bucket} does not exist at {self._where}: check the URL")
        if code in ("NoSuchKey", "404") or (status == 404 and not code):
            return _Missing()
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
                    "InvalidToken", "403") or status == 403:
            if self._signed:
                return SourceProblem(f"access denied to bucket {self._bucket} ({code or status}): check the access "
                                     "key (accessKeyId and secretKey) and that it may list and read the bucket")
            return SourceProblem(f"access denied to bucket {self._bucket}: it is not public; give an access key "
                                 "(accessKeyId and secretKey)")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
            return SourceProblem(f"bucket {self._bucket} is in another region: put its region in the URL "
                                 f"(https://{self._bucket}.s3.<region>.amazonaws.com/...)")
        message = details.get("Message") or code or f"HTTP {status}"
        return SourceProblem(f"{self._where} refused the request for bucket {self._bucket}: {message}")


_client_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _client(endpoint_url: str | None, region: str | None, access_key_id: str | None, secret_key: str | None,
            path_style: bool) -> Any:
    """One boto3 client per distinct source, reused by its listings and reads (clients are thread-safe; creating
    one is slow and, across threads at once, not safe: hence the lock)."""
    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": READ_TIMEOUT_SECONDS,
        "retries": {"total_max_attempts": ATTEMPTS, "mode": "standard"},
        "s3": {"addressing_style": "path" if path_style else "auto"},
        # The URL alone says where to go: no AWS_ENDPOINT_URL or profile from clickplane's environment.
        "ignore_configured_endpoint_urls": True,
        # Checksums only where S3 requires them: S3-compatible servers differ in the newer ones.
        "request_checksum_calculation": "when_required", "response_checksum_validation": "when_required",
    }
    if access_key_id is None:
        options["signature_version"] = UNSIGNED  # a public bucket: and never credentials from the environment
    with _client_lock:
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_key, config=Config(**options))


async def _in_thread(source: ObjectSource, location: Location, call: Callable[[_S3Bucket], T]) -> T:
    """`call` on the source's bucket in a thread, where boto3's blocking (making the client included) belongs."""

    def on_bucket() -> T:
        client = _client(location.endpoint_url, location.region, source.access_key_id, source.secret_key,
                         not location.virtual_hosted)
        return call(_S3Bucket(client, location, source.signed))

    return await asyncio.to_thread(on_bucket)


# --- Plain HTTP(S), through httpx --------------------------------------------------------------------------------


def _http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS), follow_redirects=True,
        transport=httpx.AsyncHTTPTransport(retries=ATTEMPTS - 1),
        # The file's own bytes: a server compressing on the fly would otherwise hand us its encoding instead.
        headers={"Accept-Encoding": "identity"})


async def _list_plain(location: Location, after: str | None) -> list[StoredObject]:
    assert location.plain_url is not None
    if after is not None and location.pattern <= after:
        return []
    present, size = await _plain_size(location.plain_url, missing_is_problem=False)
    return [StoredObject(location.pattern, size, location.plain_url)] if present else []


async def _plain_size(url: str, *, missing_is_problem: bool) -> tuple[bool, int]:
    """Whether the file is there, and its size if the server says (else 0)."""
    try:
        async with _http_client() as client:
            answer = await client.head(url)
            if answer.status_code in (403, 405, 501):  # some servers (presigned URLs) take only GET: ask that
                async with client.stream("GET", url) as streamed:
                    answer = streamed
    except httpx.HTTPError as error:
        raise _unreachable(url, error) from None
    if answer.status_code == 404 and not missing_is_problem:
        return False, 0
    _refuse_status(url, answer.status_code)
    length = answer.headers.get("content-length")
    return True, int(length) if length and length.isdigit() else 0


async def _get_plain(url: str, max_bytes: int) -> bytes:
    try:
        async with _http_client() as client, client.stream("GET", url) as answer:
            if answer.status_code == 404:
                raise ObjectUnreadable(url, "the file is gone (HTTP 404)")
            _refuse_status(url, answer.status_code)
            chunks, total = [], 0
            async for chunk in answer.aiter_raw(CHUNK_BYTES):
                total += len(chunk)
                if total > max_bytes:
                    raise ObjectTooLarge(url, f"it is over the {max_bytes} bytes a file may have")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as error:
        raise _unreachable(url, error) from None


def _refuse_status(url: str, status: int) -> None:
    if status in (401, 403):
        raise SourceProblem(f"access denied to {url} (HTTP {status}): the file is not public; give an access key "
                            "(accessKeyId and secretKey) if it is in S3")
    if status == 404:
        raise SourceProblem(f"there is no file at {url} (HTTP 404): check the URL")
    if status >= 400:
        raise SourceProblem(f"{url} answered HTTP {status}")


def _unreachable(url: str, error: Exception) -> SourceProblem:
    return SourceProblem(f"cannot reach {url}: {error or type(error).__name__}; check the URL and that the server "
                         "is up and reachable from clickplane")


# --- Decompression -----------------------------------------------------------------------------------------------


def _read_capped(url: str, read_chunk: Callable[[], bytes], max_bytes: int) -> bytes:
    return _joined_capped(url, iter(read_chunk, b""), max_bytes)


def _joined_capped(url: str, chunks: Iterable[bytes], max_bytes: int) -> bytes:
    """The chunks joined, refused as soon as they pass `max_bytes` (a small file may decompress to a huge one)."""
    kept, total = [], 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise ObjectTooLarge(url, f"it is over the {max_bytes} bytes a file may have")
        kept.append(chunk)
    return b"".join(kept)


def _decompress(data: bytes, codec: str, url: str, max_bytes: int) -> bytes:
    decoders: dict[str, Callable[[bytes], Iterator[bytes]]] = {
        "gzip": _gunzip, "xz": _unxz, "zstd": _unzstd, "brotli": _unbrotli}
    try:
        return _joined_capped(url, decoders[codec](data), max_bytes)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError, brotli.error) as error:
        raise ObjectUnreadable(url, f"it is not valid {codec} data ({error or type(error).__name__}); check the "
                               "file or the pipe's compression") from None


_TRUNCATED = "the file ends in the middle of its compressed data (truncated?)"


def _gunzip(data: bytes) -> Iterator[bytes]:
    """Every gzip member's output (gzip files may be several members end to end), in bounded pieces."""
    while data:
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not member.eof:
            piece = member.decompress(data, CHUNK_BYTES)
            data = member.unconsumed_tail
            if not piece and not data:
                raise EOFError(_TRUNCATED)
            yield piece
        data = member.unused_data


def _unxz(data: bytes) -> Iterator[bytes]:
    """xz streams end to end, or one .lzma (LZMA alone), in bounded pieces."""
    while data:
        stream = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
        while not stream.eof:
            piece = stream.decompress(data, CHUNK_BYTES)
            data = b""
            if not piece and stream.needs_input:
                raise EOFError(_TRUNCATED)
            yield piece
        data = stream.unused_data


def _unzstd(data: bytes) -> Iterator[bytes]:
    """zstd frames end to end; fed in small pieces since zstandard cannot bound one call's output."""
    feed = 16 * 1024
    while data:
        frame = zstandard.ZstdDecompressor().decompressobj()
        offset = 0
        while not frame.eof and offset < len(data):
            yield frame.decompress(data[offset:offset + feed])
            offset += feed
        if not frame.eof:
            raise EOFError(_TRUNCATED)
        data = frame.unused_data + data[offset:]


def _unbrotli(data: bytes) -> Iterator[bytes]:
    decoder = brotli.Decompressor()
    for offset in range(0, len(data), CHUNK_BYTES):
        yield decoder.process(data[offset:offset + CHUNK_BYTES], output_buffer_limit=CHUNK_BYTES)
        while not decoder.can_accept_more_data():
            yield decoder.process(b"", output_buffer_limit=CHUNK_BYTES)
    if not decoder.is_finished():
        raise EOFError(_TRUNCATED)
