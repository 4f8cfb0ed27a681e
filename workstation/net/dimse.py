"""DIMSE client: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE against a PACS, with pynetdicom.

Every failure to talk to a peer becomes one ``NetworkError`` line: refused
connection (wrong port), no answer (timeout), association rejected (with the
peer's reason, e.g. an unknown AE title), aborted. Sockets get TCP_NODELAY:
DIMSE is request/response, and with Nagle's algorithm a small response (a
C-STORE-RSP) written in two pieces waits for the peer's delayed
acknowledgement, about 40 ms an object on Linux (tests/bench/bench_pacs.py).
"""

from __future__ import annotations

import logging
import socket
import struct
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, _config, build_role, evt
from pynetdicom._globals import ALL_TRANSFER_SYNTAXES
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import AssociationSocket

from workstation.dicom.header import read_header
from workstation.dicom.library import Library
from workstation.errors import Cancelled, DicomError, NetworkError
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress
from workstation.net.nodes import Node, Settings, load_settings
from workstation.net.store import Announced, DiskFull, Transfer, retrieving

if TYPE_CHECKING:
    from workstation.net.listener import Listener

log = logging.getLogger(__name__)

# Process-wide, and meant to be: no pynetdicom user in our process may log patient identifiers.
_config.LOG_REQUEST_IDENTIFIERS = False  # identifiers carry patient names and IDs: never in our logs
_config.LOG_RESPONSE_IDENTIFIERS = False
logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # its INFO lines name patients in some services
# Process-wide too, and harmless to other users: a C-STORE of a file path sends the same bytes, read a
# piece at a time instead of the whole file at once (memory stays flat).
_config.STORE_SEND_CHUNKED_DATASET = True

DEFAULT_TIMEOUT = 30.0
MAX_CONTEXTS = 128
MAX_PDU = 0
"""The largest PDU we accept (0: no limit): fewer, larger PDUs cost less Python per megabyte."""

RETRIEVE_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.130",
    "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2",
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.1", "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.59",
    "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2",
    "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.104.1",
    "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.77.1.4",
    "1.2.840.10008.5.1.4.1.1.4.2", "1.2.840.10008.5.1.4.1.1.66.2",
)
"""Storage classes a C-GET accepts (CT, MR, PET, NM, US, CR/DX/MG, XA, SC, SR, SEG, KO, PR, RT, registrations,
enhanced CT/MR, parametric maps): a C-GET may propose at most 127 storage contexts, so the common ones."""

RETRIEVE_TRANSFER_SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2",
                              *(ts for ts in ALL_TRANSFER_SYNTAXES[2:13]), "1.2.840.10008.1.2.5")
"""Explicit VR little endian first: a peer takes the first syntax it can and transcodes every object to it
(implicit VR first cost Orthanc 30 ms an object); then implicit, deflated, big endian, JPEG (baseline,
extended, lossless), JPEG-LS, JPEG 2000 and RLE."""

_FIND_KEYS = {
    "patient": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"),
    "study": ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "StudyDate", "StudyTime",
              "StudyDescription", "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances"),
    "series": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances"),
}
FIND_LEVELS = tuple(_FIND_KEYS)


@dataclass
class Query:
    """C-FIND / QIDO-RS filters; empty fields match everything. Dates: ``YYYYMMDD`` or ``YYYYMMDD-YYYYMMDD``."""

    level: str = "study"
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    study_date: str = ""
    modality: str = ""
    accession: str = ""
    description: str = ""
    study_uid: str = ""

    def identifier(self) -> Dataset:
        """The C-FIND identifier: the filters, and empty return keys for the level's attributes."""
        if self.level not in _FIND_KEYS:
            raise NetworkError(f"unknown query level {self.level!r} (patient, study or series)")
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level.upper()
        for keyword in _FIND_KEYS[self.level]:
            setattr(ds, keyword, "")
        for keyword, value in self.filters().items():
            setattr(ds, keyword, value)
        return ds

    def filters(self) -> dict[str, str]:
        """DICOM keyword -> matching value, for the fields given."""
        modality_key = "Modality" if self.level == "series" else "ModalitiesInStudy"
        description_key = "SeriesDescription" if self.level == "series" else "StudyDescription"
        pairs = {"PatientID": self.patient_id, "PatientName": self.patient_name, "PatientBirthDate": self.birth_date,
                 "StudyDate": self.study_date, modality_key: self.modality, "AccessionNumber": self.accession,
                 description_key: self.description, "StudyInstanceUID": self.study_uid}
        return {k: v for k, v in pairs.items() if v}


def _tune_socket(event: evt.Event) -> None:
    """Our associations' sockets, as each opens (before its first read): Nagle's algorithm off (see the
    module's docstring) and one ``recv`` a PDU (see ``_recv``).

    Only the sockets of associations we make or accept are changed, on the
    instance: another pynetdicom user in the process keeps pynetdicom's own
    ``AssociationSocket.recv`` (tests/net/test_dimse.py checks both).
    """
    wrapper = event.assoc.dul.socket
    sock = wrapper.socket
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if type(sock) is socket.socket:  # not TLS: an SSLSocket refuses recv flags
        wrapper.recv = types.MethodType(_recv, wrapper)


SOCKET_HANDLER = (evt.EVT_CONN_OPEN, _tune_socket)
"""Our associations' EVT_CONN_OPEN handler: pynetdicom fires it, requesting or accepting, before the
association's first read."""


def _recv(self: AssociationSocket, nr_bytes: int) -> bytearray:
    """``nr_bytes`` from the socket in one call that waits for them all (fewer if the peer closes).

    Replaces, for our associations, pynetdicom's loop of 4 kB reads: a
    500 kB object took 128 reads, each a wake-up of the network thread and a
    turn at the GIL; on a busy machine those turns were the larger part of a
    C-GET's or the listener's time (tests/bench/bench_pacs.py).
    """
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    got = 0
    while got < nr_bytes:
        n = self.socket.recv_into(view[got:], nr_bytes - got, socket.MSG_WAITALL)
        if not n:
            del view
            del buffer[got:]
            break
        got += n
    return buffer


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 2, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 2, element, vr, len(value)) + value


def _even(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def received_file(event: evt.Event) -> bytes:
    """A received C-STORE as a DICOM file: preamble, file meta and the data set as sent.

    What ``event.encoded_dataset()`` gives, without building the meta as a
    pydicom data set (a third of the C-STORE handler's time).
    """
    request = event.request
    body = b"".join((
        _meta_element(0x0001, b"OB", b"\x00\x01"),
        _meta_element(0x0002, b"UI", _even(request.AffectedSOPClassUID, b"\0")),
        _meta_element(0x0003, b"UI", _even(request.AffectedSOPInstanceUID, b"\0")),
        _meta_element(0x0010, b"UI", _even(event.context.transfer_syntax, b"\0")),
        _meta_element(0x0012, b"UI", _even(PYNETDICOM_IMPLEMENTATION_UID, b"\0")),
        _meta_element(0x0013, b"SH", _even(PYNETDICOM_IMPLEMENTATION_VERSION, b" ")),
    ))
    group_length = _meta_element(0x0000, b"UL", struct.pack("<I", len(body)))
    return b"".join((bytes(128), b"DICM", group_length, body, event.encoded_dataset(include_meta=False)))


def make_ae(ae_title: str, timeout: float = DEFAULT_TIMEOUT) -> AE:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    ae.maximum_pdu_size = MAX_PDU
    return ae


def associate(ae: AE, node: Node, handlers: Iterable[tuple] = (), roles: list | None = None) -> Association:
    """An established association with ``node``, or one ``NetworkError`` line saying why not."""
    if node.is_web:
        raise NetworkError(f"{node} is a DICOMweb service, not a DIMSE node")
    started = time.monotonic()
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=roles, max_pdu=MAX_PDU,
                         evt_handlers=[SOCKET_HANDLER, *handlers])
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        primitive = assoc.acceptor.primitive
        reason = primitive.reason_str if primitive is not None else "no reason given"
        raise NetworkError(f"{node} rejected the association ({reason}; is our AE title {ae.ae_title} "
                           f"known to it, and is its AE title {node.ae_title}?)")
    waited = time.monotonic() - started
    if waited >= ae.acse_timeout * 0.9:
        raise NetworkError(f"{node} did not answer within {ae.acse_timeout:g} s (timeout)")
    problem = _connection_problem(node, ae.connection_timeout or DEFAULT_TIMEOUT)
    if problem == CLOSED_EARLY:  # a rejection followed by the peer's close can reach pynetdicom as an abort
        problem += f" (does it know our AE title {ae.ae_title}, and is its AE title {node.ae_title}?)"
    raise NetworkError(f"{node}: {problem}")


CLOSED_EARLY = "the connection was closed or aborted before the association was accepted"


def _connection_problem(node: Node, timeout: float) -> str:
    """Why an association could not start, from a plain TCP connection (pynetdicom only logs it)."""
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout):
            return CLOSED_EARLY
    except ConnectionRefusedError:
        return "connection refused (wrong port, or no DICOM service running there)"
    except TimeoutError:
        return f"no connection within {timeout:g} s (timeout)"
    except OSError as exc:
        return f"cannot connect ({exc.strerror or exc})"


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def echo(node: Node, ae_title: str, timeout: float = DEFAULT_TIMEOUT) -> float:
    """C-ECHO; returns the round trip in seconds."""
    ae = make_ae(ae_title, timeout)
    ae.add_requested_context(Verification)
    assoc = associate(ae, node)
    try:
        started = time.monotonic()
        status = assoc.send_c_echo()
        elapsed = time.monotonic() - started
    finally:
        assoc.release()
    _check_status(node, "C-ECHO", status)
    return elapsed


def find(node: Node, query: Query, ae_title: str, timeout: float = DEFAULT_TIMEOUT,
         cancel: CancelFlag | None = None) -> list[dict[str, str]]:
    """C-FIND at the query's level; each match as DICOM keyword -> text."""
    model = PatientRootQueryRetrieveInformationModelFind if query.level == "patient" \
        else StudyRootQueryRetrieveInformationModelFind
    identifier = query.identifier()
    ae = make_ae(ae_title, timeout)
    ae.add_requested_context(model)
    assoc = associate(ae, node)
    matches: list[dict[str, str]] = []
    try:
        for status, found in assoc.send_c_find(identifier, model):
            if cancel is not None and cancel.is_set():
                assoc.abort()
                raise Cancelled()
            code = _status_code(node, "C-FIND", status, assoc)
            if code in (0xFF00, 0xFF01) and found is not None:
                matches.append({k: _text(found.get(k)) for k in _FIND_KEYS[query.level]})
            elif code != 0x0000:
                raise NetworkError(f"{node} answered C-FIND with status 0x{code:04X}")
    finally:
        if assoc.is_established:
            assoc.release()
    return matches


def _text(element: object) -> str:
    if element is None:
        return ""
    if isinstance(element, list | tuple) or type(element).__name__ == "MultiValue":
        return "\\".join(str(v) for v in element)
    return str(element)


def retrieve(progress: Progress, cancel: CancelFlag | None, node: Node, study_uid: str, series_uid: str = "",
             method: str = "get", keep_dir: Path | None = None, settings: Settings | None = None,
             library: Library | None = None, timeout: float = DEFAULT_TIMEOUT, listener: Listener | None = None,
             on_series: Callable[[str, str], None] | None = None) -> int:
    """Job: retrieve a study (or one series) by C-GET or C-MOVE into the library; returns the objects received.

    A C-MOVE receives on our listening port: through ``listener`` when one
    runs already (the GUI's), otherwise on a listener of its own for the
    move. ``on_series(study UID, series UID)`` when a series has its first
    rows in the library. On any failure the series stay ``incomplete`` and one line says how many
    objects of which study are missing; retrieving again completes it.
    """
    progress = progress or no_progress
    settings = _settings(settings)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    identifier.StudyInstanceUID = study_uid
    if series_uid:
        identifier.SeriesInstanceUID = series_uid
    with retrieving(library, keep_dir, study_uid, series_uid, on_series=on_series) as (transfer, counts):
        if method == "get":
            _get(progress, cancel, node, identifier, transfer, counts, settings.ae_title, timeout)
        elif method == "move":
            _move(progress, cancel, node, identifier, transfer, counts, settings, timeout, listener)
        else:
            raise NetworkError(f"unknown retrieve method {method!r} (get or move)")
    progress(1.0, f"{transfer.received} objects received")
    return transfer.received


def _update(counts: Announced, status: Dataset) -> None:
    """Take what a pending or final C-GET/C-MOVE response says about the sub-operations."""
    remaining = status.get("NumberOfRemainingSuboperations")
    done = sum(int(status.get(k) or 0) for k in ("NumberOfCompletedSuboperations", "NumberOfFailedSuboperations",
                                                  "NumberOfWarningSuboperations"))
    if remaining is not None:
        counts.expected = done + int(remaining)
    counts.failed = int(status.get("NumberOfFailedSuboperations") or 0)


def _store_handler(transfer: Transfer, failures: list[BaseException]) -> Callable[[evt.Event], int]:
    """The C-STORE handler of a retrieve: land the object; a bad object is refused, a full disk ends it all."""

    def handle(event: evt.Event) -> int:
        try:
            transfer.add(received_file(event), event.request.AffectedSOPInstanceUID)
            return 0x0000
        except DicomError as exc:
            log.warning("refused a received object: %s", exc.reason)
            return 0xC210  # cannot understand
        except DiskFull as exc:
            failures.append(exc)
            return 0xA700  # out of resources
        except Exception as exc:  # noqa: BLE001 - reported by the retrieve, never lost in pynetdicom's thread
            log.error("storing a received object failed", exc_info=True)
            failures.append(exc)
            return 0xA701

    return handle


def _get(progress: Progress, cancel: CancelFlag | None, node: Node, identifier: Dataset, transfer: Transfer,
         counts: Announced, ae_title: str, timeout: float) -> None:
    ae = make_ae(ae_title, timeout)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for uid in RETRIEVE_STORAGE_CLASSES:
        ae.add_requested_context(uid, list(RETRIEVE_TRANSFER_SYNTAXES))
    roles = [build_role(uid, scp_role=True) for uid in RETRIEVE_STORAGE_CLASSES]
    failures: list[BaseException] = []
    assoc = associate(ae, node, [(evt.EVT_C_STORE, _store_handler(transfer, failures))], roles)
    try:
        for status, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            _follow(progress, cancel, assoc, node, "C-GET", status, counts, failures)
    finally:
        if assoc.is_established:
            assoc.release()
    _final(node, counts, transfer, failures)


def _follow(progress: Progress, cancel: CancelFlag | None, assoc: Association, node: Node, service: str,
            status: Dataset, counts: Announced, failures: list[BaseException]) -> None:
    """One response of a C-GET or C-MOVE: count, report progress, stop on cancel or a full disk."""
    if failures:
        assoc.abort()
        raise failures[0] if isinstance(failures[0], NetworkError) else NetworkError(
            f"storing a received object failed ({type(failures[0]).__name__})")
    if cancel is not None and cancel.is_set():
        assoc.abort()
        raise Cancelled()
    code = _status_code(node, service, status, assoc if counts.expected is None else None)  # refused, or lost
    _update(counts, status)
    if code == 0xFF00 and counts.expected:
        done = counts.expected - int(status.get("NumberOfRemainingSuboperations") or 0)
        progress(done / counts.expected, f"{done} of {counts.expected} objects")


def _final(node: Node, counts: Announced, transfer: Transfer, failures: list[BaseException]) -> None:
    if failures:
        raise failures[0] if isinstance(failures[0], NetworkError) else NetworkError("storing an object failed")
    if counts.failed:
        raise NetworkError(f"{node} could not send {counts.failed} objects")
    if counts.expected is not None and transfer.received < counts.expected:
        raise NetworkError(f"{node} ended the retrieve early")


def _move(progress: Progress, cancel: CancelFlag | None, node: Node, identifier: Dataset, transfer: Transfer,
          counts: Announced, settings: Settings, timeout: float, listener: Listener | None) -> None:
    """C-MOVE to our own AE title: the objects come back on associations to our listening port."""
    with _receiving_for_move(node, transfer, settings, listener):
        ae = make_ae(settings.ae_title, timeout)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = associate(ae, node)
        try:
            for status, _ in assoc.send_c_move(identifier, settings.ae_title,
                                               StudyRootQueryRetrieveInformationModelMove):
                _follow(progress, cancel, assoc, node, "C-MOVE", status, counts, [])
        finally:
            if assoc.is_established:
                assoc.release()
    _final(node, counts, transfer, [])


@contextmanager
def _receiving_for_move(node: Node, transfer: Transfer, settings: Settings,
                        listener: Listener | None) -> Iterator[None]:
    """Our port ready for the objects of a C-MOVE, landing in ``transfer``: the running listener routes
    them, or a listener starts for the move; a port another program holds is one line."""
    from workstation.net.listener import Listener

    if listener is not None:
        with listener.routed(node.ae_title, transfer):
            yield
        return
    own = Listener(transfer.library, settings.ae_title, settings.listen_port, settings.listen_host,
                   [node.ae_title, *settings.allowed_callers], transfer=transfer)
    try:
        own.start()
    except NetworkError as exc:
        why = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) else str(exc)
        raise NetworkError(f"a C-MOVE sends to our port {settings.listen_port}, and we cannot listen there "
                           f"({why}): stop the program holding it (another `workstation pacs listen`?), or "
                           f"retrieve with C-GET (--method get)") from exc
    try:
        yield
    finally:
        own.stop()


def send(progress: Progress, cancel: CancelFlag | None, node: Node, files: list[Path], ae_title: str,
         timeout: float = DEFAULT_TIMEOUT) -> int:
    """Job: C-STORE files (series, SR, SEG, registered series) to ``node``; returns how many were stored.

    Files are sent as they are (their own transfer syntax); a file the peer
    refuses does not stop the others; the failures are summed up in one line.
    """
    progress = progress or no_progress
    headers = []
    for path in files:
        check_cancel(cancel)
        headers.append(read_header(path))
    contexts = sorted({(h.sop_class_uid, h.transfer_syntax_uid) for h in headers})
    if len(contexts) > MAX_CONTEXTS:
        raise NetworkError(f"{len(contexts)} kinds of object in one send; at most {MAX_CONTEXTS} (send in parts)")
    ae = make_ae(ae_title, timeout)
    for sop_class, syntax in contexts:
        ae.add_requested_context(sop_class, syntax)
    assoc = associate(ae, node)
    refused: list[str] = []
    try:
        for number, header in enumerate(headers, 1):
            if cancel is not None and cancel.is_set():
                assoc.abort()
                raise Cancelled()
            try:
                status = assoc.send_c_store(Path(header.path))
            except (ValueError, AttributeError) as exc:  # no accepted context for this kind of object
                refused.append(f"{Path(header.path).name} ({exc})")
                continue
            code = _status_code(node, "C-STORE", status, assoc)
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                refused.append(f"{Path(header.path).name} (status 0x{code:04X})")
            progress(number / len(headers), f"sent {number} of {len(headers)}")
    finally:
        if assoc.is_established:
            assoc.release()
    if refused:
        raise NetworkError(f"{node} did not store {len(refused)} of {len(headers)} files, e.g. {refused[0]}")
    return len(headers)


def _status_code(node: Node, service: str, status: Dataset, assoc: Association | None = None) -> int:
    """The status of a response; an empty one means the peer aborted, closed or went silent."""
    if "Status" in status:
        return int(status.Status)
    hint = f"; does it know our AE title {assoc.requestor.ae_title}?" if assoc is not None else ""
    raise NetworkError(f"{node} ended the association during {service} (aborted, closed or timed out{hint})")


def _check_status(node: Node, service: str, status: Dataset) -> None:
    code = _status_code(node, service, status)
    if code != 0x0000:
        raise NetworkError(f"{node} answered {service} with status 0x{code:04X}")
