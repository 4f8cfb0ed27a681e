"""DICOMweb client (dicomweb-client): QIDO-RS search, WADO-RS retrieve, STOW-RS send.

Authentication is basic or bearer (the secret comes from an environment
variable named in the node, never from the settings file); TLS certificates
are verified unless the node says otherwise. WADO-RS asks for the objects as
stored (``transfer-syntax=*``) and streams the multipart answer: a thread
downloads and splits it, a few writer threads check and write each object as
it arrives, and the library indexes them in batches; memory holds a few
objects, never the study.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pydicom
import requests
import urllib3
from dicomweb_client.api import DICOMwebClient

from workstation.dicom.library import Library
from workstation.errors import DicomError, NetworkError
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress
from workstation.net.dimse import _FIND_KEYS, Query, _text
from workstation.net.nodes import Node, secret
from workstation.net.store import retrieving

log = logging.getLogger(__name__)

STOW_BATCH = 16
"""Objects per STOW-RS request: few requests, and at most this many objects in memory."""


def client(node: Node, timeout: float = 30.0) -> DICOMwebClient:
    session = requests.Session()
    session.verify = node.verify_tls
    kind, _, rest = node.auth.partition(":")
    if kind == "basic":
        user, _, variable = rest.partition(":")
        session.auth = (user, secret(variable))
    elif kind == "bearer":
        session.headers["Authorization"] = f"Bearer {secret(rest)}"
    elif kind:
        raise NetworkError(f"unknown authentication {kind!r} for {node} (basic:USER:ENVVAR or bearer:ENVVAR)")
    session.request = _defaults(session.request, timeout, node.verify_tls)
    web = DICOMwebClient(url=node.url, session=session)
    web.set_http_retry_params(retry=False)  # its retries turn a refused connection into 30 s of waiting
    return web


def _defaults(request, timeout: float, verify: bool):  # noqa: ANN001, ANN202 - wraps requests.Session.request
    """Every request with our timeout (requests has no session-wide one) and our TLS verification (a
    ``REQUESTS_CA_BUNDLE`` in the environment would override ``session.verify``)."""
    def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        kwargs.setdefault("timeout", timeout)
        kwargs["verify"] = verify
        return request(*args, **kwargs)
    return call


@contextmanager
def _errors(node: Node) -> Iterator[None]:
    """requests' and the server's failures as one line."""
    try:
        yield
    except requests.exceptions.SSLError as exc:
        raise NetworkError(f"{node}: TLS certificate not trusted ({type(exc).__name__})") from exc
    except requests.exceptions.ConnectionError as exc:
        raise NetworkError(f"{node}: cannot connect (connection refused, wrong port, or connection lost)") from exc
    except requests.exceptions.Timeout as exc:
        raise NetworkError(f"{node}: no answer in time (timeout)") from exc
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        hint = " (authentication failed: check the user and secret)" if code in (401, 403) else ""
        raise NetworkError(f"{node}: HTTP {code}{hint}") from exc
    except requests.exceptions.RequestException as exc:
        raise NetworkError(f"{node}: {type(exc).__name__}") from exc


def echo(node: Node, timeout: float = 30.0) -> float:
    """DICOMweb has no echo: a QIDO-RS search that matches nothing proves the service answers (with our
    credentials and TLS settings); returns the round trip in seconds."""
    started = time.monotonic()
    find(node, Query(level="study", study_uid="0.0"), timeout)
    return time.monotonic() - started


def find(node: Node, query: Query, timeout: float = 30.0) -> list[dict[str, str]]:
    """QIDO-RS at study or series level; patient level groups the studies by patient."""
    web = client(node, timeout)
    level = "study" if query.level == "patient" else query.level
    keys = _FIND_KEYS[level]
    filters = Query(**{**query.__dict__, "level": level}).filters()
    with _errors(node):
        if level == "series":
            found = web.search_for_series(search_filters=filters, fields=list(keys))
        else:
            found = web.search_for_studies(search_filters=filters, fields=list(keys))
    rows = [{k: _text(pydicom.Dataset.from_json(item).get(k)) for k in keys} for item in found]
    if query.level != "patient":
        return rows
    patients: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        key = (row["PatientID"], row["PatientName"])
        entry = patients.setdefault(key, {"PatientName": row["PatientName"], "PatientID": row["PatientID"],
                                          "PatientBirthDate": row["PatientBirthDate"], "PatientSex": "",
                                          "NumberOfPatientRelatedStudies": "0"})
        entry["NumberOfPatientRelatedStudies"] = str(int(entry["NumberOfPatientRelatedStudies"]) + 1)
    return list(patients.values())


def retrieve(progress: Progress, cancel: CancelFlag | None, node: Node, study_uid: str, series_uid: str = "",
             keep_dir: Path | None = None, library: Library | None = None, timeout: float = 30.0,
             on_series: Callable[[str, str], None] | None = None) -> int:
    """Job: WADO-RS retrieve of a study or series into the library; returns the objects received.
    ``on_series(study UID, series UID)`` when a series has its first rows in the library."""
    progress = progress or no_progress
    web = client(node, timeout)
    url = f"{node.url}/studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "")
    with retrieving(library, keep_dir, study_uid, series_uid, INDEX_BATCH, on_series) as (transfer, counts), \
            _errors(node), ThreadPoolExecutor(WRITERS, thread_name_prefix="wado-store") as writers:
        announced = writers.submit(_count, web, study_uid, series_uid)  # asked while the download starts
        try:
            response = web._http_get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                             'transfer-syntax=*'}, stream=True)
        finally:
            counts.expected = announced.result()  # "no such study" rather than the download's HTTP 404
        landing: deque[Future] = deque()

        def settle(landed: Future) -> None:
            try:
                landed.result()
            except DicomError as exc:
                log.warning("refused a retrieved object: %s", exc.reason)
                counts.failed += 1
            if counts.expected:
                progress(transfer.received / counts.expected, f"{transfer.received} of {counts.expected} objects")

        for part in _prefetched(multipart_parts(response), cancel, response.close):
            landing.append(writers.submit(transfer.add, part, ""))
            while len(landing) > WRITERS:  # memory holds a few objects, not the study
                settle(landing.popleft())
        while landing:
            settle(landing.popleft())
        if counts.failed or (counts.expected and transfer.received < counts.expected):
            raise NetworkError(f"{node} sent {transfer.received} of {counts.expected} objects")
    progress(1.0, f"{transfer.received} objects received")
    return transfer.received


WRITERS = 4
"""Objects written at once: creating a file waits on the file system without holding the GIL, so some
writers create their files while one parses its header, all while the download goes on (measured on
this loaded 2-core machine: 1 writer was the slowest; 4 beat 2 in three of four interleaved runs)."""

CHUNK = 1 << 20
"""Bytes read from the network at a time: few reads, and a small buffer beside the objects in flight."""

INDEX_BATCH = 64
"""Objects a retrieve indexes in one transaction (or what landed in ``store.BATCH_S``)."""

PREFETCH = 4
"""Objects downloaded ahead while the previous ones are written and indexed (bounds memory to a few objects)."""

_END = object()


def _prefetched(parts: Iterator[bytes], cancel: CancelFlag | None, close: Callable[[], None]) -> Iterator[bytes]:
    """The parts of a multipart answer, read by a thread of their own: the download (which releases the GIL
    in the socket reads) runs while the writers store the previous objects, and the caller's thread stays
    free to notice a cancel. Exceptions come through."""
    box: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def read() -> None:
        try:
            for part in parts:
                while not stop.is_set():
                    try:
                        box.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            box.put(exc)

    reader = threading.Thread(target=read, name="wado-download", daemon=True)
    reader.start()
    try:
        while True:
            check_cancel(cancel)
            try:
                item = box.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if reader.is_alive():
            close()  # a read blocked on the network ends now, not at the timeout
        reader.join()


def multipart_parts(response: requests.Response) -> Iterator[bytes]:
    """The bodies of a multipart/related answer, each as soon as it has arrived.

    A part that states its Content-Length (Orthanc's do) is read by that
    length: the socket's bytes land in the object once, with no search. A
    part without one is found by searching for the next boundary. An answer
    that ends before its closing boundary lost its connection: the partial
    object is dropped and the loss raised.
    """
    media, *params = (item.strip() for item in response.headers.get("Content-Type", "").split(";"))
    boundary = next((value.strip('"') for name, _, value in (p.partition("=") for p in params)
                     if name.lower() == "boundary"), "")
    if media.lower() != "multipart/related" or not boundary:
        raise NetworkError(f"the server answered with {media or 'no content type'}, not multipart/related")
    delimiter = b"\r\n--" + boundary.encode()
    with response:
        body = _Body(response.raw, b"\r\n")  # the first boundary has no line break before it
        body.until(delimiter, HEADER_READ)  # the preamble is no part
        size = 0  # of the last part's headers: the next ones are read by it, so no body comes with them
        while body.peek(2) != b"--":  # "--" after a boundary closes the answer
            headers = body.until(b"\r\n\r\n", HEADER_READ, size)  # from the boundary line's end: may be none
            size = len(headers) + 4
            length = _content_length(headers)
            if length is None:
                yield body.until(delimiter, CHUNK)
            else:
                part = body.exactly(length)
                if body.exactly(len(delimiter)) != delimiter:
                    raise NetworkError("the server sent a multipart part whose length is not its Content-Length")
                yield part


HEADER_READ = 512
"""Bytes asked for at a time while reading a part's headers of unknown size: little more than they hold,
so little of the body comes with them (a piece that does is joined to the rest of the body, a copy)."""


def _content_length(headers: bytes) -> int | None:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


class _Body:
    """A response body read by exact lengths or up to a marker, through urllib3 (which decodes a compressed
    answer); a read the connection ends short raises requests' ``ConnectionError``."""

    def __init__(self, raw: urllib3.HTTPResponse, start: bytes = b"") -> None:
        self.raw = raw
        self.spare = start
        """Bytes read past what the last call returned."""

    def exactly(self, size: int) -> bytes:
        spare = self.spare
        if len(spare) >= size:
            self.spare = spare[size:]
            return spare[:size]
        self.spare = b""
        data = self._read(size - len(spare))
        data = spare + data if spare else data
        if len(data) < size:
            raise requests.exceptions.ConnectionError("the multipart answer ended before its closing boundary")
        return data

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes, left to be read again."""
        data = self.exactly(size)
        self.spare = data + self.spare
        return data

    def until(self, marker: bytes, step: int, expected: int = 0) -> bytes:
        """The bytes before ``marker``; the marker is consumed. ``expected``: where the caller expects the
        marker to end, read at once (when right, nothing past the marker is read)."""
        buffer = bytearray(self.spare)
        if expected > len(buffer):
            buffer += self._read(expected - len(buffer))
        searched = 0
        while (end := buffer.find(marker, searched)) < 0:
            searched = max(0, len(buffer) - len(marker) + 1)
            data = self._read(step, some=True)
            if not data:
                raise requests.exceptions.ConnectionError("the multipart answer ended before its closing boundary")
            buffer += data
        self.spare = bytes(buffer[end + len(marker):])
        del buffer[end:]
        return bytes(buffer)

    def _read(self, size: int, some: bool = False) -> bytes:
        """``size`` bytes (fewer at the end), or with ``some`` what has arrived, up to ``size``; urllib3's
        errors as requests raises them from ``iter_content``."""
        try:
            return self.raw.read1(size) if some else self.raw.read(size)
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc


def _count(web: DICOMwebClient, study_uid: str, series_uid: str) -> int | None:
    """How many objects the server says the study or series holds (for progress and for what is missing)."""
    if series_uid:
        found = web.search_for_series(search_filters={"StudyInstanceUID": study_uid,
                                                      "SeriesInstanceUID": series_uid},
                                      fields=["NumberOfSeriesRelatedInstances"])
        keyword = "NumberOfSeriesRelatedInstances"
    else:
        found = web.search_for_studies(search_filters={"StudyInstanceUID": study_uid},
                                       fields=["NumberOfStudyRelatedInstances"])
        keyword = "NumberOfStudyRelatedInstances"
    if not found:
        raise NetworkError(f"the server has no {'series' if series_uid else 'study'} "
                           f"{series_uid or study_uid}")
    value = pydicom.Dataset.from_json(found[0]).get(keyword)
    return int(value) if value not in (None, "") else None


def send(progress: Progress, cancel: CancelFlag | None, node: Node, files: list[Path],
         timeout: float = 60.0) -> int:
    """Job: STOW-RS the files in batches; returns how many were stored."""
    progress = progress or no_progress
    web = client(node, timeout)
    stored = 0
    for start in range(0, len(files), STOW_BATCH):
        check_cancel(cancel)
        batch = files[start:start + STOW_BATCH]
        datasets = []
        for path in batch:
            try:
                datasets.append(pydicom.dcmread(path))
            except (OSError, pydicom.errors.InvalidDicomError) as exc:
                raise DicomError(f"cannot read the file to send ({exc})", path) from exc
        with _errors(node):
            result = web.store_instances(datasets=datasets)
        failed = result.get("FailedSOPSequence") if result is not None else None
        if failed:
            raise NetworkError(f"{node} refused {len(failed)} of the objects sent (first batch file {batch[0]})")
        stored += len(batch)
        progress(stored / len(files), f"sent {stored} of {len(files)}")
    return stored
