"""The storage listener (SCP): receives C-STORE into the library, answers C-ECHO, C-FIND and C-GET.

Only callers on the allow-list are accepted; it binds to 127.0.0.1 unless
told otherwise. What one association brings is one ``Transfer``: its series
show ``receiving`` until the association is released (then ``complete``) or
aborted (``incomplete``). Objects are handled one at a time as they arrive,
so memory does not grow with the study.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pynetdicom import AllStoragePresentationContexts, evt
from pynetdicom._globals import ALL_TRANSFER_SYNTAXES
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from workstation.dicom.library import Library
from workstation.errors import DicomError, NetworkError
from workstation.net import serve
from workstation.net.dimse import SOCKET_HANDLER, make_ae, received_file
from workstation.net.nodes import check_ae_title
from workstation.net.store import DiskFull, Transfer

log = logging.getLogger(__name__)


class Listener:
    """A running storage SCP; use as a context manager or call ``start``/``stop``.

    ``transfer``: one shared transfer for every association (a C-MOVE
    retrieve owns it and ends it); otherwise each association gets its own.
    ``on_change`` is called (from network threads) whenever ``state`` changes; ``on_series`` (study UID,
    series UID) when a series received by the listener has its first rows in the library.
    """

    def __init__(self, library: Library, ae_title: str, port: int, host: str = "127.0.0.1",
                 allowed: list[str] | tuple[str, ...] = (), transfer: Transfer | None = None,
                 received_root: Path | None = None, on_change: Callable[[str], None] | None = None,
                 on_series: Callable[[str, str], None] | None = None) -> None:
        self.library = library
        self.ae_title = check_ae_title(ae_title)
        self.port = port
        self.host = host
        self.allowed = sorted({check_ae_title(a) for a in allowed if a})
        self.shared = transfer
        self.received_root = received_root
        self.on_change = on_change
        self.on_series = on_series
        self.received = 0
        self._transfers: dict[int, Transfer] = {}
        self._own: set[int] = set()
        """Associations whose transfer the listener made, and so ends."""
        self._routes: dict[str, Transfer] = {}
        self._released: set[int] = set()
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        """One line for a status bar or a terminal."""
        if self._server is None:
            return "listener stopped"
        where = f"{self.ae_title}@{self.host}:{self.port}"
        with self._lock:
            active = len(self._transfers)
        return f"receiving on {where} ({self.received} objects)" if active else f"listening on {where}"

    def start(self) -> Listener:
        if not self.allowed:
            raise NetworkError("the listener allows no calling AE title: give --allow AET or add nodes in the "
                               "settings")
        ae = make_ae(self.ae_title)
        ae.require_calling_aet = self.allowed
        for model in (Verification, StudyRootQueryRetrieveInformationModelFind,
                      PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
                      PatientRootQueryRetrieveInformationModelGet):
            ae.add_supported_context(model)
        for cx in AllStoragePresentationContexts:  # both roles: a C-GET caller asks us to send back as storage SCU
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
        handlers = [SOCKET_HANDLER, (evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_STORE, self._on_store),
                    (evt.EVT_C_FIND, self._on_find), (evt.EVT_C_GET, self._on_get),
                    (evt.EVT_RELEASED, self._on_released), (evt.EVT_CONN_CLOSE, self._on_close)]
        try:
            self._server = ae.make_server((self.host, self.port), evt_handlers=handlers,
                                          server_class=ThreadedAssociationServer)
        except OSError as exc:
            raise NetworkError(f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}; is another "
                               "listener running?)") from exc
        ae._servers.append(self._server)  # what start_server does; the server's shutdown() expects it
        self._thread = threading.Thread(target=self._server.serve_forever, name="dicom-listener", daemon=True)
        self._thread.start()
        log.info("listening as %s on %s:%d, %d allowed callers", self.ae_title, self.host, self.port,
                 len(self.allowed))
        self._changed()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        for assoc in list(self._server.active_associations):
            assoc.abort()
        self._server.shutdown()  # also closes the socket
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._changed()

    @contextmanager
    def routed(self, caller: str, transfer: Transfer) -> Iterator[None]:
        """While this runs, what ``caller`` sends lands in ``transfer``, which its owner ends: a C-MOVE
        retrieve made while this listener holds our port (the PACS sends to the port it knows for our AE
        title, so a second listener could not take it), allowed even if ``caller`` is not on the list."""
        if self._server is None:
            raise NetworkError("the listener is stopped")
        caller = check_ae_title(caller).strip()
        ae = self._server.ae
        with self._lock:
            self._routes[caller] = transfer
            ae.require_calling_aet = sorted({*self.allowed, caller})
        try:
            yield
        finally:
            with self._lock:
                self._routes.pop(caller, None)
                ae.require_calling_aet = sorted({*self.allowed, *self._routes})

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state)

    def _transfer(self, assoc: object) -> Transfer:
        with self._lock:
            transfer = self._transfers.get(id(assoc))
            if transfer is None:
                transfer = self._routes.get(assoc.requestor.ae_title.strip()) or self.shared
                if transfer is None:
                    transfer = Transfer(self.library, root=self.received_root, on_series=self.on_series)
                    self._own.add(id(assoc))
                self._transfers[id(assoc)] = transfer
                started = True
            else:
                started = False
        if started:
            self._changed()
        return transfer

    def _on_store(self, event: evt.Event) -> int:
        transfer = self._transfer(event.assoc)
        try:
            transfer.add(received_file(event), event.request.AffectedSOPInstanceUID)
        except DicomError as exc:
            log.warning("refused an object from %s: %s", event.assoc.requestor.ae_title, exc.reason)
            return 0xC210  # cannot understand: nothing was kept
        except DiskFull:
            log.error("disk full while receiving from %s: association aborted", event.assoc.requestor.ae_title)
            threading.Thread(target=event.assoc.abort, name="abort-disk-full", daemon=True).start()
            return 0xA700  # out of resources
        with self._lock:
            self.received += 1
        return 0x0000

    def _on_released(self, event: evt.Event) -> None:
        with self._lock:
            self._released.add(id(event.assoc))

    def _on_close(self, event: evt.Event) -> None:
        key = id(event.assoc)
        with self._lock:
            transfer = self._transfers.pop(key, None)
            released = key in self._released
            own = key in self._own
            self._released.discard(key)
            self._own.discard(key)
        if transfer is not None:
            if own:
                transfer.finish(released)
                log.info("association from %s ended (%s): %d objects", event.assoc.requestor.ae_title,
                         "released" if released else "aborted", transfer.received)
            self._changed()

    def _on_find(self, event: evt.Event):  # noqa: ANN202 - a pynetdicom generator handler
        try:
            matches = list(serve.find(self.library, event.identifier))
        except ValueError as exc:
            log.warning("C-FIND refused: %s", exc)
            yield 0xC000, None
            return
        for ds in matches:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, ds

    def _on_get(self, event: evt.Event):  # noqa: ANN202 - a pynetdicom generator handler
        found = serve.files(self.library, event.identifier)
        yield len(found)
        for path in found:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            try:  # pynetdicom's C-GET sends datasets only: one file in memory at a time
                dataset = pydicom.dcmread(path)
            except (OSError, InvalidDicomError) as exc:
                log.warning("C-GET: cannot read a library file (%s)", exc)
                continue
            yield 0xFF00, dataset
