"""The URL and glob rules of object-storage ClickPipes: what a URL names, which keys a pattern matches, and what is
refused before any request is made."""

from __future__ import annotations

import pytest

from clickplane.runtime.pipes.errors import SourceProblem
from clickplane.runtime.pipes.objects import ObjectSource, codec_for, matches, parse

KEYED = {"access_key_id": "AKIAEXAMPLE", "secret_key": "secret"}


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("data/*.csv", "data/a.csv", True),
    ("data/*.csv", "data/.csv", True),
    ("data/*.csv", "data/sub/a.csv", False),  # * stops at /
    ("data/*.csv", "data/a.csv.gz", False),  # the whole key must match
    ("data/?.csv", "data/a.csv", True),
    ("data/?.csv", "data/ab.csv", False),
    ("data/?.csv", "data//.csv", False),  # ? is not /
    ("data/**.csv", "data/sub/deeper/a.csv", True),
    ("data/**/*.csv", "data/sub/a.csv", True),
    ("data/**", "data/", True),
    ("data/*.csv", "Data/a.csv", False),  # case-sensitive
    ("data/*.CSV", "data/a.csv", False),
    ("logs/[1].csv", "logs/[1].csv", True),  # brackets and other regex characters are literal
    ("logs/a+b(c).csv", "logs/a+b(c).csv", True),
    ("logs/a.csv", "logs/aXcsv", False),  # . is literal
    ("logs/*", "logs/line\nbreak", True),
])
def test_matches_follows_the_reference_globs(pattern: str, key: str, expected: bool) -> None:
    assert matches(pattern, key) is expected


def test_virtual_hosted_aws_url_names_the_bucket_in_the_host() -> None:
    location = parse(ObjectSource("https://my.bucket.s3.eu-west-1.amazonaws.com/data/2024-*/part-?.csv.gz"))
    assert (location.bucket, location.region, location.endpoint_url) == ("my.bucket", "eu-west-1", None)
    assert (location.pattern, location.prefix, location.is_glob) == ("data/2024-*/part-?.csv.gz", "data/2024-", True)
    assert location.virtual_hosted
    assert location.object_url("data/2024-01/part-1.csv.gz") == \
        "https://my.bucket.s3.eu-west-1.amazonaws.com/data/2024-01/part-1.csv.gz"


def test_virtual_hosted_aws_url_without_region_leaves_it_to_aws() -> None:
    location = parse(ObjectSource("https://logs.s3.amazonaws.com/*.json"))
    assert (location.bucket, location.region, location.prefix) == ("logs", None, "")


def test_path_style_aws_url_names_the_bucket_first_in_the_path() -> None:
    location = parse(ObjectSource("https://s3.us-east-2.amazonaws.com/logs/2024/**"))
    assert (location.bucket, location.region, location.endpoint_url) == ("logs", "us-east-2", None)
    assert (location.pattern, location.prefix, location.virtual_hosted) == ("2024/**", "2024/", False)
    assert location.object_url("2024/a b.csv") == "https://s3.us-east-2.amazonaws.com/logs/2024/a%20b.csv"


def test_any_other_host_is_an_s3_compatible_endpoint_path_style() -> None:
    location = parse(ObjectSource("http://minio.local:9000/raw/events/*.ndjson"))
    assert (location.endpoint_url, location.region, location.bucket) == ("http://minio.local:9000", None, "raw")
    assert (location.pattern, location.prefix) == ("events/*.ndjson", "events/")


def test_percent_encoding_in_the_key_is_decoded() -> None:
    location = parse(ObjectSource("http://minio.local:9000/raw/my%20files/*.csv"))
    assert location.prefix == "my files/"


def test_a_url_without_globs_or_credentials_is_one_plain_http_file() -> None:
    location = parse(ObjectSource("http://files.example.com:8080/exports/day.csv.gz"))
    assert location.plain_url == "http://files.example.com:8080/exports/day.csv.gz"
    assert (location.bucket, location.pattern, location.is_glob) == ("", "exports/day.csv.gz", False)


def test_a_url_without_globs_but_with_credentials_is_one_s3_object() -> None:
    location = parse(ObjectSource("http://minio.local:9000/raw/day.csv", **KEYED))
    assert location.plain_url is None
    assert (location.bucket, location.pattern, location.is_glob) == ("raw", "day.csv", False)


def test_a_query_with_parameters_is_a_presigned_url_fetched_as_written() -> None:
    url = "https://b.s3.amazonaws.com/day.csv?X-Amz-Signature=abc&X-Amz-Expires=60"
    location = parse(ObjectSource(url))
    assert (location.plain_url, location.pattern) == (url, "day.csv")


def test_a_question_mark_without_parameters_is_a_glob() -> None:
    location = parse(ObjectSource("http://minio.local:9000/raw/part-?.csv"))
    assert (location.plain_url, location.pattern, location.prefix) == (None, "part-?.csv", "part-")


@pytest.mark.parametrize("url", [
    "http://minio.local:9000/raw/{a,b}/*.csv",
    "https://b.s3.amazonaws.com/part-{1..9}.csv",
    "http://files.example.com/day-{1,2}.csv",
])
def test_braces_are_refused_saying_what_works(url: str) -> None:
    with pytest.raises(SourceProblem, match=r"braces .* not supported.*\*\*"):
        parse(ObjectSource(url))


@pytest.mark.parametrize("url", ["s3://bucket/key.csv", "ftp://host/bucket/*.csv", "https:///bucket/*.csv",
                                 "not a url"])
def test_urls_other_than_http_are_refused(url: str) -> None:
    with pytest.raises(SourceProblem, match="not an http"):
        parse(ObjectSource(url))


@pytest.mark.parametrize("url", ["http://minio.local:9000/", "http://minio.local:9000/raw/",
                                 "https://b.s3.amazonaws.com/", "https://s3.amazonaws.com/b"])
def test_an_s3_url_needs_a_bucket_and_a_path(url: str) -> None:
    with pytest.raises(SourceProblem, match="names no bucket and file path"):
        parse(ObjectSource(url, **KEYED))


@pytest.mark.parametrize("authentication", ["IAM_ROLE", "CONNECTION_STRING", "something"])
def test_authentications_that_cannot_work_here_are_refused_naming_what_works(authentication: str) -> None:
    with pytest.raises(SourceProblem, match=r"not available here.*public bucket.*access key"):
        parse(ObjectSource("http://minio.local:9000/raw/*.csv", authentication=authentication))


@pytest.mark.parametrize("keys", [{"access_key_id": "AKIA"}, {"secret_key": "secret"}, {}])
def test_an_access_key_needs_both_halves(keys: dict[str, str]) -> None:
    with pytest.raises(SourceProblem, match="both accessKeyId and secretKey"):
        parse(ObjectSource("http://minio.local:9000/raw/*.csv", authentication="IAM_USER", **keys))


def test_an_access_key_with_iam_user_authentication_is_accepted() -> None:
    assert parse(ObjectSource("http://minio.local:9000/raw/*.csv", authentication="IAM_USER", **KEYED)).bucket == "raw"


def test_unknown_compression_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(SourceProblem, match=r"compression 'rar' is not known.*zstd"):
        parse(ObjectSource("http://minio.local:9000/raw/*.csv", compression="rar"))


def test_secret_key_stays_out_of_the_repr() -> None:
    assert "secret" not in repr(ObjectSource("http://h/b/*.csv", **KEYED))


@pytest.mark.parametrize(("compression", "key", "codec"), [
    ("auto", "a.csv.gz", "gzip"), ("auto", "a.csv.GZ", "gzip"), ("auto", "a.br", "brotli"),
    ("auto", "a.xz", "xz"), ("auto", "a.lzma", "xz"), ("auto", "a.zst", "zstd"), ("auto", "a.zstd", "zstd"),
    ("auto", "a.csv", None), ("none", "a.csv.gz", None), ("gz", "a.csv", "gzip"), ("LZMA", "a", "xz"),
    ("br", "a", "brotli"), ("Zstd", "a", "zstd"),
])
def test_codec_is_the_compression_or_for_auto_the_extension(compression: str, key: str, codec: str | None) -> None:
    assert codec_for(ObjectSource("http://h/b/*", compression=compression), key) == codec
