"""nginx from the Debian package with the shipped site config (`deploy/nginx.conf`), as the current
user: a main config in a temporary directory wraps the site, whose replica names are mapped to
loopback ports and whose `listen` is moved to a free loopback port."""

import getpass
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port, port_open, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE_CONFIG = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
MIME_TYPES = "/etc/nginx/mime.types"


@dataclass(frozen=True)
class LogEntry:
    """A request as nginx logged it: wall-clock start and end, status, the replica ports it tried."""

    started: float
    ended: float
    status: int
    replicas: list[int]


def upstream_servers(site: str) -> list[str]:
    """The `host:port` of each `server` line in the site's upstream block."""
    return re.findall(r"^\s*server\s+([\w.-]+:\d+)", site, flags=re.MULTILINE)


def local_site(site: str, replicas: dict[str, int], listen_port: int) -> str:
    """The site with each replica `host:port` in `replicas` replaced by 127.0.0.1 and its port, and
    `listen` on 127.0.0.1:`listen_port`."""
    for address, port in replicas.items():
        site = site.replace(f"server {address} ", f"server 127.0.0.1:{port} ")
    return re.sub(r"^(\s*)listen\s+[^;]+;", rf"\g<1>listen 127.0.0.1:{listen_port};", site, flags=re.MULTILINE)


def main_config(directory: Path, site: str) -> Path:
    """Write `nginx.conf` (foreground, every path under `directory`) including `site`; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "site.conf").write_text(site)
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  include {MIME_TYPES};\n"
        "  log_format upstreams '$msec $request_time $status $upstream_addr';\n"
        f"  access_log {directory}/access.log upstreams;\n"
        + "".join(f"  {name}_temp_path {path};\n" for name, path in temp.items())
        + f"  include {directory}/site.conf;\n"
        "}\n"
    )
    return config


def nginx_test(config: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on `config`: its exit status and messages."""
    command = [NGINX, "-t", "-c", str(config), "-p", str(config.parent), "-e", str(config.parent / "error.log")]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


class NginxServer:
    """nginx serving the shipped site in front of `replicas` (name:port in the site -> local port)."""

    def __init__(self, directory: Path, replicas: dict[str, int]) -> None:
        self.port = free_port()
        site = local_site(SITE_CONFIG.read_text(), replicas, self.port)
        self.config = main_config(directory, site)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "NginxServer":
        checked = nginx_test(self.config)
        assert checked.returncode == 0, checked.stderr
        command = [NGINX, "-c", str(self.config), "-p", str(self.config.parent), "-e", "stderr"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: port_open(self.port), timeout=10), "nginx did not start"
        return self

    def log(self) -> list[LogEntry]:
        """The requests nginx has logged so far."""
        entries = []
        for line in (self.config.parent / "access.log").read_text().splitlines():
            ended, duration, status, addresses = line.split(" ", 3)
            replicas = [int(address.rsplit(":", 1)[1]) for address in addresses.split(", ") if ":" in address]
            entries.append(LogEntry(float(ended) - float(duration), float(ended), int(status), replicas))
        return entries

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
