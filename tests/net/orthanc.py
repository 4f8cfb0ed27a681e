"""A real Orthanc (Debian's ``orthanc`` and ``orthanc-dicomweb``) on free loopback ports, for tests and benchmarks.

Started from a temporary JSON configuration as a child process; ready when
its HTTP ``/system`` answers; loaded with dcmtk's ``storescu``. No systemd,
no fixed sleeps: readiness is polled against a deadline while waiting on the
process, which fails fast if Orthanc exits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
AET = "ORTHANC"
LOADER_AET = "LOADER"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (see .ci/system-packages.txt)")
    return path


@dataclass
class Orthanc:
    """One Orthanc server; ``modalities`` maps names to (AE title, port) of peers it may send to."""

    folder: Path
    modalities: dict[str, tuple[str, int]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    nodelay: bool = True
    """Run Orthanc's dcmtk with Nagle's algorithm off (``TCP_NODELAY=1``): 5x faster loading (see bench_pacs)."""
    dicom_port: int = 0
    http_port: int = 0
    process: subprocess.Popen | None = None

    @property
    def node(self) -> str:
        return f"{AET}@127.0.0.1:{self.dicom_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def config(self) -> dict:
        return {
            "Name": "workstation-tests", "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"), "StorageCompression": False,
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": AET,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users, "DicomCheckCalledAet": True,
            "DicomModalities": {name: [aet, "127.0.0.1", port] for name, (aet, port) in self.modalities.items()},
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False, "DicomAssociationCloseDelay": 0,
            "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "SaveJobs": False, "OverwriteInstances": True, "HttpCompressionEnabled": False,
        }

    def start(self, deadline_s: float = 60.0) -> Orthanc:
        binary = require_tool("Orthanc")
        if not PLUGIN.exists():
            raise RuntimeError(f"{PLUGIN} missing (Debian package orthanc-dicomweb)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dicom_port = self.dicom_port or free_port()
        self.http_port = self.http_port or free_port()
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=1))
        log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 - lives as long as the process
        env = {**os.environ, "TCP_NODELAY": "1" if self.nodelay else "0"}
        self.process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env=env)
        log.close()
        self._wait_ready(deadline_s)
        return self

    def _wait_ready(self, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                try:
                    code = self.process.wait(timeout=0.05)  # the poll interval: returns at once if Orthanc died
                except subprocess.TimeoutExpired:
                    continue
                raise RuntimeError(f"Orthanc exited with status {code}: "
                                   f"{(self.folder / 'orthanc.log').read_text()[-2000:]}") from None
        raise RuntimeError(f"Orthanc did not answer on port {self.http_port} within {deadline_s} s")

    def get(self, path: str) -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}")
        if self.users:
            import base64
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def load(self, *folders: Path) -> None:
        """Send folders of DICOM files with dcmtk's storescu (an independent client)."""
        done = subprocess.run([require_tool("storescu"), "-aet", LOADER_AET, "-aec", AET, "+sd", "+r", "-nh",
                               "127.0.0.1", str(self.dicom_port), *map(str, folders)],
                              capture_output=True, text=True, env={**os.environ, "TCP_NODELAY": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"storescu failed: {done.stderr.strip()[-500:]}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-transfer, as a crash or a power cut would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def clone(self, folder: Path) -> Orthanc:
        """A stopped copy on new ports sharing the stored files (hard links) with its own index."""
        shutil.copytree(self.folder / "index", folder / "index")
        subprocess.run(["cp", "-al", str(self.folder / "storage"), str(folder / "storage")], check=True)
        return Orthanc(folder, dict(self.modalities), dict(self.users), self.nodelay)
