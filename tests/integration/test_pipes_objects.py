"""Object-storage ClickPipes' sources against real servers: moto's S3-compatible server (listing by glob in key
order, pagination, continuous mode, reads with every compression, refusals users can act on) and a plain HTTP
file server (one file by URL)."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import AsyncIterator, Iterator

import anyio
import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import zstandard

from clickplane.runtime.pipes.errors import SourceProblem
from clickplane.runtime.pipes.objects import (
    ATTEMPTS,
    ObjectSource,
    ObjectTooLarge,
    ObjectUnreadable,
    StoredObject,
    check,
    list_after,
    read,
)
from tests.s3 import (
    create_access_key,
    create_bucket,
    dropping_server,
    free_port,
    http_file_server,
    moto_server,
    put_objects,
    require_signatures,
    s3_client,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.store_independent]
# A guard against a hang, generous: nothing here is about how long a call takes, only that it ends.
HANG_GUARD_SECONDS = 60
CSV = b"id,name\n1,one\n2,two\n"
LISTED = {
    "logs/2024-01-01.csv": CSV, "logs/2024-01-02.csv": CSV, "logs/2024-01-10.csv": CSV,
    "logs/2024-01-02.json": CSV, "logs/archive/2023-12-31.csv": CSV, "logs/archive/old/2023-01-01.csv": CSV,
    "Logs/2024-01-03.csv": CSV, "other/2024-01-01.csv": CSV,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """One moto server for the module's tests; each test uses buckets of its own."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def listed(endpoint: str) -> str:
    create_bucket(endpoint, "listed", LISTED)
    return f"{endpoint}/listed"


async def keys(source: ObjectSource, after: str | None = None, limit: int = 10_000) -> list[str]:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        return [stored.key for stored in await list_after(source, after, limit)]


# --- Listing -----------------------------------------------------------------------------------------------------


async def test_star_matches_one_path_level_in_key_order(listed: str) -> None:
    assert await keys(ObjectSource(f"{listed}/logs/*.csv")) == [
        "logs/2024-01-01.csv", "logs/2024-01-02.csv", "logs/2024-01-10.csv"]


async def test_question_mark_matches_one_character(listed: str) -> None:
    assert await keys(ObjectSource(f"{listed}/logs/2024-01-0?.*")) == [
        "logs/2024-01-01.csv", "logs/2024-01-02.csv", "logs/2024-01-02.json"]


async def test_double_star_matches_across_path_levels(listed: str) -> None:
    assert await keys(ObjectSource(f"{listed}/logs/**.csv")) == [
        "logs/2024-01-01.csv", "logs/2024-01-02.csv", "logs/2024-01-10.csv", "logs/archive/2023-12-31.csv",
        "logs/archive/old/2023-01-01.csv"]


async def test_matching_is_case_sensitive(listed: str) -> None:
    assert await keys(ObjectSource(f"{listed}/Logs/*")) == ["Logs/2024-01-03.csv"]


async def test_listed_objects_carry_size_and_full_url(listed: str) -> None:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        found = await list_after(ObjectSource(f"{listed}/logs/2024-01-1?.csv"), None, 10)
    assert found == [StoredObject("logs/2024-01-10.csv", len(CSV), f"{listed}/logs/2024-01-10.csv")]


async def test_after_lists_only_later_keys_as_continuous_mode_does(endpoint: str) -> None:
    create_bucket(endpoint, "continuous", {"in/a.csv": CSV, "in/b.csv": CSV})
    source = ObjectSource(f"{endpoint}/continuous/in/*.csv")
    loaded = await keys(source)
    assert loaded == ["in/a.csv", "in/b.csv"]
    assert await keys(source, after=loaded[-1]) == []
    put_objects(endpoint, "continuous", {"in/c.csv": CSV, "in/0-earlier.csv": CSV})
    assert await keys(source, after=loaded[-1]) == ["in/c.csv"]  # keys sorting before the last loaded stay behind


async def test_start_after_skips_up_to_and_including_it_whether_or_not_it_exists(listed: str) -> None:
    source = ObjectSource(f"{listed}/logs/*.csv")
    assert await keys(source, after="logs/2024-01-01.csv") == ["logs/2024-01-02.csv", "logs/2024-01-10.csv"]
    assert await keys(source, after="logs/2024-01-05") == ["logs/2024-01-10.csv"]
    assert await keys(source, after="a") == await keys(source)  # before the prefix: skips nothing


async def test_limit_caps_a_listing_at_the_first_keys(listed: str) -> None:
    assert await keys(ObjectSource(f"{listed}/logs/**"), limit=2) == ["logs/2024-01-01.csv", "logs/2024-01-02.csv"]


async def test_listing_pages_past_a_thousand_keys(endpoint: str) -> None:
    many = {f"many/part-{number:05}.csv": b"x" for number in range(1100)}
    create_bucket(endpoint, "many", {**many, "many/part-00500.json": b"x", "many/sub/part-00001.csv": b"x"})
    source = ObjectSource(f"{endpoint}/many/many/part-*.csv")
    everything = await keys(source)
    assert everything == sorted(many)
    assert await keys(source, after="many/part-01049.csv") == sorted(many)[1050:]
    assert await keys(source, after="many/part-00990.csv", limit=20) == sorted(many)[991:1011]  # across a page


async def test_one_object_with_credentials_is_listed_by_its_key(endpoint: str) -> None:
    create_bucket(endpoint, "single", {"day.csv": CSV})
    source = ObjectSource(f"{endpoint}/single/day.csv", access_key_id="AKIAEXAMPLE", secret_key="secret")
    assert await keys(source) == ["day.csv"]
    assert await keys(source, after="day.csv") == []
    assert await keys(ObjectSource(f"{endpoint}/single/gone.csv", access_key_id="AKIA", secret_key="secret")) == []
    with anyio.fail_after(HANG_GUARD_SECONDS):
        await check(source)
        assert await read(source, (await list_after(source, None, 1))[0]) == CSV


# --- Reading -----------------------------------------------------------------------------------------------------

ROWS = b"".join(b"%d,row number %d\n" % (number, number) for number in range(5000))


def zstd_frames(*parts: bytes) -> bytes:
    return b"".join(zstandard.ZstdCompressor().compress(part) for part in parts)


COMPRESSED = {
    "plain.csv": ROWS,
    "rows.csv.gz": gzip.compress(ROWS),
    "members.csv.gz": gzip.compress(ROWS[:100]) + gzip.compress(ROWS[100:]),  # gzip members end to end
    "rows.csv.xz": lzma.compress(ROWS),
    "rows.csv.lzma": lzma.compress(ROWS, format=lzma.FORMAT_ALONE),
    "rows.csv.zst": zstd_frames(ROWS[:7], ROWS[7:]),
    "rows.csv.zstd": zstd_frames(ROWS),
    "rows.csv.br": brotli.compress(ROWS),
    "gzipped-without-extension": gzip.compress(ROWS),
}


@pytest.fixture(scope="module")
def compressed(endpoint: str) -> str:
    create_bucket(endpoint, "compressed", COMPRESSED)
    return f"{endpoint}/compressed"


async def read_key(source: ObjectSource, key: str, max_bytes: int | None = None) -> bytes:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        (stored,) = [found for found in await list_after(source, None, 10_000) if found.key == key]
        return await (read(source, stored) if max_bytes is None else read(source, stored, max_bytes))


@pytest.mark.parametrize("key", [key for key in COMPRESSED if "." in key])
async def test_auto_decompresses_by_extension(compressed: str, key: str) -> None:
    assert await read_key(ObjectSource(f"{compressed}/*"), key) == ROWS


@pytest.mark.parametrize(("compression", "key"), [
    ("gzip", "gzipped-without-extension"), ("gz", "gzipped-without-extension"), ("xz", "rows.csv.xz"),
    ("LZMA", "rows.csv.lzma"), ("zstd", "rows.csv.zst"), ("brotli", "rows.csv.br"), ("br", "rows.csv.br"),
])
async def test_named_compression_applies_whatever_the_extension(compressed: str, compression: str, key: str) -> None:
    assert await read_key(ObjectSource(f"{compressed}/*", compression=compression), key) == ROWS


async def test_none_hands_back_the_stored_bytes(compressed: str) -> None:
    assert await read_key(ObjectSource(f"{compressed}/*", compression="none"), "rows.csv.gz") == COMPRESSED[
        "rows.csv.gz"]


BROKEN = {
    "corrupt.csv.gz": b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 10,
    "not-gzip.csv.gz": bz2.compress(ROWS),
    "truncated.csv.gz": gzip.compress(ROWS)[:-30],
    "truncated.csv.xz": lzma.compress(ROWS)[:-30],
    "truncated.csv.zst": zstd_frames(ROWS)[:-30],
    "truncated.csv.br": brotli.compress(ROWS)[:-30],
    "garbage.csv.br": b"\xff" * 64,
    "garbage.csv.zst": b"not a zstd frame at all",
}


@pytest.mark.parametrize("key", list(BROKEN))
async def test_a_corrupt_file_is_reported_by_name_not_crashing(endpoint: str, key: str) -> None:
    create_bucket(endpoint, f"broken-{key.replace('.', '-')}", {key: BROKEN[key]})
    source = ObjectSource(f"{endpoint}/broken-{key.replace('.', '-')}/*")
    with pytest.raises(ObjectUnreadable, match=r"cannot read .*/" + key.replace(".", r"\.") + ": it is not valid"):
        await read_key(source, key)


async def test_a_file_over_the_size_cap_is_refused_by_name(compressed: str) -> None:
    with pytest.raises(ObjectTooLarge, match=r"/plain\.csv: it is \d+ bytes, over the 1000"):
        await read_key(ObjectSource(f"{compressed}/*"), "plain.csv", max_bytes=1000)


async def test_a_small_file_decompressing_past_the_cap_is_refused(endpoint: str) -> None:
    create_bucket(endpoint, "bomb", {"zeros.gz": gzip.compress(bytes(50_000_000))})
    with pytest.raises(ObjectTooLarge, match=r"/zeros\.gz: it is over the 10000000 bytes"):
        await read_key(ObjectSource(f"{endpoint}/bomb/*"), "zeros.gz", max_bytes=10_000_000)


async def test_an_unsigned_read_of_a_private_object_asks_for_an_access_key(endpoint: str) -> None:
    create_bucket(endpoint, "half-private", {"private.csv": CSV}, public=False)
    source = ObjectSource(f"{endpoint}/half-private/*.csv")
    with pytest.raises(SourceProblem, match="access denied to bucket half-private: it is not public; give an access"):
        await read_key(source, "private.csv")
    keyed = ObjectSource(source.url, access_key_id="AKIAEXAMPLE", secret_key="secret")
    assert await read_key(keyed, "private.csv") == CSV


async def test_a_file_deleted_after_listing_is_unreadable_by_name(endpoint: str) -> None:
    create_bucket(endpoint, "vanishing", {"soon-gone.csv": CSV})
    source = ObjectSource(f"{endpoint}/vanishing/*.csv")
    with anyio.fail_after(HANG_GUARD_SECONDS):
        (stored,) = await list_after(source, None, 10)
        s3_client(endpoint).delete_object(Bucket="vanishing", Key="soon-gone.csv")
        with pytest.raises(ObjectUnreadable, match=r"/vanishing/soon-gone\.csv: the file is gone"):
            await read(source, stored)


# --- Checks and refusals -----------------------------------------------------------------------------------------


async def test_check_passes_a_listable_bucket_even_with_no_file_yet(listed: str) -> None:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        await check(ObjectSource(f"{listed}/not-yet/*.csv"))


async def test_check_refuses_a_missing_bucket(endpoint: str) -> None:
    with pytest.raises(SourceProblem, match=r"bucket no-such-bucket does not exist at http://127\.0\.0\.1"):
        await check(ObjectSource(f"{endpoint}/no-such-bucket/*.csv"))
    keyed = {"access_key_id": "AKIAEXAMPLE", "secret_key": "secret"}
    with pytest.raises(SourceProblem, match="bucket no-such-bucket does not exist"):
        await check(ObjectSource(f"{endpoint}/no-such-bucket/day.csv", **keyed))


async def test_check_refuses_a_missing_single_object(endpoint: str) -> None:
    create_bucket(endpoint, "lonely")
    with pytest.raises(SourceProblem, match=r"there is no file 'day\.csv' in bucket lonely"):
        await check(ObjectSource(f"{endpoint}/lonely/day.csv", access_key_id="AKIAEXAMPLE", secret_key="secret"))


async def test_check_refuses_braces_before_any_request(endpoint: str) -> None:
    with pytest.raises(SourceProblem, match=r"braces \({a,b} or {N\.\.M}\) are not supported"):
        await check(ObjectSource(f"{endpoint}/listed/logs/2024-01-{{01,02}}.csv"))
    with pytest.raises(SourceProblem, match="braces"):
        await list_after(ObjectSource(f"{endpoint}/listed/part-{{1..9}}.csv"), None, 10)


async def test_a_server_checking_signatures_refuses_a_wrong_key_and_takes_the_right_one() -> None:
    with moto_server() as endpoint:  # its own: checking signatures is server-wide
        create_bucket(endpoint, "private", {"day.csv": CSV})
        key_id, secret = create_access_key(endpoint, "loader")
        url = f"{endpoint}/private/*.csv"
        with require_signatures(endpoint), anyio.fail_after(HANG_GUARD_SECONDS):
            with pytest.raises(SourceProblem, match=r"access denied to bucket private .*check the access key"):
                await check(ObjectSource(url, access_key_id="AKIAWRONGWRONGWRONG", secret_key=secret))
            with pytest.raises(SourceProblem, match=r"access denied to bucket private .*check the access key"):
                await check(ObjectSource(url, access_key_id=key_id, secret_key="not-the-secret"))
            source = ObjectSource(url, access_key_id=key_id, secret_key=secret, authentication="IAM_USER")
            await check(source)
            (stored,) = await list_after(source, None, 10)
            assert await read(source, stored) == CSV


async def test_a_refused_port_fails_with_cannot_reach() -> None:
    with pytest.raises(SourceProblem, match=r"cannot reach http://127\.0\.0\.1:\d+.*server is up"), \
            anyio.fail_after(HANG_GUARD_SECONDS):
        await check(ObjectSource(f"http://127.0.0.1:{free_port()}/bucket/*.csv"))


async def test_a_server_dropping_connections_is_tried_a_bounded_number_of_times() -> None:
    with dropping_server() as dropping:
        with pytest.raises(SourceProblem, match="cannot reach"), anyio.fail_after(HANG_GUARD_SECONDS):
            await check(ObjectSource(f"{dropping.url}/bucket/*.csv"))
        assert 1 <= dropping.accepted <= ATTEMPTS
        accepted_before = dropping.accepted
        with pytest.raises(SourceProblem, match="cannot reach"), anyio.fail_after(HANG_GUARD_SECONDS):
            await list_after(ObjectSource(f"{dropping.url}/bucket/*.csv"), None, 10)
        assert 1 <= dropping.accepted - accepted_before <= ATTEMPTS


# --- Plain HTTP(S) files -----------------------------------------------------------------------------------------


@pytest.fixture
async def file_server() -> AsyncIterator[str]:
    with http_file_server({"exports/day.csv": CSV, "exports/rows.csv.gz": gzip.compress(ROWS),
                           "exports/broken.csv.gz": BROKEN["corrupt.csv.gz"]}) as url:
        yield url


async def test_a_plain_url_is_one_file_read_with_a_get(file_server: str) -> None:
    source = ObjectSource(f"{file_server}/exports/rows.csv.gz")
    with anyio.fail_after(HANG_GUARD_SECONDS):
        await check(source)
        found = await list_after(source, None, 10)
        assert found == [StoredObject("exports/rows.csv.gz", len(gzip.compress(ROWS)), source.url)]
        assert await read(source, found[0]) == ROWS
        assert await list_after(source, "exports/rows.csv.gz", 10) == []
        uncompressed = ObjectSource(f"{file_server}/exports/day.csv")
        assert await read(uncompressed, (await list_after(uncompressed, None, 1))[0]) == CSV


async def test_a_plain_url_that_is_missing_or_corrupt_is_reported(file_server: str) -> None:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        with pytest.raises(SourceProblem, match=r"there is no file at .*/exports/nope\.csv \(HTTP 404\)"):
            await check(ObjectSource(f"{file_server}/exports/nope.csv"))
        assert await list_after(ObjectSource(f"{file_server}/exports/nope.csv"), None, 10) == []
        broken = ObjectSource(f"{file_server}/exports/broken.csv.gz")
        (stored,) = await list_after(broken, None, 10)
        with pytest.raises(ObjectUnreadable, match=r"/exports/broken\.csv\.gz: it is not valid gzip"):
            await read(broken, stored)


async def test_a_plain_url_on_a_dead_port_fails_with_cannot_reach() -> None:
    with pytest.raises(SourceProblem, match=r"cannot reach http://127\.0\.0\.1"), anyio.fail_after(HANG_GUARD_SECONDS):
        await check(ObjectSource(f"http://127.0.0.1:{free_port()}/exports/day.csv"))


# --- The helpers leave nothing behind ----------------------------------------------------------------------------


def test_the_moto_helper_leaves_no_process_or_port() -> None:
    with moto_server() as url:
        assert httpx.get(f"{url}/moto-api/", timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/moto-api/", timeout=5)


def test_the_file_server_helper_leaves_no_port_or_directory() -> None:
    with http_file_server({"a.txt": b"a"}) as url:
        assert httpx.get(f"{url}/a.txt", timeout=5).content == b"a"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/a.txt", timeout=5)
