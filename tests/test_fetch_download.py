"""A download from a server on loopback that misbehaves as real ones do: a connection that breaks off (while
connecting, mid-body, mid-TLS, with or without Content-Length) is resumed where it stopped, never taken for a
whole file; a server without ranges, or that says the part is whole already (416), is understood."""

from __future__ import annotations

import http.client
import ssl

import pytest

from crack_pipeline.vision.data import download
from crack_pipeline.vision.data.fetch import fetch_dataset
from crack_pipeline.vision.errors import InputError
from tests import fetch_fixtures
from tests.fetch_fixtures import OZGENEL, config, sdnet_bundle, with_publisher_sha256, zip_of

loopback = fetch_fixtures.loopback  # the fixture: a file server on 127.0.0.1
IF_UNREACHABLE = "download it by hand"


@pytest.fixture
def archive(loopback) -> bytes:
    loopback.files["file"] = content = sdnet_bundle()
    return content


@pytest.fixture
def target(tmp_path):
    return tmp_path / "downloads" / "file.zip"


def part_of(target):
    return target.with_name(target.name + ".part")


def test_a_download_that_breaks_off_is_resumed_where_it_stopped(loopback, archive, target):
    loopback.cuts = [100]
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == ["bytes=0-", "bytes=100-"] and target.read_bytes() == archive


def test_a_body_without_content_length_cut_short_is_resumed_not_taken_as_whole(loopback, archive, target):
    loopback.chunked, loopback.cuts = True, [100]
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == ["bytes=0-", "bytes=100-"] and target.read_bytes() == archive


def test_a_run_stopped_mid_download_is_resumed_by_the_next(loopback, archive, target):
    target.parent.mkdir()
    part_of(target).write_bytes(archive[:150])
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive) - 150
    assert loopback.ranges == ["bytes=150-"] and target.read_bytes() == archive


def test_a_server_without_ranges_sends_the_whole_file_and_it_is_written_from_the_start(
    loopback, archive, target
):
    loopback.ranges_ignored = True  # answers 200 to a range request
    target.parent.mkdir()
    part_of(target).write_bytes(b"x" * 150)
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == ["bytes=150-"] and target.read_bytes() == archive


def test_a_part_that_is_whole_already_is_kept_on_a_416_and_checked(tmp_path, loopback, monkeypatch):
    """A run killed between the last byte and the rename: the server says `bytes */<size of the part>`."""
    loopback.files["ozgenel"] = archive = zip_of(OZGENEL)
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    part = tmp_path / "raw" / ".downloads" / "Concrete Crack Images for Classification.rar.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive)
    summary = fetch_dataset(config(tmp_path, "ozgenel", loopback.url("ozgenel")))
    assert loopback.ranges == [f"bytes={len(archive)}-"]
    assert summary["downloaded_bytes"] == 0 and summary["sha256_check"] == "matches the publisher's"
    assert summary["files"] == 4 and not part.exists()


def test_a_part_longer_than_the_file_is_deleted_on_a_416_and_the_download_starts_again(
    loopback, archive, target
):
    target.parent.mkdir()
    part_of(target).write_bytes(archive + b"more")
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == [f"bytes={len(archive) + 4}-", "bytes=0-"] and target.read_bytes() == archive


def test_a_download_broken_at_every_attempt_stops_and_keeps_its_part_for_the_next_run(
    loopback, archive, target
):
    loopback.cuts = [100] * download.ATTEMPTS
    with pytest.raises(InputError) as error:
        download.download(loopback.url("file"), target, IF_UNREACHABLE)
    assert (
        f"not whole after {download.ATTEMPTS} requests (the last: the connection closed after 100 of "
        f"{len(archive) - 200} bytes); 300 bytes are kept in {part_of(target)}: run the same command again "
        f"to resume"
    ) in str(error.value)
    assert part_of(target).read_bytes() == archive[:300] and not target.exists()

    download.download(loopback.url("file"), target, IF_UNREACHABLE)
    assert loopback.ranges[-1] == "bytes=300-" and target.read_bytes() == archive


def test_a_416_at_the_last_attempt_says_no_part_is_kept(loopback, archive, target, monkeypatch):
    monkeypatch.setattr(download, "ATTEMPTS", 1)
    target.parent.mkdir()
    part_of(target).write_bytes(archive + b"more")
    with pytest.raises(InputError, match=r"1 requests \(the last: HTTP 416.*nothing is kept: .* start over"):
        download.download(loopback.url("file"), target, IF_UNREACHABLE)
    assert not part_of(target).exists()


def test_a_connection_closed_before_the_reply_uses_the_remaining_attempts(loopback, archive, target):
    loopback.drops = 1
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == ["bytes=0-", "bytes=0-"]


class CutMidTls:
    """A response whose TLS record breaks after `sent` bytes of the body."""

    status = 200

    def __init__(self, body: bytes, sent: int):
        self.headers = http.client.HTTPMessage()
        self.headers["Content-Type"] = "application/zip"
        self.headers["Content-Length"] = str(len(body))
        self.chunks = [body[:sent]]

    def read(self, size: int) -> bytes:
        if not self.chunks:
            raise ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC]")
        return self.chunks.pop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_an_ssl_error_mid_body_is_resumed_like_a_broken_connection(loopback, archive, target, monkeypatch):
    responses = iter([CutMidTls(archive, 100)])
    really = download.urlopen
    monkeypatch.setattr(download, "urlopen", lambda *a, **k: next(responses, None) or really(*a, **k))
    assert download.download(loopback.url("file"), target, IF_UNREACHABLE) == len(archive)
    assert loopback.ranges == ["bytes=100-"] and target.read_bytes() == archive


def test_a_web_page_instead_of_the_archive_says_how_to_fetch_it_by_hand(tmp_path, loopback):
    loopback.files["sdnet"] = b"<html>Checking your browser</html>"
    loopback.content_type = "text/html; charset=utf-8"
    with pytest.raises(
        InputError,
        match="a web page instead of the file .*; download the whole bundle .* in a browser from "
        "https://digitalcommons.usu.edu/all_datasets/48/, save it as .*DATA_Maguire_20180517_ALL.zip",
    ):
        fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
