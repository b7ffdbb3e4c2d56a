"""The gateway scaled out (issue 16): one instance with two uvicorn workers, and two instances behind
nginx. The figure to compare with `gateway` (one worker) is CPU per request summed over every
gateway process: it must not rise with the number of workers or instances. nginx's own CPU is
measured apart (`nginx_cpu_ms_per_req` in the rows, a line in the log)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from bench.procs import free_port, wait_for_port
from bench.targets import WORK_DIR, Unavailable
from bench.targets.gateway import Gateway, prepare_data_dir

NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/client-body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream gateways {{
{servers}
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


@dataclass
class GatewayTwoWorkers(Gateway):
    """One instance, `uvicorn --workers 2` (what `g4f api --workers 2` runs), metrics in
    prometheus-client's multiprocess mode as `g4f api` sets it up."""

    name: str = "gateway-w2"
    label: str = "this gateway, 2 workers (uvicorn)"
    note: str = "uvicorn --workers 2 (g4f api's HTTP protocol), auth on; CPU summed over the master and both workers"

    def command(self, port: int) -> list[str]:
        return [*super().command(port), "--workers", "2"]

    def extra_env(self) -> dict[str, str]:
        metrics = WORK_DIR / self.name / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        return {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}


@dataclass
class GatewayPair(Gateway):
    """Two instances (one uvicorn worker each) sharing one data directory (SQLite, the file limit
    store, the catalogue stamp), behind nginx started from a config written into the bench work dir."""

    name: str = "gateway-pair"
    label: str = "this gateway, 2 instances behind nginx"
    note: str = (
        "two uvicorn instances (1 worker each) sharing a data dir, behind nginx (1 worker, keep-alive "
        "upstream); CPU summed over both instances, nginx's reported apart"
    )
    instance_pids: list[int] = field(default_factory=list)
    nginx_pid: int | None = None

    def prepare(self) -> None:
        if nginx_binary() is None:
            raise Unavailable("nginx is not installed (Debian package nginx, in scripts/system-packages.txt)")

    def start(self, procs, upstream_port: int, cores) -> None:
        env, self.api_key = prepare_data_dir(self.name, upstream_port, self.source(), *self.key_args)
        env.update(self.extra_env())
        self.procs = procs
        ports = [free_port(), free_port()]
        for index, port in enumerate(ports):
            name = f"{self.name}-{index + 1}"
            proc, log = procs.start(name, self.command(port), env=env, cores=cores, cwd=self.source())
            self.instance_pids.append(proc.pid)
            try:
                wait_for_port(port, timeout=60, proc=proc, log=log)
            except RuntimeError as exc:
                raise Unavailable(f"gateway instance {index + 1} {exc}") from None
        self.pid = self.instance_pids[0]
        self.port = free_port()
        work = WORK_DIR / self.name / "nginx"
        work.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{port};" for port in ports)
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=work, servers=servers, port=self.port))
        argv = [
            nginx_binary(),
            "-p",
            str(work),
            "-c",
            str(conf),
            "-e",
            str(work / "nginx-error.log"),
            "-g",
            "daemon off;",
        ]
        proc, log = procs.start(f"{self.name}-nginx", argv, cores=cores)
        self.nginx_pid = proc.pid
        try:
            wait_for_port(self.port, timeout=20, proc=proc, log=log)
        except RuntimeError as exc:
            raise Unavailable(f"nginx {exc}") from None

    def measured_pids(self) -> dict[str, list[int]]:
        return {"target": list(self.instance_pids), "nginx": [self.nginx_pid] if self.nginx_pid else []}

    def stop(self) -> None:
        if self.procs is not None:
            self.procs.stop_pids({*self.instance_pids, self.nginx_pid})
        self.instance_pids, self.nginx_pid, self.pid = [], None, None
