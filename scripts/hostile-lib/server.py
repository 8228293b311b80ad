"""The server under attack: `iolog serve --dev --demo` on a fresh data folder, its tokens and the
accounts the corpus needs, and the watchers that run for the whole attack (health every 0.5 s,
resident memory, the process itself)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import rawhttp

HOST = "127.0.0.1"
MAX_BODY_BYTES = 4 << 20  # 4 MiB: a 1,000,000-deep array (2 MB) is parsed, 100 MB bodies are refused fast
BODY_BYTES_IN_FLIGHT = 16 << 20  # 16 MiB: four chunked uploads (each reserves MAX_BODY_BYTES) fill it
DEMO = "demo-org"  # the demo account, I/O logging on, admin demo-admin
OTHER = "hostile-other"  # a second account with its own admin and generations (foreign cursors)
TOGGLE = "hostile-toggle"  # where schemathesis may switch I/O logging off (demo-admin administers it)


class ServerGone(Exception):
    pass


@dataclass
class Tokens:
    gateway: str = ""
    platform: str = ""
    admin: str = ""  # demo-admin, admin of demo-org and hostile-toggle
    member: str = ""  # hostile-member, a member (not admin) of demo-org
    other_admin: str = ""  # hostile-other-admin, admin of hostile-other only
    session: str = ""  # browser session cookie of demo-admin

    def secrets(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value}


@dataclass
class Server:
    binary: str
    port: int
    work: str
    process: subprocess.Popen | None = None
    tokens: Tokens = field(default_factory=Tokens)

    @property
    def data_dir(self) -> str:
        return os.path.join(self.work, "iolog-data")

    @property
    def stdout_path(self) -> str:
        return os.path.join(self.work, "server.stdout")

    @property
    def stderr_path(self) -> str:
        return os.path.join(self.work, "server.stderr")

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def command(self) -> list[str]:
        return [self.binary, "serve", "--dev", "--demo", "--data-dir", self.data_dir, "--host", HOST,
                "--port", str(self.port), "--max-body-bytes", str(MAX_BODY_BYTES),
                "--max-body-bytes-in-flight", str(BODY_BYTES_IN_FLIGHT)]

    def cli(self, *arguments: str) -> str:
        result = subprocess.run([self.binary, *arguments, "--data-dir", self.data_dir], capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"iolog {' '.join(arguments)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip()

    def start(self) -> None:
        if rawhttp.request(HOST, self.port, "GET", "/healthz", timeout=2).status is not None:
            raise RuntimeError(f"something already answers on port {self.port}; set IOLOG_HOSTILE_PORT (12000-12999)")
        # The platform token is made before serve starts, on the fresh folder.
        self.tokens.platform = self.cli("tokens", "create", "--platform", "--label", "hostile")
        self.process = subprocess.Popen(self.command, stdout=open(self.stdout_path, "wb"),
                                        stderr=open(self.stderr_path, "wb"), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"iolog serve exited with {self.process.returncode}:\n{self.tail()}")
            if rawhttp.request(HOST, self.port, "GET", "/healthz", timeout=2).status == 200:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"iolog serve did not answer /healthz within 120 s:\n{self.tail()}")
        printed = open(self.stdout_path, encoding="utf-8", errors="replace").read()
        self.tokens.gateway = re.search(r"^  gateway token:\s+(\S+)", printed, re.M).group(1)
        self.tokens.admin = re.search(r"^  admin token:\s+(\S+)", printed, re.M).group(1)

    def tail(self, lines: int = 30) -> str:
        try:
            text = open(self.stderr_path, encoding="utf-8", errors="replace").read().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def prepare(self) -> None:
        """Accounts and tokens beyond what --dev makes: every token kind, through the API and the CLI."""
        self.call_ok("PUT", f"/v1/accounts/{OTHER}", self.tokens.platform, {"kind": "organization", "name": "Hostile other"})
        self.call_ok("PUT", f"/v1/accounts/{OTHER}/members/hostile-other-admin", self.tokens.platform, {"role": "admin"})
        self.call_ok("PUT", f"/v1/accounts/{TOGGLE}", self.tokens.platform, {"kind": "organization", "name": None})
        self.call_ok("PUT", f"/v1/accounts/{TOGGLE}/members/demo-admin", self.tokens.platform, {"role": "admin"})
        self.call_ok("PUT", f"/v1/accounts/{DEMO}/members/hostile-member", self.tokens.platform, {"role": "member"})
        self.tokens.member = self.cli("tokens", "create", "--user", "hostile-member", "--label", "hostile member")
        self.tokens.other_admin = self.cli("tokens", "create", "--user", "hostile-other-admin", "--label", "hostile other")
        self.call_ok("PUT", f"/v1/accounts/{OTHER}/settings/io-logging", self.tokens.other_admin, {"enabled": True})
        self.call_ok("PUT", f"/v1/accounts/{TOGGLE}/settings/io-logging", self.tokens.admin, {"enabled": True})
        self.tokens.session = self.sign_in(self.tokens.admin)

    def sign_in(self, token: str) -> str:
        page = rawhttp.request(HOST, self.port, "GET", "/login")
        cookie = next(v for k, v in page.headers if k.lower() == "set-cookie" and v.startswith("iolog_login_csrf="))
        cookie = cookie.split(";")[0]
        csrf = re.search(rb'name="csrf" value="([^"]+)"', page.body).group(1).decode()
        form = urllib.parse.urlencode({"token": token, "csrf": csrf, "next": "/accounts"}).encode()
        answer = rawhttp.request(HOST, self.port, "POST", "/login",
                                 [("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded"),
                                  ("Content-Length", str(len(form)))], form)
        for name, value in answer.headers:
            if name.lower() == "set-cookie" and value.startswith("iolog_session="):
                return value.split(";")[0].split("=", 1)[1]
        raise RuntimeError(f"sign-in failed: {answer.outcome} {answer.text()}")

    def call(self, method: str, path: str, token: str | None, body=None, headers=()) -> tuple[int, object]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        all_headers = dict(headers)
        if token:
            all_headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw

    def call_ok(self, method: str, path: str, token: str, body=None):
        status, answer = self.call(method, path, token, body)
        if status >= 300:
            raise RuntimeError(f"setup: {method} {path} answered {status}: {answer}")
        return answer

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def memory_kib(self, field_name: str) -> int | None:
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith(field_name + ":"):
                        return int(line.split()[1])
        except (OSError, AttributeError):
            return None
        return None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Watch(threading.Thread):
    """Polls /healthz every 0.5 s on a fresh connection; a poll without 200 within 2 s is a failure.
    Also samples the server's resident memory (VmRSS, and VmHWM while the process lives) and notices
    when the process exits."""

    def __init__(self, server: Server):
        super().__init__(daemon=True, name="health")
        self.server = server
        self.stopping = threading.Event()
        self.failures: list[dict] = []
        self.polls = 0
        self.peak_kib = 0
        self.exited: int | None = None
        self.activity = "start-up"  # what the attack is doing now, for the failure report
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            answer = rawhttp.request(HOST, self.server.port, "GET", "/healthz", timeout=2.0)
            elapsed = time.monotonic() - started
            with self.lock:
                self.polls += 1
                if answer.status != 200 or elapsed > 2.0:
                    self.failures.append({"at": time.strftime("%H:%M:%S"), "activity": self.activity,
                                          "answer": answer.outcome, "error": answer.error, "seconds": round(elapsed, 2)})
            for field_name in ("VmHWM", "VmRSS"):
                value = self.server.memory_kib(field_name)
                if value:
                    self.peak_kib = max(self.peak_kib, value)
            if self.exited is None and not self.server.alive():
                self.exited = self.server.process.returncode
            self.stopping.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def doing(self, activity: str) -> None:
        self.activity = activity

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
