"""One file over HTTP, whole or not at all: written to `<file>.part`, resumed with a range request where a
request or an earlier run broke off, and renamed to `<file>` only once every promised byte is there. The only
code of the project that touches the network.
"""

from __future__ import annotations

import http.client
import re
import ssl
from pathlib import Path
from typing import NamedTuple
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from crack_pipeline.vision.errors import InputError

CHUNK = 1 << 20
ATTEMPTS = 3  # requests in one run, the first included; what they leave in the .part, the next run resumes
TIMEOUT = 60  # seconds without a byte before a request counts as broken off
USER_AGENT = "crack_pipeline-fetch/1 (Python urllib)"
# A connection reset, timed out or cut mid-TLS: worth another request. (A refused connection, a name that
# does not resolve or a certificate that fails are not: they fail the same way at once.)
BROKEN_OFF = (
    http.client.HTTPException,
    ConnectionResetError,
    ConnectionAbortedError,
    TimeoutError,
    ssl.SSLError,
)


class Attempt(NamedTuple):
    received: int  # bytes this request added to the part
    problem: str | None  # why the file is not whole yet; None: it is


def download(url: str, destination: Path, if_unreachable: str) -> int:
    """`url` into `destination` through `<destination>.part`; the number of bytes transferred.

    `if_unreachable` ends the message when the server refuses the file or is not there: what to do instead.
    """
    part = destination.with_name(destination.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    transferred = 0
    for _ in range(ATTEMPTS):
        received, problem = _request_rest(url, part, if_unreachable)
        transferred += received
        if problem is None:
            part.replace(destination)
            return transferred
    kept = (
        f"{part.stat().st_size} bytes are kept in {part}: run the same command again to resume"
        if part.exists()
        else "nothing is kept: run the same command again to start over"
    )
    raise InputError(f"{url}: not whole after {ATTEMPTS} requests (the last: {problem}); {kept}")


def _request_rest(url: str, part: Path, if_unreachable: str) -> Attempt:
    """One request for the bytes of `url` after those already in `part`."""
    offset = part.stat().st_size if part.exists() else 0
    # A range request even from byte 0: a server without ranges answers 200 with the whole file, and the
    # CDN in front of one publisher was reported to refuse a plain GET but serve a range.
    headers = {"Range": f"bytes={offset}-", "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    try:
        response = urlopen(Request(url, headers=headers), timeout=TIMEOUT)
    except HTTPError as error:
        if error.code == 416 and offset:
            return _not_satisfiable(part, offset, error.headers.get("Content-Range", ""))
        raise _unreachable(url, f"HTTP {error.code} {error.reason}", if_unreachable) from None
    except (OSError, http.client.HTTPException) as error:  # URLError wraps what broke while connecting
        reason = error.reason if isinstance(error, URLError) else error
        if isinstance(reason, BROKEN_OFF) and not isinstance(reason, ssl.SSLCertVerificationError):
            return Attempt(0, f"connecting: {reason or type(reason).__name__}")
        raise _unreachable(url, str(reason), if_unreachable) from None
    with response:
        if response.headers.get_content_type() == "text/html":
            problem = "a web page instead of the file (a sign-in or robot check?)"
            raise _unreachable(url, problem, if_unreachable)
        return _receive(url, response, part, offset)


def _not_satisfiable(part: Path, offset: int, content_range: str) -> Attempt:
    """A 416 to `bytes=<offset>-`. With `Content-Range: bytes */<offset>` the part is the whole file (a run
    killed between its last byte and the rename): keep it. Else it is no prefix of the file: start again."""
    total = re.fullmatch(r"bytes \*/(\d+)", content_range.strip())
    if total and int(total.group(1)) == offset:
        return Attempt(0, None)
    part.unlink()
    return Attempt(0, f"HTTP 416: the server's file is not {offset} bytes on from {part.name}, deleted")


def _receive(url: str, response: http.client.HTTPResponse, part: Path, offset: int) -> Attempt:
    """The body of `response` appended to `part` (written over it if the server sent the whole file)."""
    resumed = response.status == 206
    sent = _content_range(response.headers.get("Content-Range", ""))
    if resumed and (sent is None or sent[0] != offset):
        raise InputError(f"{url}: asked for the bytes from {offset}, the server sent others; delete {part}")
    length = response.headers.get("Content-Length")
    promised = int(length) if length else (sent[1] - sent[0] + 1 if resumed else None)
    received, problem = 0, None
    with part.open("ab" if resumed else "wb") as out:
        while True:
            try:
                chunk = response.read(CHUNK)
            except http.client.IncompleteRead as error:  # a chunked body cut short: its bytes are good
                chunk, problem = error.partial, "the connection broke off mid-body"
            except BROKEN_OFF as error:
                chunk, problem = b"", f"the connection broke off mid-body ({error or type(error).__name__})"
            out.write(chunk)
            received += len(chunk)
            if problem or not chunk:
                break
    if problem is None and promised is not None and received < promised:
        problem = f"the connection closed after {received} of {promised} bytes"
    return Attempt(received, problem)


def _content_range(header: str) -> tuple[int, int] | None:
    """(first, last) byte of a `Content-Range: bytes first-last/total`."""
    match = re.match(r"bytes (\d+)-(\d+)", header)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _unreachable(url: str, problem: str, if_unreachable: str) -> InputError:
    return InputError(f"{url}: {problem}; {if_unreachable}")
