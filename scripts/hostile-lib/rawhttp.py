"""A small HTTP/1.1 client over plain sockets, for requests no ordinary client will send.

Everything is bytes: the request line, every header (10,000 of them, or one of a megabyte), and a
body that may be bytes, an iterator of chunks (sent as they come, so a 100 MB body is never held
in memory), chunked or not. Sending stops as soon as the server answers or closes, which is what
a server refusing an oversized body early does; the answer is then read as far as it goes.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator


@dataclass
class Answer:
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None  # why there is no (complete) answer: closed, timeout, reset
    sent_bytes: int = 0  # body bytes sent before the server answered or closed
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def outcome(self) -> str:
        """The status as text, or `closed` when the connection ended without an answer."""
        return str(self.status) if self.status is not None else "closed"

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace")


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def build_head(method: str, target: str | bytes, headers: Iterable[tuple[str | bytes, str | bytes]],
               version: str = "HTTP/1.1") -> bytes:
    lines = [_as_bytes(method) + b" " + _as_bytes(target) + b" " + _as_bytes(version)]
    for name, value in headers:
        lines.append(_as_bytes(name) + b": " + _as_bytes(value))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def chunked(parts: Iterable[bytes], size: int = 65536) -> Iterator[bytes]:
    """Chunked transfer framing around the given parts, each cut to at most `size` bytes."""
    for part in parts:
        for offset in range(0, len(part), size):
            piece = part[offset:offset + size]
            yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def repeat(block: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes made of `block` repeated, produced block by block."""
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


class _AnsweredEarly(Exception):
    pass


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float, limit: int):
        self.sock, self.deadline, self.limit = sock, deadline, limit
        self.buffer = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer in time")
        self.sock.settimeout(remaining)
        data = self.sock.recv(262144)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def until(self, marker: bytes, limit: int) -> bytes | None:
        while marker not in self.buffer:
            if len(self.buffer) > limit or not self._fill():
                return None
        index = self.buffer.index(marker)
        head, self.buffer = self.buffer[:index], self.buffer[index + len(marker):]
        return head

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count and len(self.buffer) < self.limit:
            if not self._fill():
                break
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def rest(self) -> bytes:
        while len(self.buffer) < self.limit and self._fill():
            pass
        data, self.buffer = self.buffer[: self.limit], b""
        return data


def read_answer(sock: socket.socket, deadline: float, limit: int = 4 << 20, method: str = "GET") -> Answer:
    answer = Answer()
    reader = _Reader(sock, deadline, limit)
    try:
        while True:
            head = reader.until(b"\r\n\r\n", 1 << 20)
            if head is None:
                answer.error = "closed without an answer" if not reader.buffer else "closed mid-answer"
                return answer
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            status = int(parts[1])
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue: the real answer follows
            answer.status = status
            answer.reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                answer.headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
            break
        if method == "HEAD" or status in (204, 304):
            return answer
        length = answer.header("content-length")
        if (answer.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size_line = reader.until(b"\r\n", 1024)
                if size_line is None:
                    answer.error = "chunked answer ended without its last chunk"
                    break
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    reader.until(b"\r\n", 65536)
                    break
                body += reader.exactly(size)
                reader.until(b"\r\n", 16)
                if len(body) >= limit:
                    break
            answer.body = body
        elif length is not None:
            answer.body = reader.exactly(int(length))
            if len(answer.body) < min(int(length), limit):
                answer.error = "answer shorter than its Content-Length"
        else:
            answer.body = reader.rest()
    except (TimeoutError, socket.timeout):
        answer.error = answer.error or "timeout"
    except (ConnectionResetError, BrokenPipeError) as error:
        answer.error = answer.error or f"connection reset ({type(error).__name__})"
    except (ValueError, IndexError):
        answer.error = "unparsable answer"
    return answer


def request(host: str, port: int, method: str, target: str | bytes,
            headers: Iterable[tuple[str | bytes, str | bytes]] = (), body: bytes | Iterable[bytes] | None = None,
            *, timeout: float = 60.0, version: str = "HTTP/1.1", read_limit: int = 4 << 20,
            raw: bytes | None = None) -> Answer:
    """One request on a fresh connection. `headers` are sent exactly as given (add Host yourself,
    or leave it to this function when no header named Host is present). `raw` replaces the whole
    request with the given bytes."""
    started = time.monotonic()
    deadline = started + timeout
    headers = list(headers)
    if raw is None and not any(_as_bytes(name).lower() == b"host" for name, _ in headers):
        headers.insert(0, ("Host", f"{host}:{port}"))
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError as error:
        return Answer(error=f"connect failed: {error}", elapsed=time.monotonic() - started)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    answer_early = False
    sent = 0
    try:
        head = raw if raw is not None else build_head(method, target, headers, version)
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(head)
            if body is not None:
                parts = [body] if isinstance(body, (bytes, bytearray)) else body
                sock.settimeout(5)
                for part in parts:
                    while True:
                        readable, _, _ = select.select([sock], [], [], 0)
                        if readable:  # the server answered (or closed) before taking the whole body
                            raise _AnsweredEarly()
                        if time.monotonic() > deadline:
                            raise _AnsweredEarly()
                        try:
                            sock.sendall(part)
                            sent += len(part)
                            break
                        except (TimeoutError, socket.timeout):
                            part = b""  # part of it may be gone; the server is not reading anyway
        except _AnsweredEarly:
            answer_early = True
        except (BrokenPipeError, ConnectionResetError):
            answer_early = True
        except (TimeoutError, socket.timeout):
            pass  # the server stopped reading; whatever it answered is read below
        answer = read_answer(sock, deadline, read_limit, method)
        answer.sent_bytes = sent
        if answer_early and answer.error is None and answer.status is None:
            answer.error = "closed while the body was sent"
    finally:
        try:
            sock.close()
        except OSError:
            pass
    answer.elapsed = time.monotonic() - started
    return answer
