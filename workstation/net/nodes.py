"""PACS nodes and our own identity: parsed from the command line or kept in a small JSON settings file.

Why JSON and not QSettings: the CLI must not import Qt, and the GUI and the
CLI must see the same nodes. The file lives in ``paths.config_dir()``; the
GUI edits it through the same functions. Passwords and tokens are not stored
here: ``auth`` names an environment variable that holds them, so the file can
be shared and backed up.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workstation import paths
from workstation.atomic import atomic_output
from workstation.errors import NetworkError

DEFAULT_AE_TITLE = "WORKSTATION"
DEFAULT_LISTEN_PORT = 11112
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 printable characters at most, no backslash
_DIMSE = re.compile(r"^(?P<aet>[^@]+)@(?P<host>[^:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)$")


@dataclass
class Node:
    """A DIMSE peer (AE title, host, port) or a DICOMweb service (URL), with optional authentication.

    ``auth`` is ``""``, ``"basic:USER:ENVVAR"`` or ``"bearer:ENVVAR"``: the secret is read from the
    environment variable when the node is used.
    """

    name: str
    ae_title: str = ""
    host: str = ""
    port: int = 0
    url: str = ""
    auth: str = ""
    verify_tls: bool = True

    @property
    def is_web(self) -> bool:
        return bool(self.url)

    def __str__(self) -> str:
        return self.url if self.is_web else f"{self.ae_title}@{self.host}:{self.port}"


@dataclass
class Settings:
    """Our AE title, the listener's port, bind address and allowed callers, and the known nodes."""

    ae_title: str = DEFAULT_AE_TITLE
    listen_port: int = DEFAULT_LISTEN_PORT
    listen_host: str = "127.0.0.1"
    allowed_callers: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)


def settings_path() -> Path:
    return paths.config_dir() / "pacs.json"


def load_settings() -> Settings:
    """The settings file, or defaults when there is none; a damaged file is one line naming it."""
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = [Node(**n) for n in data.pop("nodes", [])]
        return Settings(**data, nodes=nodes)
    except (OSError, ValueError, TypeError) as exc:
        raise NetworkError(f"cannot read the PACS settings ({exc})", path) from exc


def save_settings(settings: Settings) -> None:
    for node in settings.nodes:
        if not node.is_web:
            check_ae_title(node.ae_title)
    check_ae_title(settings.ae_title)
    with atomic_output(settings_path(), "PACS settings") as tmp:
        tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")


def check_ae_title(title: str) -> str:
    if not _AE_TITLE.match(title) or not title.strip():
        raise NetworkError(f"invalid AE title {title!r} (1 to 16 printable characters, no backslash)")
    return title


def parse_node(text: str, settings: Settings | None = None) -> Node:
    """``AET@HOST:PORT``, ``http(s)://HOST[:PORT]/PATH`` or the name of a node in the settings."""
    if text.startswith(("http://", "https://")):
        return Node(name=text, url=text.rstrip("/"))
    match = _DIMSE.match(text)
    if match:
        port = int(match["port"])
        if not 0 < port < 65536:
            raise NetworkError(f"port {port} out of range in {text!r}")
        return Node(name=text, ae_title=check_ae_title(match["aet"]), host=match["host"].strip("[]"), port=port)
    node = (settings or load_settings()).node(text)
    if node is None:
        raise NetworkError(f"unknown node {text!r}: give AET@HOST:PORT, an http(s) URL or a node name from "
                           f"{settings_path()}")
    return node


def node_from_fields(fields: dict) -> Node:
    """A node from the text fields of an editor (the GUI's table): a name, and either a URL or an AE title,
    host and port; one line saying what is wrong otherwise."""
    name = str(fields.get("name", "")).strip()
    if not name:
        raise NetworkError("a node needs a name")
    auth, verify = str(fields.get("auth", "")).strip(), bool(fields.get("verify_tls", True))
    url = str(fields.get("url", "")).strip()
    if url:
        if not url.startswith(("http://", "https://")):
            raise NetworkError(f"node {name}: the DICOMweb URL must start with http:// or https://")
        return Node(name, url=url.rstrip("/"), auth=auth, verify_tls=verify)
    host, port = str(fields.get("host", "")).strip(), str(fields.get("port", "")).strip()
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NetworkError(f"node {name}: give an AE title, a host and a port (1-65535), or a DICOMweb URL")
    return Node(name, ae_title=check_ae_title(str(fields.get("ae_title", "")).strip()), host=host,
                port=int(port), auth=auth, verify_tls=verify)


def secret(variable: str) -> str:
    value = os.environ.get(variable)
    if value is None:
        raise NetworkError(f"the environment variable {variable} holding the node's credentials is not set")
    return value
