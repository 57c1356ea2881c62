"""Real DICOM peers for interop tests: DCMTK ``storescp`` and Orthanc, bound to loopback only.

Neither DCMTK 3.6.7's storescp nor Orthanc 1.10 has a listen-address option; both bind every
interface. :func:`loopback_shim` compiles (with gcc, once per session directory) a tiny
LD_PRELOAD library whose ``bind()`` rewrites IPv4/IPv6 addresses to 127.0.0.1 / ::1, and the
launchers start the peers with it. :func:`listening_addresses` reads /proc/net/tcp{,6} so a test
can prove the peers listen on loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["loopback_shim", "listening_addresses", "Peer", "start_storescp", "start_orthanc", "orthanc_get"]

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in a; memcpy(&a, addr, sizeof a); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return real(fd, (const struct sockaddr *)&a, sizeof a);
    }
    if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a; memcpy(&a, addr, sizeof a); a.sin6_addr = in6addr_loopback;
        return real(fd, (const struct sockaddr *)&a, sizeof a);
    }
    return real(fd, addr, len);
}
"""


def loopback_shim(directory: Path) -> Path:
    """Compile the bind()-to-loopback LD_PRELOAD shim into ``directory``; return the .so path."""
    so = directory / "bind_loopback.so"
    if not so.exists():
        src = directory / "bind_loopback.c"
        src.write_text(SHIM_C)
        gcc = shutil.which("gcc")
        if gcc is None:
            raise RuntimeError("gcc is needed to build the loopback shim for the interop peers")
        subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(so), str(src), "-ldl"], check=True)
    return so


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex as in /proc/net/tcp*) with a LISTEN socket on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, _, hexport = fields[1].partition(":")
            if fields[3] == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"peer did not listen on 127.0.0.1:{port} within {timeout} s")


class Peer:
    """A started peer process; :meth:`stop` ends it (only it: by its own pid)."""

    def __init__(self, proc: subprocess.Popen[bytes], ports: tuple[int, ...], workdir: Path) -> None:
        self.proc = proc
        self.ports = ports
        self.workdir = workdir

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _env(shim: Path) -> dict[str, str]:
    return {**os.environ, "LD_PRELOAD": str(shim)}


def start_storescp(workdir: Path, port: int, shim: Path, ae_title: str = "STORESCP") -> Peer:
    """DCMTK storescp accepting every transfer syntax (+xa), files into ``workdir/received``."""
    out = workdir / "received"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["storescp", "--aetitle", ae_title, "+xa", "--output-directory", str(out), str(port)],
        env=_env(shim), stdout=subprocess.DEVNULL, stderr=(workdir / "storescp.log").open("ab"),
    )
    _wait_port(port, proc)
    return Peer(proc, (port,), workdir)


def start_orthanc(workdir: Path, dicom_port: int, http_port: int, shim: Path, ae_title: str = "ORTHANC") -> Peer:
    """Orthanc (Debian package) with its own config: storage in ``workdir``, no auth, loopback."""
    workdir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "Name": "cqa-interop",
        "StorageDirectory": str(workdir / "db"),
        "IndexDirectory": str(workdir / "db"),
        "DicomAet": ae_title,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "Plugins": [],
        "DicomModalities": {},
        "StorageCompression": False,
    }
    cfg = workdir / "orthanc.json"
    cfg.write_text(json.dumps(config))
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    proc = subprocess.Popen(
        [binary, f"--logdir={workdir}", str(cfg)], env=_env(shim),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(dicom_port, proc)
    _wait_port(http_port, proc)
    return Peer(proc, (dicom_port, http_port), workdir)


def orthanc_get(http_port: int, path: str) -> Any:
    """GET ``path`` from the Orthanc REST API on loopback, parsed JSON."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=10) as rsp:
        return json.loads(rsp.read())
