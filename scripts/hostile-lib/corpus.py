"""The hand corpus: hostile requests, each with the outcome the server must give.

Each case is a `Case`: a name, a group, the accepted outcomes, and a function that sends it and
returns a `Result`. Outcomes are status codes ("201"), classes ("4xx") or "closed" (the connection
ended without an answer, acceptable only where a case says so). Whatever a case's expectation, a
5xx other than 503 is a failure, and a 503 must carry Retry-After. A case may also add problems of
its own (a filter that returned rows it should not have, a number that did not come back as sent,
a stored row that cannot be read back), and notes (what the server did, for the report).

Every ingest body carries the run's content marker in prompt, completion and reasoning, refused or
not; after the run, the server's output and every byte of its data folder are searched for it.

Run one case, or a few, alone: IOLOG_HOSTILE_ONLY='regex on names' scripts/hostile
"""

from __future__ import annotations

import base64
import decimal
import gzip
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

import rawhttp
from server import DEMO, HOST, MAX_BODY_BYTES, OTHER, TOGGLE, Server

IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# ---------------------------------------------------------------------------------------------
# Cases, results and the context they run in


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: str  # a description: the bytes when short, else how they are made

    def show(self, secrets: dict[str, str]) -> str:
        lines = [f"{self.method} {self.target}"]
        for name, value in self.headers:
            for label, secret in secrets.items():
                value = value.replace(secret, f"${label.upper()}_TOKEN")
            lines.append(f"  {name}: {value[:200]}{'…' if len(value) > 200 else ''}")
        if self.body:
            lines.append(f"  body: {self.body}")
        return "\n".join(lines)


@dataclass
class Result:
    answer: rawhttp.Answer
    request: Request | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    request_id: str = ""


@dataclass
class Case:
    name: str
    group: str
    expect: tuple[str, ...]
    run: Callable[["Context"], Result]
    why: str = ""


def matches(outcome: str, expect: tuple[str, ...]) -> bool:
    for pattern in expect:
        if pattern == outcome or (len(pattern) == 3 and pattern.endswith("xx") and outcome[:1] == pattern[0]
                                  and outcome != "closed"):
            return True
    return False


def describe(body: bytes | None, description: str | None = None) -> str:
    if description:
        return description
    if body is None:
        return ""
    if len(body) <= 1200:
        return repr(body)
    return f"{body[:300]!r}… ({len(body)} bytes)"


class Context:
    def __init__(self, server: Server, marker: str):
        self.server = server
        self.marker = marker
        self.tokens = server.tokens
        self.sequence = 0
        self.lock = threading.Lock()
        self.stored: list[tuple[str, str]] = []  # (account, id) of every generation the corpus stored
        self.probes: list[dict] = []  # what control characters in metadata fields did
        self.loris_report: dict = {}
        self.log_needles: list[str] = []  # strings that must not appear in the server's log
        self.sql_stored: dict[str, list[str]] = {}  # metadata values with SQL metacharacters that were stored
        self._foreign: tuple[str, str] | None = None

    def foreign(self) -> tuple[str, str]:
        """(cursor, id) from the other account's list: three generations stored there first."""
        if self._foreign is None:
            last_id = ""
            for _ in range(3):
                body = self.generation(account=OTHER)
                result = self.ingest(json.dumps(body).encode(), body["id"], account=OTHER)
                if result.answer.status != 201:
                    raise RuntimeError(f"could not store into {OTHER}: {result.answer.outcome} {result.answer.text()}")
                last_id = body["id"]
            self._foreign = (_cursor(self, OTHER, self.tokens.other_admin), last_id)
        return self._foreign

    @property
    def foreign_cursor(self) -> str:
        return self.foreign()[0]

    @property
    def foreign_id(self) -> str:
        return self.foreign()[1]

    # ids and times
    def new_id(self, prefix: str = "h") -> str:
        with self.lock:
            self.sequence += 1
            return f"{prefix}-{self.sequence:05d}-{self.marker[-6:]}"

    @staticmethod
    def now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1_000_000:06d}Z"

    # requests
    def send(self, method: str, target: str, *, token: str | None = None, body: bytes | None = None,
             body_iter=None, headers: list[tuple[str, str]] | None = None, content_type: str | None = "application/json",
             length: bool = True, description: str | None = None, timeout: float = 60.0, cookie: str | None = None,
             version: str = "HTTP/1.1", raw: bytes | None = None, request_id: bool = True) -> Result:
        request_id = self.new_id("hostile-req") if request_id else ""
        all_headers: list[tuple[str, str]] = [("Host", f"{HOST}:{self.server.port}")]
        if request_id:
            all_headers.append(("X-Request-Id", request_id))
        if token:
            all_headers.append(("Authorization", "Bearer " + token))
        if cookie:
            all_headers.append(("Cookie", cookie))
        if (body is not None or body_iter is not None) and content_type:
            all_headers.append(("Content-Type", content_type))
        if body is not None and length:
            all_headers.append(("Content-Length", str(len(body))))
        all_headers += headers or []
        answer = rawhttp.request(HOST, self.server.port, method, target, all_headers,
                                 body if body is not None else body_iter, timeout=timeout, version=version, raw=raw)
        shown = [(n, v if isinstance(v, str) else v.decode("latin-1")) for n, v in all_headers]
        request = Request(method, target if isinstance(target, str) else target.decode("latin-1"), shown,
                          describe(body, description) if raw is None else describe(raw, description))
        return Result(answer, request, request_id=request_id)

    def session_cookie(self) -> str:
        return f"iolog_session={self.tokens.session}"

    # generations
    def generation(self, account: str = DEMO, **overrides) -> dict:
        gid = overrides.pop("id", None) or self.new_id()
        body = {
            "id": gid, "account_id": account, "created_at": self.now(), "model": "hostile/model-a",
            "provider": "HostileAI", "user_id": "hostile-user", "api_key_id": "hostile-key",
            "routing": {"region": "global"}, "usage": {"prompt_tokens": 3, "completion_tokens": 4},
            "cost_usd": 0.0012, "latency_ms": 321, "finish_reason": "stop", "streamed": False,
            "prompt": [{"role": "user", "content": f"{self.marker} prompt of {gid}"}],
            "completion": {"role": "assistant", "content": f"{self.marker} completion of {gid}"},
            "reasoning": f"{self.marker} reasoning of {gid}",
        }
        body.update(overrides)
        return body

    def ingest(self, body: bytes, gid: str | None, account: str = DEMO, *, token: str | None = None,
               description: str | None = None, **send) -> Result:
        """POST one generation; when it is stored, read it back through the API and the Logs page."""
        result = self.send("POST", "/v1/generations", token=token or self.tokens.gateway, body=body,
                           description=description, **send)
        if result.answer.status == 201 and gid:
            self.stored.append((account, gid))
            self.read_back(result, account, gid)
        return result

    def read_back(self, result: Result, account: str, gid: str) -> dict | None:
        token = self.tokens.admin if account == DEMO else self.tokens.other_admin
        path = f"/v1/accounts/{account}/generations/{urllib.parse.quote(gid, safe='')}"
        detail = self.send("GET", path, token=token)
        if detail.answer.status != 200:
            result.problems.append(f"stored, but GET {path} answered {detail.answer.outcome}: {detail.answer.text()}")
            return None
        if account == DEMO:
            page = self.send("GET", f"/accounts/{account}/logs/{urllib.parse.quote(gid, safe='')}",
                             cookie=self.session_cookie())
            if page.answer.status != 200:
                result.problems.append(f"stored, but its Logs page answered {page.answer.outcome}")
        try:
            return json.loads(detail.answer.body)
        except ValueError:
            result.problems.append(f"GET {path} answered 200 with a body that is not JSON")
            return None


CASES: list[Case] = []


def case(name: str, group: str, expect: tuple[str, ...] | str, why: str = ""):
    def register(function: Callable[[Context], Result]):
        CASES.append(Case(name, group, (expect,) if isinstance(expect, str) else tuple(expect), function, why))
        return function
    return register


def add(name: str, group: str, expect, function: Callable[[Context], Result], why: str = "") -> None:
    CASES.append(Case(name, group, (expect,) if isinstance(expect, str) else tuple(expect), function, why))


# Body building: a generation as JSON text with one slot replaced by raw bytes.

SLOT = "@@HOSTILE-SLOT@@"


def set_path(body: dict, path: str, value) -> None:
    keys = path.split(".")
    target = body
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def with_raw(body: dict, path: str, raw: bytes) -> bytes:
    set_path(body, path, SLOT)
    text = json.dumps(body, ensure_ascii=False).encode()
    assert text.count(b'"' + SLOT.encode() + b'"') == 1
    return text.replace(b'"' + SLOT.encode() + b'"', raw)


CONTENT_FIELDS = ["prompt", "completion", "reasoning"]
META_FIELDS = ["model", "provider", "finish_reason"]  # strings, 1-256 characters, no pattern
ID_FIELDS = ["id", "account_id", "user_id", "api_key_id", "session_id"]  # Identifier: ^[A-Za-z0-9._:-]{1,128}$
FORMAT_FIELDS = ["created_at", "routing.region"]  # a date-time; a lowercase region word
STRING_FIELDS = ID_FIELDS + META_FIELDS + FORMAT_FIELDS + CONTENT_FIELDS


def gid_of(body: dict, path: str) -> str | None:
    """The id the generation is stored under when it is, or None when the id itself is attacked."""
    return None if path == "id" else body["id"]


def string_in_field(ctx: Context, path: str, raw_inside: bytes) -> tuple[bytes, dict]:
    """A generation whose field `path` is a JSON string holding `raw_inside` (raw JSON text)."""
    body = ctx.generation()
    if path in CONTENT_FIELDS:
        raw = b'"' + ctx.marker.encode() + b" " + raw_inside + b'"'
    elif path == "created_at":
        raw = b'"' + body["created_at"].encode() + raw_inside + b'"'
    else:
        raw = b'"hostile' + raw_inside + b'x"'
    return with_raw(body, path, raw), body


# ---------------------------------------------------------------------------------------------
# 1. JSON nesting, size and value count


def _depth_case(name: str, make: Callable[[Context], tuple[bytes, str | None, str]], expect) -> None:
    def run(ctx: Context) -> Result:
        body, gid, description = make(ctx)
        return ctx.ingest(body, gid, description=description)
    add(name, "json-depth", expect, run)


def _nested_body(ctx: Context, prompt_raw: bytes, what: str) -> tuple[bytes, str, str]:
    body = ctx.generation()
    return with_raw(body, "prompt", prompt_raw), body["id"], f"a generation whose prompt is {what}"


_depth_case("array nested 1,000,000 deep as the whole body", lambda ctx: (b"[" * 1_000_000 + b"]" * 1_000_000, None,
            "b'[' * 1_000_000 + b']' * 1_000_000"), "400")
_depth_case("array opened 1,000,000 times, never closed", lambda ctx: (b"[" * 1_000_000, None, "b'[' * 1_000_000"), "400")
_depth_case("object nested 1,000,000 deep as the whole body",
            lambda ctx: (b'{"a":' * 1_000_000 + b"1" + b"}" * 1_000_000, None,
                         "b'{\"a\":' * 1_000_000 + b'1' + b'}' * 1_000_000 (6 MB, over the limit)"), "413")
_depth_case("object nested 600,000 deep as the whole body",
            lambda ctx: (b'{"a":' * 600_000 + b"1" + b"}" * 600_000, None, "b'{\"a\":' * 600_000 + b'1' + b'}' * 600_000"),
            "400")
_depth_case("prompt nested 1,000,000 deep", lambda ctx: _nested_body(ctx, b"[" * 1_000_000 + b"]" * 1_000_000,
                                                                      "[[[…]]] 1,000,000 deep"), "400")
_depth_case("prompt nested 100 deep (the limit)", lambda ctx: _nested_body(ctx, b"[" * 100 + b"]" * 100, "100 deep"), "201")
_depth_case("prompt nested 101 deep", lambda ctx: _nested_body(ctx, b"[" * 101 + b"]" * 101, "101 deep"), "400")
_depth_case("reasoning nested 101 deep", lambda ctx: (
    with_raw(ctx.generation(id="rsn-" + ctx.new_id()), "reasoning", b"{\"r\":" * 101 + b"1" + b"}" * 101), None,
    "reasoning {\"r\": …} 101 deep"), "400")


def _unknown_field_depth(depth: int):
    def make(ctx: Context):
        body = ctx.generation()
        raw = with_raw(body, "extra", b"[" * (depth - 1) + b"]" * (depth - 1))
        return raw, body["id"], f"an unknown field nesting the body to {depth} levels"
    return make


_depth_case("body nested 128 deep (the limit)", _unknown_field_depth(128), "201")
_depth_case("body nested 129 deep", _unknown_field_depth(129), "400")
_depth_case("prompt of 1,000,001 values", lambda ctx: _nested_body(ctx, b"[" + b"0," * 1_000_000 + b"0]",
                                                                   "[0,0,…] 1,000,001 values"), "400")
_depth_case("prompt of 999,000 values", lambda ctx: _nested_body(ctx, b"[" + b"1," * 998_999 + b"1]",
                                                                 "[1,1,…] 999,000 values"), "201")
_depth_case("prompt object of 200,000 keys", lambda ctx: _nested_body(
    ctx, b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(200_000)) + b"}", '{"k0":0,…} 200,000 keys'), "201")
_depth_case("prompt of 100,000 keys sharing long prefixes", lambda ctx: _nested_body(
    ctx, b"{" + b",".join(b'"%s":0' % (b"a" * (i % 50) + str(i).encode()) for i in range(100_000)) + b"}",
    '{"0":0,"a1":0,"aa2":0,…} 100,000 keys'), "201")
_depth_case("prompt of 3.9 MB of text", lambda ctx: _nested_body(
    ctx, b'"' + ctx.marker.encode() + b"x" * (3_900_000) + b'"', '"x" * 3,900,000'), "201")
_depth_case("prompt of 600,000 \\u escapes", lambda ctx: _nested_body(
    ctx, b'"' + ctx.marker.encode() + b"\\u0041" * 600_000 + b'"', '"\\\\u0041" * 600,000'), "201")
_depth_case("prompt of 1,000,000 empty objects", lambda ctx: _nested_body(
    ctx, b"[" + b"{}," * 999_000 + b"{}]", "[{},{},…] 999,001 values"), "201")
_depth_case("body over the limit by one byte", lambda ctx: (
    (lambda body: body[:-1] + b" " * (MAX_BODY_BYTES + 1 - len(body)) + b"}")(
        json.dumps(ctx.generation()).encode()), None, f"a valid generation padded with spaces to {MAX_BODY_BYTES + 1} bytes"),
    "413")


def _exactly_limit(ctx: Context):
    body = ctx.generation()
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (MAX_BODY_BYTES - len(text)) + b"}", body["id"], \
        f"a valid generation padded with spaces to exactly {MAX_BODY_BYTES} bytes"


_depth_case("body of exactly the limit", _exactly_limit, "201")


# ---------------------------------------------------------------------------------------------
# 2. Numbers: huge, exact and malformed

VALID_NUMBERS = ["1e999999", "-1e999999", "1E400", "1e-400", "-0", "-0.0", "0e0", "123456789012345678901234567890",
                 "-123456789012345678901234567890.123456789e-5", "9007199254740993", "18446744073709551616",
                 "0.1000000000000000055511151231257827"]
INVALID_NUMBERS = ["01", "-01", "00", "1.e5", "1.", ".5", "NaN", "-NaN", "Infinity", "-Infinity", "+1", "1e", "1e+",
                   "0x1F", "1_000", "-", "--1", "1.5.5", "1e5e5", "\u0661", "\uff11"]
NUMBER_FIELDS = ["cost_usd", "latency_ms", "usage.prompt_tokens", "usage.completion_tokens"]


def _number_in_prompt(literal: str):
    def run(ctx: Context) -> Result:
        body = ctx.generation()
        raw = with_raw(body, "prompt", b'{"text": "' + ctx.marker.encode() + b'", "n": ' + literal.encode()
                       + b', "list": [' + literal.encode() + b"]}")
        result = ctx.ingest(raw, body["id"])
        if result.answer.status == 201:
            detail = ctx.send("GET", f"/v1/accounts/{DEMO}/generations/{body['id']}", token=ctx.tokens.admin)
            if b'"n":' + literal.encode() not in detail.answer.body.replace(b" ", b""):
                result.problems.append(f"the prompt's number {literal} did not come back as sent: "
                                       f"{detail.answer.body[:400]!r}")
        return result
    return run


def _number_in_field(path: str, literal: str):
    def run(ctx: Context) -> Result:
        body = ctx.generation()
        result = ctx.ingest(with_raw(body, path, literal.encode()), body["id"])
        if result.answer.status in (200, 201):
            detail = ctx.send("GET", f"/v1/accounts/{DEMO}/generations/{body['id']}", token=ctx.tokens.admin)
            try:
                value = json.loads(detail.answer.body, parse_float=str, parse_int=str)
                for key in path.split("."):
                    value = value[key]
                if path == "cost_usd":  # a double: the same double is the same value
                    same = value is not None and float(value) == float(literal)
                else:  # an integer: exactly
                    same = value is not None and decimal.Decimal(value) == decimal.Decimal(literal)
            except (ValueError, KeyError, TypeError, decimal.InvalidOperation):
                value, same = "(unreadable)", False
            result.notes.append(f"{path} = {literal} accepted, read back as {value}")
            if not same:
                result.problems.append(f"{path} = {literal} was accepted but reads back as {value}")
        return result
    return run


def _number_expectation(path: str, literal: str) -> tuple[str, ...]:
    """What the schema allows: cost_usd a number >= 0, the others integers >= 0. A value the field
    cannot hold (beyond Int64 or Double) may be refused; a value outside the schema must be."""
    value = decimal.Decimal(literal)
    if value < 0:
        return ("400",)
    if path != "cost_usd" and value != value.to_integral_value():
        return ("400",)  # not an integer
    return ("201", "400")


for _literal in VALID_NUMBERS:
    add(f"number {_literal} in prompt", "numbers", "201", _number_in_prompt(_literal),
        "valid JSON: stored, and read back as the same literal")
    for _path in NUMBER_FIELDS:
        add(f"number {_literal} in {_path}", "numbers", _number_expectation(_path, _literal),
            _number_in_field(_path, _literal), "valid JSON: refused when the schema does not allow it, "
            "and when stored, read back as the same value")
for _literal in INVALID_NUMBERS:
    add(f"malformed number {_literal!r} in prompt", "numbers", "400",
        (lambda literal: lambda ctx: (lambda body: ctx.ingest(with_raw(body, "prompt", literal.encode()), body["id"]))(
            ctx.generation()))(_literal))
    add(f"malformed number {_literal!r} in cost_usd", "numbers", "400",
        (lambda literal: lambda ctx: (lambda body: ctx.ingest(with_raw(body, "cost_usd", literal.encode()), body["id"]))(
            ctx.generation()))(_literal))


# ---------------------------------------------------------------------------------------------
# 3. Text encodings: invalid UTF-8, overlong forms, surrogates, UTF-16, BOMs

INVALID_UTF8 = {
    "overlong slash C0 AF": b"\xc0\xaf",
    "overlong slash E0 80 AF": b"\xe0\x80\xaf",
    "overlong NUL C0 80": b"\xc0\x80",
    "overlong F0 80 80 AF": b"\xf0\x80\x80\xaf",
    "CESU lone surrogate ED A0 80": b"\xed\xa0\x80",
    "CESU surrogate pair ED A0 BD ED B8 80": b"\xed\xa0\xbd\xed\xb8\x80",
    "lone continuation 80": b"\x80",
    "FF byte": b"\xff",
    "five-byte F8 88 80 80 80": b"\xf8\x88\x80\x80\x80",
    "above U+10FFFF F4 90 80 80": b"\xf4\x90\x80\x80",
    "truncated E2 82": b"\xe2\x82",
    "Latin-1 e-acute E9": b"\xe9",
}
SURROGATE_ESCAPES = {
    "lone high \\ud800": (b"\\ud800", "400"),
    "lone low \\udc00": (b"\\udc00", "400"),
    "high then letter \\ud800\\u0041": (b"\\ud800\\u0041", "400"),
    "two highs \\ud800\\ud800": (b"\\ud800\\ud800", "400"),
    "reversed pair \\ude00\\ud83d": (b"\\ude00\\ud83d", "400"),
    "high at end of string \\udbff": (b"\\udbff", "400"),
    "valid pair \\ud83d\\ude00": (b"\\ud83d\\ude00", "201"),
    "uppercase valid pair \\uD83D\\uDE00": (b"\\uD83D\\uDE00", "201"),
    "bad escape \\x41": (b"\\x41", "400"),
    "short escape \\u12": (b"\\u12", "400"),
    "escaped NUL \\u0000": (b"\\u0000", "201"),
}

for _label, _bytes in INVALID_UTF8.items():
    for _path in ["prompt", "model", "id"]:
        add(f"invalid UTF-8 ({_label}) in {_path}", "encodings", "400",
            (lambda path, raw: lambda ctx: (lambda made: ctx.ingest(made[0], gid_of(made[1], path)))(
                string_in_field(ctx, path, raw)))(_path, _bytes))
    add(f"invalid UTF-8 ({_label}) in a key", "encodings", "400",
        (lambda raw: lambda ctx: (lambda body: ctx.ingest(
            json.dumps(body).encode()[:-1] + b', "k' + raw + b'": 1}', body["id"]))(ctx.generation()))(_bytes))
for _label, (_escape, _expected) in SURROGATE_ESCAPES.items():
    for _path in ["prompt", "completion", "reasoning"]:
        add(f"escape {_label} in {_path}", "encodings", _expected,
            (lambda path, raw: lambda ctx: (lambda made: ctx.ingest(made[0], made[1]["id"]))(
                string_in_field(ctx, path, raw)))(_path, _escape))
    add(f"escape {_label} in a prompt key", "encodings", _expected,
        (lambda raw: lambda ctx: (lambda body: ctx.ingest(
            with_raw(body, "prompt", b'{"k' + raw + b'": "' + ctx.marker.encode() + b'"}'), body["id"]))(
            ctx.generation()))(_escape))


def _recoded(codec: str, bom: bytes, charset: str | None = None):
    def run(ctx: Context) -> Result:
        body = ctx.generation()
        raw = bom + json.dumps(body, ensure_ascii=False).encode(codec)
        content_type = "application/json" + (f"; charset={charset}" if charset else "")
        return ctx.ingest(raw, body["id"], content_type=content_type,
                          description=f"a valid generation encoded as {codec}{' with BOM ' + bom.hex() if bom else ''}")
    return run


add("UTF-16LE body with BOM", "encodings", "4xx", _recoded("utf-16-le", b"\xff\xfe"))
add("UTF-16LE body without BOM", "encodings", "4xx", _recoded("utf-16-le", b""))
add("UTF-16BE body with BOM", "encodings", "4xx", _recoded("utf-16-be", b"\xfe\xff"))
add("UTF-16BE body without BOM", "encodings", "4xx", _recoded("utf-16-be", b""))
add("UTF-16LE body with BOM, charset=utf-16", "encodings", "4xx", _recoded("utf-16-le", b"\xff\xfe", "utf-16"))
add("UTF-32LE body with BOM", "encodings", "4xx", _recoded("utf-32-le", b"\xff\xfe\x00\x00"))
add("UTF-8 body with BOM", "encodings", ("201", "400"), _recoded("utf-8", b"\xef\xbb\xbf"),
    "RFC 8259 lets a parser ignore a BOM or refuse it")
add("UTF-8 body labelled charset=iso-8859-1", "encodings", ("201", "400", "415"), _recoded("utf-8", b"", "iso-8859-1"))


# ---------------------------------------------------------------------------------------------
# 4. NUL bytes and control characters in every string field of an ingest body


def _nul_expectation(path: str, escaped: bool) -> tuple[str, ...]:
    if not escaped:
        return ("400",)  # a raw control character inside a JSON string is invalid JSON
    if path in CONTENT_FIELDS:
        return ("201",)  # any JSON value; \u0000 is a valid character in one
    if path in META_FIELDS:
        return ("201", "400")  # the spec sets no pattern; what the server does is reported
    return ("400",)  # identifiers, created_at and region have patterns


for _path in STRING_FIELDS:
    for _label, _raw, _escaped in [("escaped NUL \\u0000", b"\\u0000", True), ("raw NUL byte", b"\x00", False),
                                   ("raw 0x01", b"\x01", False), ("raw line feed", b"\n", False),
                                   ("raw 0x1F", b"\x1f", False), ("escaped ESC \\u001b", b"\\u001b", True)]:
        _expected = _nul_expectation(_path, _escaped)

        def _run(ctx: Context, path=_path, raw=_raw) -> Result:
            made, body = string_in_field(ctx, path, raw)
            result = ctx.ingest(made, gid_of(body, path))
            if result.answer.status == 201 and path in CONTENT_FIELDS:
                detail = ctx.send("GET", f"/v1/accounts/{DEMO}/generations/{body['id']}", token=ctx.tokens.admin)
                try:
                    value = json.loads(detail.answer.body)[path]
                    sent = json.loads(b'"' + ctx.marker.encode() + b" " + raw + b'"')
                    if value != sent:
                        result.problems.append(f"{path} came back as {value!r}, sent {sent!r}")
                except (ValueError, KeyError) as error:
                    result.problems.append(f"reading {path} back failed: {error}")
            return result
        add(f"{_label} in {_path}", "nul-and-control", _expected, _run)


PROBE_CHARACTERS = {
    "NUL \\u0000": "\u0000", "SOH \\u0001": "\u0001", "BEL \\u0007": "\u0007", "backspace \\u0008": "\b",
    "tab \\t": "\t", "line feed \\n": "\n", "carriage return \\r": "\r", "ESC \\u001b": "\u001b", "DEL \\u007f": "\u007f",
    "NEL \\u0085": "\u0085", "zero width space \\u200b": "\u200b", "RTL override \\u202e": "\u202e",
    "line separator \\u2028": "\u2028", "BOM \\ufeff": "\ufeff", "LRI isolate \\u2066": "\u2066",
    "RLM mark \\u200f": "\u200f", "soft hyphen \\u00ad": "\u00ad", "HTML <b>": "<b>",
}


def _probe(path: str, label: str, character: str):
    def run(ctx: Context) -> Result:
        value = f"probe{character}end"
        body = ctx.generation()
        set_path(body, path, value)
        result = ctx.ingest(json.dumps(body).encode(), body["id"])
        row = {"field": path, "character": label, "ingest": result.answer.outcome, "stored": "-", "api": "-", "page": "-",
               "list_filter": "-"}
        if result.answer.status == 201:
            detail = ctx.send("GET", f"/v1/accounts/{DEMO}/generations/{body['id']}", token=ctx.tokens.admin)
            try:
                got = json.loads(detail.answer.body).get(path)
                row["stored"] = "as sent" if got == value else f"changed to {got!r}"
                start = detail.answer.body.find(b"probe")
                row["api"] = detail.answer.body[start:detail.answer.body.find(b"end", start) + 3].decode("utf-8", "replace") \
                    if start >= 0 else "(absent)"
            except ValueError:
                row["stored"] = "detail not JSON"
            page = ctx.send("GET", f"/accounts/{DEMO}/logs/{body['id']}", cookie=ctx.session_cookie())
            spots = [m.start() for m in re.finditer(rb"probe", page.answer.body)]
            row["page"] = ", ".join(repr(page.answer.body[s:page.answer.body.find(b"end", s) + 3].decode("utf-8", "replace"))
                                    for s in spots[:2]) or "(not shown)"
            if path in ("model", "provider"):
                listing = ctx.send("GET", f"/v1/accounts/{DEMO}/generations?{path}={urllib.parse.quote(value, safe='')}",
                                   token=ctx.tokens.admin)
                try:
                    ids = [item["id"] for item in json.loads(listing.answer.body)["data"]]
                    row["list_filter"] = "finds it" if body["id"] in ids else "does not find it"
                except (ValueError, KeyError):
                    row["list_filter"] = listing.answer.outcome
        else:
            row["stored"] = "no"
            row["api"] = result.answer.text(160)
        ctx.probes.append(row)
        return result
    return run


for _path in ["model", "provider", "user_id", "finish_reason"]:
    for _label, _character in PROBE_CHARACTERS.items():
        _expected = ("400",) if _path == "user_id" else ("201", "400")
        add(f"probe {_label} in {_path}", "metadata-probe", _expected, _probe(_path, _label, _character),
            "reported: what control characters in metadata do")


# ---------------------------------------------------------------------------------------------
# 5. Duplicate keys


def _duplicate(inject: Callable[[Context, dict], bytes], expect="400"):
    return lambda ctx: (lambda body: ctx.ingest(inject(ctx, body), body["id"]))(ctx.generation())


add("duplicate key id, same value", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: json.dumps(b).encode()[:-1] + b', "id": ' + json.dumps(b["id"]).encode() + b"}"))
add("duplicate key id, other value", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: json.dumps(b).encode()[:-1] + b', "id": "other-id"}'))
add("duplicate key account_id (demo-org, then hostile-other)", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: json.dumps(b).encode()[:-1] + b', "account_id": "' + OTHER.encode() + b'"}'))
add("duplicate key routing.region (global, then eu)", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: with_raw(b, "routing", b'{"region": "global", "region": "eu"}')))
add("duplicate key inside the prompt", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: with_raw(b, "prompt", b'{"a": "' + ctx.marker.encode() + b'", "a": 2}')))
add("duplicate key deep inside the completion", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: with_raw(b, "completion", b'[[{"x": {"y": 1, "z": 2, "y": 3}}]]')))
add("duplicate key spelled with an escape (id and \\u0069d)", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: json.dumps(b).encode()[:-1] + b', "\\u0069d": "x-1"}'))
add("duplicate key in two Unicode normalizations (\\u00e9 and e\\u0301)", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: with_raw(b, "prompt", b'{"\\u00e9": 1, "e\\u0301": 2}')))
add("keys differing only in case (model, Model)", "duplicate-keys", "201",
    _duplicate(lambda ctx, b: json.dumps(b).encode()[:-1] + b', "Model": "other"}'),
    "not duplicates: the unknown field is ignored")
add("duplicate key usage.prompt_tokens", "duplicate-keys", "400",
    _duplicate(lambda ctx, b: with_raw(b, "usage", b'{"prompt_tokens": 1, "prompt_tokens": 2}')))


def _duplicate_other(method: str, path: str, token_name: str, body: bytes):
    return lambda ctx: ctx.send(method, path, token=getattr(ctx.tokens, token_name), body=body)


add("duplicate key generations in a batch", "duplicate-keys", "400",
    lambda ctx: ctx.send("POST", "/v1/generations/batch", token=ctx.tokens.gateway,
                         body=b'{"generations": [], "generations": [' + json.dumps(ctx.generation()).encode() + b"]}"))
add("duplicate key enabled in the logging toggle", "duplicate-keys", "400",
    _duplicate_other("PUT", f"/v1/accounts/{TOGGLE}/settings/io-logging", "admin", b'{"enabled": true, "enabled": false}'))
add("duplicate key kind in an account", "duplicate-keys", "400",
    _duplicate_other("PUT", f"/v1/accounts/{TOGGLE}", "platform", b'{"kind": "personal", "kind": "organization"}'))
add("duplicate key role in a membership", "duplicate-keys", "400",
    _duplicate_other("PUT", f"/v1/accounts/{TOGGLE}/members/hostile-dup", "platform", b'{"role": "member", "role": "admin"}'))
add("duplicate key ticket in a deletion request", "duplicate-keys", "400",
    _duplicate_other("POST", f"/v1/accounts/{DEMO}/deletion-requests", "admin",
                     b'{"ticket": "a", "ticket": "b", "generation_ids": ["hostile-none"]}'))


# ---------------------------------------------------------------------------------------------
# 6. Content codings and compression bombs


def _coded(coding: str, payload: Callable[[Context, dict], bytes], description: str):
    def run(ctx: Context) -> Result:
        body = ctx.generation()
        result = ctx.ingest(payload(ctx, body), body["id"], headers=[("Content-Encoding", coding)], description=description)
        if result.answer.status == 201:
            result.notes.append(f"Content-Encoding {coding} ignored: the body was read as it came")
        return result
    return run


add("gzip bomb: 10 MB of zeros, Content-Encoding gzip", "compression", "4xx",
    _coded("gzip", lambda ctx, b: gzip.compress(b"\0" * 10_000_000, 9), "gzip.compress(b'\\0' * 10_000_000)"))
add("gzip bomb: a generation padded to 10 MB, Content-Encoding gzip", "compression", "4xx",
    _coded("gzip", lambda ctx, b: gzip.compress(json.dumps(b).encode()[:-1] + b" " * 10_000_000 + b"}", 9),
           "gzip of a valid generation with 10,000,000 spaces before its last brace"))
add("gzip of a valid generation, Content-Encoding gzip", "compression", ("201", "4xx"),
    _coded("gzip", lambda ctx, b: gzip.compress(json.dumps(b).encode()), "gzip of a valid generation"),
    "stored when the server decodes gzip, else refused; never read as plain JSON")
add("plain JSON labelled Content-Encoding gzip", "compression", ("201", "4xx"),
    _coded("gzip", lambda ctx, b: json.dumps(b).encode(), "a valid generation, not compressed"),
    "RFC 9110 lets a server answer 415 for a coding it does not apply (MAY): noted when it reads the body as is")
add("plain JSON labelled Content-Encoding br", "compression", ("201", "4xx"),
    _coded("br", lambda ctx, b: json.dumps(b).encode(), "a valid generation, not compressed"))
add("plain JSON labelled Content-Encoding identity", "compression", ("201", "4xx"),
    _coded("identity", lambda ctx, b: json.dumps(b).encode(), "a valid generation"))
add("gzip, gzip double coding of zeros", "compression", "4xx",
    _coded("gzip, gzip", lambda ctx, b: gzip.compress(gzip.compress(b"\0" * 10_000_000)), "gzip(gzip(10 MB zeros))"))


# ---------------------------------------------------------------------------------------------
# 7. Large bodies, framing and Content-Length games

HUNDRED_MB = 100_000_000


def _big(path: str, token_name: str | None, framing: str, content_type: str):
    def run(ctx: Context) -> Result:
        token = getattr(ctx.tokens, token_name) if token_name else None
        block = b'{"k": "' + b"x" * 65520 + b'"},'
        if framing == "length":
            return ctx.send("POST" if "deletion" in path or "generations" in path or path == "/login" else "PUT", path,
                            token=token, body_iter=rawhttp.repeat(block, HUNDRED_MB), content_type=content_type,
                            headers=[("Content-Length", str(HUNDRED_MB))], description="100,000,000 bytes, streamed",
                            timeout=120)
        return ctx.send("POST" if "deletion" in path or "generations" in path or path == "/login" else "PUT", path,
                        token=token, body_iter=rawhttp.chunked(rawhttp.repeat(block, HUNDRED_MB)), content_type=content_type,
                        headers=[("Transfer-Encoding", "chunked")], description="100,000,000 bytes chunked, streamed",
                        timeout=120)
    return run


for _path, _token, _type in [("/v1/generations", "gateway", "application/json"),
                             ("/v1/generations/batch", "gateway", "application/json"),
                             (f"/v1/accounts/{TOGGLE}", "platform", "application/json"),
                             (f"/v1/accounts/{TOGGLE}/settings/io-logging", "admin", "application/json"),
                             (f"/v1/accounts/{DEMO}/deletion-requests", "admin", "application/json"),
                             ("/login", None, "application/x-www-form-urlencoded")]:
    add(f"100 MB body with Content-Length to {_path}", "large-bodies", "413", _big(_path, _token, "length", _type))
    add(f"100 MB chunked body to {_path}", "large-bodies", "413", _big(_path, _token, "chunked", _type))
add("100 MB body with Content-Length, no token", "large-bodies", ("401", "413", "429"),
    _big("/v1/generations", None, "length", "application/json"))
add("100 MB body with Content-Length, Content-Type text/plain", "large-bodies", ("413", "415"),
    _big("/v1/generations", "gateway", "length", "text/plain"))


def _chunked_over(ctx: Context, size: int, chunk: int) -> Result:
    block = b" " * chunk
    return ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway,
                    body_iter=rawhttp.chunked(rawhttp.repeat(block, size), chunk),
                    headers=[("Transfer-Encoding", "chunked")], description=f"{size} bytes in chunks of {chunk}")


add("chunked body one byte over the limit, 1 KiB chunks", "large-bodies", "413",
    lambda ctx: _chunked_over(ctx, MAX_BODY_BYTES + 1, 1024))
add("chunked body over the limit, one huge chunk", "large-bodies", "413",
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway,
                         body_iter=iter([b"%x\r\n" % (MAX_BODY_BYTES * 4)] + list(rawhttp.repeat(b" " * 65536, MAX_BODY_BYTES * 4))),
                         headers=[("Transfer-Encoding", "chunked")], description="one chunk of 16 MiB declared and sent"))
add("chunk size beyond 64 bits", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"fffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
                         length=False, headers=[("Transfer-Encoding", "chunked")]))
add("chunk size not hex", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"zz\r\nx\r\n0\r\n\r\n",
                         length=False, headers=[("Transfer-Encoding", "chunked")]))
add("chunked body of a valid generation in 1-byte chunks", "large-bodies", "201",
    lambda ctx: (lambda body: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway,
                                       body_iter=rawhttp.chunked([json.dumps(body).encode()], 1),
                                       headers=[("Transfer-Encoding", "chunked")],
                                       description="a valid generation in 1-byte chunks"))(ctx.generation()))
@case("chunked upload abandoned by its client mid-body", "large-bodies", "closed",
      "nobody is there to answer; the server must not log it as an unhandled error or count a 500")
def _abandoned(ctx: Context) -> Result:
    request_id = ctx.new_id("hostile-abandoned")
    sock = socket.create_connection((HOST, ctx.server.port), timeout=10)
    head = rawhttp.build_head("POST", "/v1/generations", [
        ("Host", "x"), ("Authorization", "Bearer " + ctx.tokens.gateway), ("Content-Type", "application/json"),
        ("X-Request-Id", request_id), ("Transfer-Encoding", "chunked")])
    sock.sendall(head + b"10\r\n{\"id\": \"abandon")
    time.sleep(0.3)
    sock.close()
    time.sleep(1.0)
    result = Result(rawhttp.Answer(error="the client closed the connection itself"),
                    Request("POST", "/v1/generations", [("X-Request-Id", request_id), ("Transfer-Encoding", "chunked")],
                            "b'10\\r\\n{\"id\": \"abandon' then the client closes"), request_id=request_id)
    lines = [line for line in open(ctx.server.stderr_path, encoding="utf-8", errors="replace") if request_id in line]
    bad = [line.strip() for line in lines if "unhandled error" in line or re.search(r"status=5\d\d", line)]
    if bad:
        result.problems.append("logged as " + " / ".join(line.split(" iolog: ", 1)[-1][:160] for line in bad))
    return result


add("Content-Length larger than the limit, tiny body", "large-bodies", "413",
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"{}", length=False,
                         headers=[("Content-Length", str(MAX_BODY_BYTES + 1))], timeout=20))
add("Content-Length 2^64", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"{}", length=False,
                         headers=[("Content-Length", "18446744073709551616")], timeout=20))
add("Content-Length negative", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"{}", length=False,
                         headers=[("Content-Length", "-1")], timeout=20))
add("Content-Length not a number", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"{}", length=False,
                         headers=[("Content-Length", "2x")], timeout=20))
add("two different Content-Length headers", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"{}", length=False,
                         headers=[("Content-Length", "2"), ("Content-Length", "3")], timeout=20))
add("Content-Length and Transfer-Encoding chunked together", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway,
                         body=b"0\r\n\r\nGET /v1/accounts/demo-org/settings HTTP/1.1\r\nHost: x\r\n\r\n", length=False,
                         headers=[("Content-Length", "62"), ("Transfer-Encoding", "chunked")], timeout=20),
    "request smuggling shape: refuse it")
add("Transfer-Encoding gzip, chunked", "large-bodies", ("4xx", "501", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway,
                         body_iter=rawhttp.chunked([gzip.compress(b"\0" * 1_000_000)]),
                         headers=[("Transfer-Encoding", "gzip, chunked")], timeout=20),
    "an unknown transfer coding: 501 is what RFC 9112 asks for")
add("Expect: 100-continue with a 100 MB Content-Length", "large-bodies", "413",
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=b"", length=False,
                         headers=[("Content-Length", str(HUNDRED_MB)), ("Expect", "100-continue")], timeout=20))
add("body sent with HTTP/1.0 and no length", "large-bodies", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=json.dumps(ctx.generation()).encode(),
                         length=False, version="HTTP/1.0", timeout=20))


# ---------------------------------------------------------------------------------------------
# 8. Header floods and malformed heads


add("10,000 headers", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", headers=[(f"X-Flood-{i}", "v") for i in range(10_000)],
                         description="", timeout=30))
add("10,000 headers on an ingest", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=json.dumps(ctx.generation()).encode(),
                         headers=[(f"X-Flood-{i}", "v") for i in range(10_000)], timeout=30))
add("one header of 1 MB", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", headers=[("X-Big", "a" * (1 << 20))], timeout=30))
add("Authorization of 1 MB", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings", headers=[("Authorization", "Bearer " + "a" * (1 << 20))],
                         timeout=30))
add("request target of 1 MB", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/generations?model=" + "a" * (1 << 20), token=ctx.tokens.admin,
                         timeout=30))
add("request target of 60 KB", "headers", ("200", "4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/generations?model=" + "a" * 60_000, token=ctx.tokens.admin,
                         timeout=30))
add("10,000 cookies on a page", "headers", ("200", "4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs",
                         cookie="; ".join([f"c{i}=v" for i in range(10_000)] + [ctx.session_cookie()]), timeout=30))
add("10,000 session cookies", "headers", ("200", "302", "4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs", cookie="; ".join(["iolog_session=x"] * 10_000), timeout=30))
add("header value with a NUL byte", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", headers=[("X-Nul", "a\x00b")]))
add("header name with a space", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", headers=[("X Bad", "v")]))
add("header line folded (obs-fold)", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", raw=b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n"))
add("bare LF line endings", "headers", ("200", "4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", raw=b"GET /healthz HTTP/1.1\nHost: x\n\n"))
add("no Host header", "headers", ("200", "4xx", "closed"),
    lambda ctx: ctx.send("GET", "/healthz", raw=b"GET /healthz HTTP/1.1\r\n\r\n"))
add("HTTP/2 preface on HTTP/1.1", "headers", ("4xx", "505", "closed"),
    lambda ctx: ctx.send("GET", "/", raw=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
add("HTTP/0.9 request", "headers", ("4xx", "505", "closed"), lambda ctx: ctx.send("GET", "/", raw=b"GET /healthz\r\n\r\n"))
add("HTTP/3.0 version", "headers", ("4xx", "505", "closed"),
    lambda ctx: ctx.send("GET", "/", raw=b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n"))
add("garbage request line", "headers", ("4xx", "closed"), lambda ctx: ctx.send("GET", "/", raw=b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n"))
add("absolute-form target", "headers", ("200", "4xx"),
    lambda ctx: ctx.send("GET", "http://evil.example/healthz"))
add("asterisk target", "headers", ("4xx", "closed"), lambda ctx: ctx.send("OPTIONS", "*"))
add("raw non-ASCII bytes in the path", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", "/", raw=b"GET /v1/accounts/demo-org\xff\xfe/settings HTTP/1.1\r\nHost: x\r\n\r\n"))
add("raw space in the query", "headers", ("4xx", "closed"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/generations?model=' OR 1=1 --", token=ctx.tokens.admin))
for _method in ["TRACE", "OPTIONS", "CONNECT", "PATCH", "FOO", "GET\x00"]:
    add(f"method {_method!r} on /v1/generations", "headers", ("4xx", "501", "closed"),
        (lambda method: lambda ctx: ctx.send(method, "/v1/generations", token=ctx.tokens.gateway))(_method))
add("HEAD /healthz", "headers", ("200", "4xx"), lambda ctx: ctx.send("HEAD", "/healthz"))


def _request_id_injection(value: str):
    def run(ctx: Context) -> Result:
        result = ctx.send("GET", "/healthz", headers=[("X-Request-Id", value)], request_id=False)
        echoed = result.answer.header("x-request-id") or ""
        # ctx.send put its own id first; the server must not echo the hostile one.
        if value in echoed:
            result.problems.append(f"X-Request-Id {value!r} echoed back")
        ctx.log_needles.append(value)
        return result
    return run


for _value in ["hostile\x1b[31mRED", "hostile fake=field level=critical", "hostile\x7fdel", "hostile-" + "a" * 200,
               "hostile-é-unicode", "hostile\"quote"]:
    add(f"X-Request-Id {_value[:30]!r}", "headers", ("200", "400"), _request_id_injection(_value),
        "replaced by the server's own id: never echoed, never logged")


# ---------------------------------------------------------------------------------------------
# 9. Path traversal in every path parameter of every route (the routes come from docs/openapi.yaml)

TRAVERSALS = ["..%2f..%2f..%2fetc%2fpasswd", "..%2F", "%2e%2e", "%2e%2e%2f%2e%2e%2f", "%2E%2E%5C", "..", ".", "..%00",
              "%00", "{valid}%00", "{valid}%00.json", "%252e%252e%252f", "%25%32%65%25%32%65", "%c0%ae%c0%ae%c0%af",
              "..;", "{valid}%2f..%2f{valid}", "{valid}%2fsettings", "%2f", "%", "%zz", "%e9", "%ff%fe", "{valid}%20",
              "{valid}%09", "{valid}%0d%0aX-Injected:%201", "{valid}%3f", "{valid}%23", "%u002e%u002e"]
VALID_PARAMETERS = {"account": DEMO, "id": "demo-0001", "user": "hostile-traversal-user", "token": "ing-0000000000000000"}


def spec_routes(spec_path: str) -> list[tuple[str, str, dict]]:
    import yaml
    spec = yaml.safe_load(open(spec_path))
    routes = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch") and "{" in path:
                routes.append((method.upper(), path, operation))
    return routes


def _token_for(ctx: Context, operation: dict) -> tuple[str | None, str | None]:
    schemes = [name for requirement in operation.get("security", []) for name in requirement]
    if "gatewayToken" in schemes:
        return ctx.tokens.gateway, None
    if "platformToken" in schemes:
        return ctx.tokens.platform, None
    if "userToken" in schemes:
        return ctx.tokens.admin, None
    if "sessionCookie" in schemes:
        return None, ctx.session_cookie()
    return None, None


SAFE_BODIES = {  # harmless bodies for the routes that need one
    ("PUT", "/v1/accounts/{account}"): (b'{"kind": "organization", "name": "hostile traversal"}', "application/json"),
    ("PUT", "/v1/accounts/{account}/members/{user}"): (b'{"role": "member"}', "application/json"),
    ("PUT", "/v1/accounts/{account}/settings/io-logging"): (b'{"enabled": true}', "application/json"),
    ("POST", "/v1/accounts/{account}/deletion-requests"): (b'{"ticket": "hostile traversal", "generation_ids": ["hostile-none"]}',
                                                           "application/json"),
    ("POST", "/accounts/{account}/settings/io-logging"): (b"csrf=x&enabled=true", "application/x-www-form-urlencoded"),
}


def register_traversal(spec_path: str) -> None:
    for method, path, operation in spec_routes(spec_path):
        for parameter in re.findall(r"\{(\w+)\}", path):
            for payload in TRAVERSALS:
                def run(ctx: Context, method=method, path=path, operation=operation, parameter=parameter,
                        payload=payload) -> Result:
                    value = payload.replace("{valid}", VALID_PARAMETERS[parameter])
                    target = path
                    for name, valid in VALID_PARAMETERS.items():
                        target = target.replace("{" + name + "}", value if name == parameter else valid)
                    token, cookie = _token_for(ctx, operation)
                    body, content_type = SAFE_BODIES.get((method, path), (None, None))
                    result = ctx.send(method, target, token=token, cookie=cookie, body=body, content_type=content_type)
                    try:
                        decoded = urllib.parse.unquote(value, errors="strict")
                    except UnicodeDecodeError:
                        decoded = ""
                    if (result.answer.status or 0) // 100 == 2 and not IDENTIFIER.match(decoded):
                        result.problems.append(f"2xx for a {parameter} that decodes to {decoded!r}, not an identifier")
                    if (result.answer.status or 0) // 100 == 2 and IDENTIFIER.match(decoded) and decoded in ("..", "."):
                        result.notes.append(f"accepted {parameter} {decoded!r} (a valid identifier by the pattern)")
                    return result
                # A payload that decodes to a valid identifier ('..' does: dots are allowed) may be taken as one.
                single = payload.replace("{valid}", VALID_PARAMETERS[parameter])
                try:
                    decoded = urllib.parse.unquote(single, errors="strict")
                except UnicodeDecodeError:
                    decoded = ""
                expect = ("2xx", "4xx") if IDENTIFIER.match(decoded) else ("4xx",)
                if method == "GET" and path.startswith("/accounts/") and expect == ("4xx",):
                    expect = ("4xx",)
                add(f"{method} {path}: {parameter} = {payload}", "path-traversal", expect, run)


# ---------------------------------------------------------------------------------------------
# 10. SQL metacharacters in every string field and every query filter

SQL = ["'", '"', ";", "--", "/*", "*/", "%", "_", "\\", "' OR 1=1 --", "\" OR \"\"=\"", "'; DROP TABLE generations; --",
       "%' OR '%'='", "a%", "_%_", "\\%", "' UNION SELECT * FROM data_keys --", "1' AND sleep(5) --", "$1", "?"]


def _sql_in_field(path: str, value: str):
    def run(ctx: Context) -> Result:
        body = ctx.generation()
        if path in CONTENT_FIELDS:
            set_path(body, path, {"text": f"{ctx.marker} {value}", "sql": value})
        else:
            set_path(body, path, value if path != "created_at" else body["created_at"] + value)
        result = ctx.ingest(json.dumps(body).encode(), gid_of(body, path))
        if result.answer.status == 201 and path in CONTENT_FIELDS:
            detail = ctx.send("GET", f"/v1/accounts/{DEMO}/generations/{body['id']}", token=ctx.tokens.admin)
            try:
                if json.loads(detail.answer.body)[path] != body[path]:
                    result.problems.append(f"{path} did not come back as sent")
            except (ValueError, KeyError):
                result.problems.append(f"{path} could not be read back")
        if result.answer.status == 201 and path in ("model", "provider", "user_id", "session_id"):
            ctx.sql_stored.setdefault(path, []).append(value)
        return result
    return run


def _sql_expectation(path: str, value: str) -> tuple[str, ...]:
    if path in CONTENT_FIELDS or path in META_FIELDS:
        return ("201",)
    if path in ID_FIELDS:
        return ("201",) if IDENTIFIER.match(value) else ("400",)
    return ("400",)


for _path in STRING_FIELDS:
    for _value in SQL:
        if _path == "account_id" and IDENTIFIER.match(_value):
            continue  # would be an account of its own
        add(f"SQL {_value!r} in {_path}", "sql", _sql_expectation(_path, _value), _sql_in_field(_path, _value))


def _list_rows(answer: rawhttp.Answer) -> list[dict] | None:
    try:
        return json.loads(answer.body)["data"]
    except (ValueError, KeyError, TypeError):
        return None


def _sql_filter(endpoint: str, name: str, value: str):
    def run(ctx: Context) -> Result:
        parameters = {name: value}
        if endpoint == "list" and name != "limit":
            parameters["limit"] = 200
        query = urllib.parse.urlencode(parameters, quote_via=urllib.parse.quote)
        if endpoint == "list":
            result = ctx.send("GET", f"/v1/accounts/{DEMO}/generations?{query}", token=ctx.tokens.admin)
        elif endpoint == "export":
            result = ctx.send("GET", f"/v1/accounts/{DEMO}/export?{query}", token=ctx.tokens.admin)
        elif endpoint == "audit":
            result = ctx.send("GET", f"/v1/accounts/{DEMO}/audit-events?{query}", token=ctx.tokens.admin)
        elif endpoint == "login":
            result = ctx.send("GET", f"/login?{query}")
        else:
            result = ctx.send("GET", f"/accounts/{DEMO}/logs?{query}", cookie=ctx.session_cookie())
        if result.answer.status != 200:
            return result
        field_name = {"user_id": "user_id"}.get(name, name)
        if endpoint == "list" and name in ("model", "provider", "user_id", "session_id"):
            rows = _list_rows(result.answer) or []
            wrong = [row["id"] for row in rows if row.get(field_name) != value]
            if wrong:
                result.problems.append(f"filter {name}={value!r} returned {len(wrong)} rows with another {name}, "
                                       f"e.g. {wrong[:3]}")
            stored = ctx.sql_stored.get(name, []).count(value)
            if stored and not rows:
                result.problems.append(f"filter {name}={value!r} found nothing, but the corpus stored rows with it")
            if not stored and value in ("%", "_", "' OR 1=1 --", "%' OR '%'='") and rows:
                result.problems.append(f"filter {name}={value!r} matched rows that do not have it")
        if endpoint == "export" and name in ("model", "provider", "user_id", "session_id"):
            for line in result.answer.body.splitlines():
                try:
                    if json.loads(line).get(field_name) != value:
                        result.problems.append(f"export with {name}={value!r} returned a row with another {name}")
                        break
                except ValueError:
                    result.problems.append("export answered a line that is not JSON")
                    break
        if endpoint in ("pages", "login") and len(value) >= 5 and ("<" in value or '"' in value) \
                and value.encode() in result.answer.body:  # markup or a quote that would end an attribute
            result.problems.append(f"the page reflects {value!r} unescaped")
        if endpoint == "pages" and name in ("model", "provider") and value in ("%", "_") and b"demo-0" in result.answer.body:
            result.problems.append(f"Logs page filter {name}={value!r} showed demo rows")
        return result
    return run


@case("Logs page filter with a space sent as '+' (what a browser's GET form sends)", "sql-filters", "200")
def _plus_space(ctx: Context) -> Result:
    body = ctx.generation(model="hostile spaced model")
    stored = ctx.ingest(json.dumps(body).encode(), body["id"])
    if stored.answer.status != 201:
        return stored
    result = ctx.send("GET", f"/accounts/{DEMO}/logs?model=hostile+spaced+model", cookie=ctx.session_cookie())
    if result.answer.status == 200 and body["id"].encode() not in result.answer.body:
        result.problems.append("the page did not find the generation whose model is 'hostile spaced model': "
                               "'+' in the query is not read as a space")
    api = ctx.send("GET", f"/v1/accounts/{DEMO}/generations?model=hostile+spaced+model", token=ctx.tokens.admin)
    found = body["id"].encode() in api.answer.body
    result.notes.append(f"the API {'reads' if found else 'does not read'} '+' in the query as a space")
    return result


def _filter_expectation(endpoint: str, name: str, value: str) -> tuple[str, ...]:
    if name in ("model", "provider"):
        return ("200",)
    if name in ("user_id", "session_id"):
        return ("200",) if IDENTIFIER.match(value) else ("400", "200")
    if endpoint in ("pages", "login"):
        return ("200", "400")  # the page shows the error in place (login: next= falls back to /accounts)
    return ("400",)


XSS = ["<script>alert(1)</script>", "\"><svg onload=alert(1)>", "' autofocus onfocus='alert(1)", "javascript:alert(1)",
       "//evil.example/", "/\\evil.example"]
for _endpoint, _names in [("pages", ["model", "provider", "user_id", "cursor", "before"]), ("login", ["next"])]:
    for _name in _names:
        for _value in XSS:
            add(f"markup {_value!r} in {_endpoint} parameter {_name}", "sql-filters", ("200", "400"),
                _sql_filter(_endpoint, _name, _value), "shown escaped, or refused")
for _endpoint, _names in [("list", ["model", "provider", "user_id", "session_id", "from", "to", "limit", "cursor"]),
                          ("export", ["model", "provider", "user_id", "session_id", "from", "to"]),
                          ("audit", ["limit", "cursor"]),
                          ("login", ["next"]),
                          ("pages", ["model", "provider", "user_id", "session_id", "from", "to", "cursor", "before"])]:
    for _name in _names:
        for _value in SQL:
            add(f"SQL {_value!r} in {_endpoint} filter {_name}", "sql-filters", _filter_expectation(_endpoint, _name, _value),
                _sql_filter(_endpoint, _name, _value))


def _sql_other(method: str, path: str, token_name: str, make: Callable[[str], dict], expect, label: str):
    for value in SQL:
        add(f"SQL {value!r} in {label}", "sql", expect(value) if callable(expect) else expect,
            (lambda value: lambda ctx: ctx.send(method, path, token=getattr(ctx.tokens, token_name),
                                                body=json.dumps(make(value)).encode()))(value))


_sql_other("PUT", f"/v1/accounts/{TOGGLE}", "platform", lambda v: {"kind": "organization", "name": v}, ("200",), "an account name")
_sql_other("PUT", f"/v1/accounts/{TOGGLE}/members/hostile-sql", "platform", lambda v: {"role": v}, ("400",), "a role")
_sql_other("POST", f"/v1/accounts/{DEMO}/deletion-requests", "admin",
           lambda v: {"ticket": v, "generation_ids": ["hostile-none"]}, ("201",), "a deletion ticket")
_sql_other("POST", f"/v1/accounts/{DEMO}/deletion-requests", "admin", lambda v: {"ticket": "t", "generation_ids": [v]},
           lambda v: ("201",) if IDENTIFIER.match(v) else ("400",), "a deletion's generation id")
_sql_other("POST", f"/v1/accounts/{DEMO}/deletion-requests", "admin",
           lambda v: {"ticket": "t", "before": v}, ("400",), "a deletion's before")
for _value in SQL:
    add(f"SQL {_value!r} in the sign-in token", "sql", ("401", "403", "429"),
        (lambda value: lambda ctx: ctx.send("POST", "/login", content_type="application/x-www-form-urlencoded",
                                            body=urllib.parse.urlencode({"token": value, "csrf": value}).encode()))(_value))
    add(f"SQL {_value!r} as the bearer token", "sql", ("401", "429"),
        (lambda value: lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings",
                                            headers=[("Authorization", "Bearer " + value)]))(_value))


# ---------------------------------------------------------------------------------------------
# 11. Cursors: foreign, tampered, truncated, garbage


def _cursor(ctx: Context, account: str, token: str, endpoint: str = "generations") -> str:
    status, page = ctx.server.call("GET", f"/v1/accounts/{account}/{endpoint}?limit=1", token)
    cursor = page.get("next_cursor") if isinstance(page, dict) else None
    if status != 200 or not cursor:
        raise RuntimeError(f"no cursor from {account}/{endpoint}: {status} {page}")
    return cursor


def _flip(cursor: str, index: int) -> str:
    characters = list(cursor)
    characters[index] = "A" if characters[index] != "A" else "B"
    return "".join(characters)


def _b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


CURSOR_ATTACKS: dict[str, Callable[[Context, str], str]] = {
    "from another account": lambda ctx, own: ctx.foreign_cursor,
    "of the audit trail": lambda ctx, own: _cursor(ctx, DEMO, ctx.tokens.admin, "audit-events"),
    "with its first character flipped": lambda ctx, own: _flip(own, 0),
    "with a middle character flipped": lambda ctx, own: _flip(own, len(own) // 2),
    "with its last character flipped": lambda ctx, own: _flip(own, -1),
    "truncated to half": lambda ctx, own: own[: len(own) // 2],
    "truncated by one": lambda ctx, own: own[:-1],
    "with padding added": lambda ctx, own: own + "==",
    "base64 garbage": lambda ctx, own: _b64(bytes(range(256))),
    "not base64": lambda ctx, own: "!!!not-base64!!!",
    "empty": lambda ctx, own: "",
    "of 100 KB": lambda ctx, own: "A" * 100_000,
    "v1 with a time beyond Int64": lambda ctx, own: _b64(b"v1:99999999999999999999999999:demo-0001"),
    "v1 with a negative time": lambda ctx, own: _b64(b"v1:-1:demo-0001"),
    "v1 with Int64.min": lambda ctx, own: _b64(b"v1:-9223372036854775808:demo-0001"),
    "v1 with Int64.max": lambda ctx, own: _b64(b"v1:9223372036854775807:demo-0001"),
    "v1 with SQL in the id": lambda ctx, own: _b64(b"v1:1795621333522581:' OR 1=1 --"),
    "v1 with a NUL in the id": lambda ctx, own: _b64(b"v1:1795621333522581:demo\x00-0001"),
    "v1 with invalid UTF-8": lambda ctx, own: _b64(b"v1:1795621333522581:\xc0\xaf"),
    "v1 with no id": lambda ctx, own: _b64(b"v1:1795621333522581"),
    "v1 with extra colons": lambda ctx, own: _b64(b"v1:1:2:3:4"),
    "v2 version": lambda ctx, own: _b64(b"v2:1795621333522581:demo-0001"),
    "v1 with a float time": lambda ctx, own: _b64(b"v1:1.5e300:demo-0001"),
    "standard base64 alphabet": lambda ctx, own: base64.b64encode(base64.urlsafe_b64decode(own + "=" * (-len(own) % 4))).decode(),
}


def _cursor_case(endpoint: str, label: str, attack: Callable[[Context, str], str]):
    def run(ctx: Context) -> Result:
        if endpoint == "audit-events":
            own = _cursor(ctx, DEMO, ctx.tokens.admin, "audit-events")
        else:
            own = _cursor(ctx, DEMO, ctx.tokens.admin)
        cursor = attack(ctx, own)
        query = urllib.parse.urlencode({"cursor": cursor, "limit": 50})
        if endpoint == "pages":
            result = ctx.send("GET", f"/accounts/{DEMO}/logs?{query}", cookie=ctx.session_cookie())
            if result.answer.status == 200 and ctx.foreign_id.encode() in result.answer.body:
                result.problems.append("the Logs page showed a generation of another account")
            return result
        result = ctx.send("GET", f"/v1/accounts/{DEMO}/{endpoint}?{query}", token=ctx.tokens.admin)
        if result.answer.status == 200:
            rows = _list_rows(result.answer)
            if rows is None:
                result.problems.append("200 without a data list")
            elif any(row.get("account_id") not in (DEMO, None) for row in rows):
                result.problems.append("rows of another account in the answer")
            if label == "from another account":
                result.notes.append(f"a foreign cursor was accepted ({len(rows or [])} rows, all of {DEMO})")
        return result
    return run


for _endpoint in ["generations", "audit-events", "pages"]:
    for _label, _attack in CURSOR_ATTACKS.items():
        _expected = ("200", "400")
        if _label == "empty":
            _expected = ("200",)  # empty filter values count as absent
        add(f"{_endpoint} cursor {_label}", "cursors", _expected, _cursor_case(_endpoint, _label, _attack))
add("export with a cursor (not a filter of export)", "cursors", ("200", "400"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/export?cursor={ctx.foreign_cursor}", token=ctx.tokens.admin))
add("foreign account's list with demo-org's cursor", "cursors", ("200", "400"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{OTHER}/generations?cursor={_cursor(ctx, DEMO, ctx.tokens.admin)}",
                         token=ctx.tokens.other_admin))


# ---------------------------------------------------------------------------------------------
# 12. Batch ingest edge cases


def _batch(ctx: Context, items: list, raw: bytes | None = None, description: str | None = None) -> Result:
    body = raw if raw is not None else json.dumps({"generations": items}).encode()
    return ctx.send("POST", "/v1/generations/batch", token=ctx.tokens.gateway, body=body, description=description)


def _statuses(result: Result) -> list[str]:
    try:
        return [item.get("status") for item in json.loads(result.answer.body)["results"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _expect_items(result: Result, expected: list[str]) -> Result:
    got = _statuses(result)
    if result.answer.status == 200 and got != expected:
        result.problems.append(f"item statuses {got}, expected {expected}")
    return result


add("batch of none", "batch", ("200", "400"), lambda ctx: _expect_items(_batch(ctx, []), []))


@case("batch of 1,000 valid generations", "batch", "200")
def _batch_thousand(ctx: Context) -> Result:
    items = [ctx.generation() for _ in range(1000)]
    result = _batch(ctx, items, description="1,000 valid generations")
    for item in items:
        ctx.stored.append((DEMO, item["id"]))
    return _expect_items(result, ["stored"] * 1000)


add("batch of 1,001 generations", "batch", "4xx",
    lambda ctx: _batch(ctx, [ctx.generation() for _ in range(1001)], description="1,001 valid generations"))


@case("batch mixing stored, invalid, duplicate, conflict, EU and before-opt-in", "batch", "200")
def _batch_mixed(ctx: Context) -> Result:
    first = ctx.generation()
    conflict = dict(first, model="hostile/other-model")
    invalid = ctx.generation(model="")
    eu = ctx.generation(routing={"region": "eu"})
    old = ctx.generation(created_at="2001-01-01T00:00:00Z")
    future = ctx.generation(created_at="2999-01-01T00:00:00Z")
    result = _batch(ctx, [first, invalid, first, conflict, eu, old, future])
    ctx.stored.append((DEMO, first["id"]))
    return _expect_items(result, ["stored", "error", "duplicate", "error", "skipped", "skipped", "error"])


add("batch items that are not objects", "batch", ("200", "400"),
    lambda ctx: _expect_items(_batch(ctx, [1, None, "x", [], True, {}]), ["error"] * 6))
for _label, _raw in {"generations null": b'{"generations": null}', "generations an object": b'{"generations": {}}',
                     "generations a string": b'{"generations": "x"}', "no generations key": b"{}",
                     "the body an array": b"[]", "the body null": b"null", "the body empty": b"",
                     "the body a number": b"1e999999", "trailing garbage": b'{"generations": []} x',
                     "two JSON values": b'{"generations": []}{"generations": []}'}.items():
    add(f"batch with {_label}", "batch", "4xx", (lambda raw: lambda ctx: _batch(ctx, [], raw=raw))(_raw))
add("batch of 1,000,000 zeros", "batch", "4xx",
    lambda ctx: _batch(ctx, [], raw=b'{"generations": [' + b"0," * 999_999 + b"0]}", description="1,000,000 zeros"))
add("batch with an item nested 1,000,000 deep", "batch", "400",
    lambda ctx: _batch(ctx, [], raw=b'{"generations": [' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"]}",
                       description="one item [[[…]]] 1,000,000 deep"))
add("batch with invalid UTF-8 in one item", "batch", "400",
    lambda ctx: _batch(ctx, [], raw=with_raw({"generations": [ctx.generation(), {"model": SLOT}]}, "generations",
                                             b"[" + json.dumps(ctx.generation()).encode() + b', {"model": "\xc0\xaf"}]')))
add("batch with the same id twice, same content", "batch", "200",
    lambda ctx: (lambda g: (ctx.stored.append((DEMO, g["id"])), _expect_items(_batch(ctx, [g, g]), ["stored", "duplicate"]))[1])(
        ctx.generation()))
add("batch with the same id twice, other content", "batch", "200",
    lambda ctx: (lambda g: (ctx.stored.append((DEMO, g["id"])),
                            _expect_items(_batch(ctx, [g, dict(g, provider="Other")]), ["stored", "error"]))[1])(ctx.generation()))
add("batch item for an account without logging", "batch", "200",
    lambda ctx: _expect_items(_batch(ctx, [ctx.generation(account="hostile-no-such-account")]), ["skipped"]))
add("batch with a duplicate key inside one item", "batch", "400",
    lambda ctx: _batch(ctx, [], raw=b'{"generations": [{"id": "a", "id": "b"}]}'))
add("batch with the gateway token of nobody", "batch", ("401", "429"),
    lambda ctx: ctx.send("POST", "/v1/generations/batch", token="iolog_gw-0000000000000000_" + "0" * 64,
                         body=b'{"generations": []}'))


# ---------------------------------------------------------------------------------------------
# 13. Every token kind against every kind of endpoint

TOKEN_MATRIX = [
    # (token, method, path, body, expected)
    ("gateway", "GET", f"/v1/accounts/{DEMO}/generations", None, "403"),
    ("gateway", "PUT", f"/v1/accounts/{TOGGLE}", {"kind": "organization"}, "403"),
    ("platform", "POST", "/v1/generations", "generation", "403"),
    ("platform", "GET", f"/v1/accounts/{DEMO}/generations/demo-0001", None, "403"),
    ("platform", "PUT", f"/v1/accounts/{TOGGLE}", {"kind": "organization", "name": "hostile"}, "200"),
    ("admin", "POST", "/v1/generations", "generation", "403"),
    ("admin", "PUT", f"/v1/accounts/{TOGGLE}", {"kind": "organization"}, "403"),
    ("admin", "GET", f"/v1/accounts/{DEMO}/generations/demo-0001", None, "200"),
    ("admin", "GET", f"/v1/accounts/{OTHER}/generations", None, "404"),
    ("member", "GET", f"/v1/accounts/{DEMO}/generations", None, "403"),
    ("member", "GET", f"/v1/accounts/{DEMO}/generations/demo-0001", None, "403"),
    ("member", "GET", f"/v1/accounts/{DEMO}/export", None, "403"),
    ("member", "GET", f"/v1/accounts/{DEMO}/settings", None, "403"),
    ("member", "PUT", f"/v1/accounts/{DEMO}/settings/io-logging", {"enabled": False}, "403"),
    ("member", "POST", f"/v1/accounts/{DEMO}/deletion-requests", {"ticket": "t"}, "403"),
    ("member", "GET", f"/v1/accounts/{DEMO}/audit-events", None, "403"),
    ("member", "POST", "/v1/generations", "generation", "403"),
    ("other_admin", "GET", f"/v1/accounts/{DEMO}/generations", None, "404"),
    ("other_admin", "GET", f"/v1/accounts/{DEMO}/generations/demo-0001", None, "404"),
    ("other_admin", "PUT", f"/v1/accounts/{DEMO}/settings/io-logging", {"enabled": False}, "404"),
    ("other_admin", "GET", f"/v1/accounts/{OTHER}/generations", None, "200"),
    (None, "GET", f"/v1/accounts/{DEMO}/generations", None, ("401", "429")),
    (None, "POST", "/v1/generations", "generation", ("401", "429")),
]


def _matrix(token_name: str | None, method: str, path: str, body):
    def run(ctx: Context) -> Result:
        token = getattr(ctx.tokens, token_name) if token_name else None
        data = None
        if body == "generation":
            data = json.dumps(ctx.generation()).encode()
        elif body is not None:
            data = json.dumps(body).encode()
        return ctx.send(method, path, token=token, body=data)
    return run


for _token, _method, _path, _body, _expected in TOKEN_MATRIX:
    add(f"{_token or 'no'} token: {_method} {_path}", "token-kinds", _expected, _matrix(_token, _method, _path, _body))
for _label, _header in {"empty Bearer": "Bearer ", "Bearer alone": "Bearer", "Basic": "Basic YWRtaW46YWRtaW4=",
                        "two tokens": "Bearer a, Bearer b", "token with a NUL": "Bearer iolog_usr-\x00",
                        "token of 10 KB": "Bearer iolog_usr-" + "a" * 10_000,
                        "a revoked-looking gateway token": "Bearer iolog_gw-0000000000000000_" + "0" * 64}.items():
    add(f"Authorization: {_label}", "token-kinds", ("4xx", "closed") if "\x00" in _header else ("400", "401", "429"),
        (lambda header: lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings",
                                             headers=[("Authorization", header)]))(_header))
add("lowercase bearer scheme", "token-kinds", ("200", "401"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings", headers=[("Authorization", "bearer " + ctx.tokens.admin)]))
add("admin token with a trailing space", "token-kinds", ("200", "401", "429"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings", headers=[("Authorization", f"Bearer {ctx.tokens.admin} ")]))
add("admin token with its last character changed", "token-kinds", ("401", "429"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings",
                         token=ctx.tokens.admin[:-1] + ("0" if ctx.tokens.admin[-1] != "0" else "1")))
add("session cookie on the API", "token-kinds", ("401", "429"),
    lambda ctx: ctx.send("GET", f"/v1/accounts/{DEMO}/settings", cookie=ctx.session_cookie()))
add("bearer token on the pages", "token-kinds", ("302", "303", "401", "403"),
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs", token=ctx.tokens.admin))
add("admin session: the Logs page", "token-kinds", "200",
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs", cookie=ctx.session_cookie()))
add("admin session: another account's Logs page", "token-kinds", "404",
    lambda ctx: ctx.send("GET", f"/accounts/{OTHER}/logs", cookie=ctx.session_cookie()))
add("member session: the Logs page", "token-kinds", "403",
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs", cookie="iolog_session=" + ctx.server.sign_in(ctx.tokens.member)))
add("forged session cookie", "token-kinds", ("302", "303", "401", "429"),
    lambda ctx: ctx.send("GET", f"/accounts/{DEMO}/logs", cookie="iolog_session=" + "0" * 64))
add("logging toggle through the page without CSRF", "token-kinds", ("403",),
    lambda ctx: ctx.send("POST", f"/accounts/{TOGGLE}/settings/io-logging", cookie=ctx.session_cookie(),
                         body=b"enabled=false", content_type="application/x-www-form-urlencoded"))
add("sign-in with next= leaving the site", "token-kinds", ("303", "400", "403"),
    lambda ctx: ctx.send("POST", "/login", content_type="application/x-www-form-urlencoded",
                         body=urllib.parse.urlencode({"token": ctx.tokens.admin, "csrf": "x", "next": "//evil.example"}).encode()))


# ---------------------------------------------------------------------------------------------
# 14. The body budget: uploads holding --max-body-bytes-in-flight, then one more


@case("ingest while chunked uploads hold the whole body budget", "body-budget", "503")
def _budget(ctx: Context) -> Result:
    holders = []
    try:
        for index in range(5):  # 4 would fill 16 MiB; one more in case an answer is already on its way out
            sock = socket.create_connection((HOST, ctx.server.port), timeout=10)
            sock.sendall(rawhttp.build_head("POST", "/v1/generations", [
                ("Host", "x"), ("Authorization", "Bearer " + ctx.tokens.gateway), ("Content-Type", "application/json"),
                ("X-Request-Id", ctx.new_id(f"hostile-budget-holder-{index}")),
                ("Transfer-Encoding", "chunked")]) + b"10\r\n" + b" " * 16 + b"\r\n")
            holders.append(sock)
        time.sleep(0.5)
        body = ctx.generation()
        result = ctx.send("POST", "/v1/generations", token=ctx.tokens.gateway, body=json.dumps(body).encode())
        if result.answer.status == 503 and not result.answer.header("retry-after"):
            result.problems.append("503 without Retry-After")
        health = ctx.send("GET", "/healthz")
        if health.answer.status != 200:
            result.problems.append(f"/healthz answered {health.answer.outcome} while the budget was full")
        return result
    finally:
        for sock in holders:  # end each body properly (it is then refused as empty), so nothing is cut off
            try:
                sock.sendall(b"0\r\n\r\n")
                sock.settimeout(10)
                sock.recv(4096)
            except OSError:
                pass
            sock.close()


@case("ingest after the uploads holding the budget went away", "body-budget", "201")
def _budget_after(ctx: Context) -> Result:
    deadline = time.monotonic() + 10
    while True:
        body = ctx.generation()
        result = ctx.ingest(json.dumps(body).encode(), body["id"])
        if result.answer.status != 503 or time.monotonic() > deadline:
            if result.answer.status == 201 and time.monotonic() > deadline - 9:
                result.notes.append("the budget was released only after a retry")
            return result
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# 15. Slow loris: 300 connections trickling a header byte every few seconds for ~30 s

LORIS_CONNECTIONS = 300
LORIS_SECONDS = 30
HEAD_DEADLINE = 10  # SECURITY.md: a request head must arrive within 10 s of connecting


def slow_loris(ctx: Context, stop: threading.Event) -> dict:
    """Runs in the background while the other cases run. Returns how long the server kept each
    connection: none should outlive the head deadline by much."""
    sockets: list[tuple[socket.socket, float]] = []
    failed = 0
    for index in range(LORIS_CONNECTIONS):
        try:
            sock = socket.create_connection((HOST, ctx.server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Loris-%d: " % index)
            sockets.append((sock, time.monotonic()))
        except OSError:
            failed += 1
    started = time.monotonic()
    closed_after: dict[int, float] = {}
    answered: dict[int, bytes] = {}
    tick = 0
    while time.monotonic() - started < LORIS_SECONDS and not stop.is_set():
        for index, (sock, opened) in enumerate(sockets):
            if index in closed_after or (index + tick) % 3:  # each connection sends a byte every ~3 s
                continue
            try:
                sock.sendall(b"a")
            except OSError:
                closed_after[index] = time.monotonic() - opened
        for index, (sock, opened) in enumerate(sockets):
            if index in closed_after:
                continue
            try:
                sock.setblocking(False)
                data = sock.recv(4096)
                if data == b"":
                    closed_after[index] = time.monotonic() - opened
                else:
                    answered[index] = data[:80]
                    closed_after[index] = time.monotonic() - opened
            except BlockingIOError:
                pass
            except OSError:
                closed_after[index] = time.monotonic() - opened
        tick += 1
        time.sleep(1)
    still_open = len(sockets) - len(closed_after)
    for sock, _ in sockets:
        sock.close()
    times = sorted(closed_after.values())
    report = {"connections": len(sockets), "connect_failures": failed, "still_open_at_end": still_open,
              "closed_by_server": len(closed_after), "answered": len(answered),
              "answers": sorted({a.split(b"\r\n")[0].decode("latin-1") for a in answered.values()}),
              "first_close_s": round(times[0], 1) if times else None,
              "median_close_s": round(times[len(times) // 2], 1) if times else None,
              "last_close_s": round(times[-1], 1) if times else None}
    ctx.loris_report = report
    return report


def run_selected(ctx: Context, selected: list[Case], on_case=None) -> list[dict]:
    records = []
    for item in selected:
        if on_case:
            on_case(item)
        started = time.monotonic()
        try:
            result = item.run(ctx)
        except Exception as error:  # a case that could not even run is a problem of its own
            result = Result(rawhttp.Answer(error=f"{type(error).__name__}: {error}"), None,
                            problems=[f"the case raised {type(error).__name__}: {error}"])
        records.append(judge(item, result, time.monotonic() - started))
    return records


def judge(item: Case, result: Result, seconds: float) -> dict:
    answer = result.answer
    outcome = answer.outcome
    problems = list(result.problems)
    server_error = answer.status is not None and answer.status >= 500 and answer.status != 503 \
        and not (answer.status in (501, 505) and outcome in item.expect)
    if answer.status == 503 and not answer.header("retry-after"):
        problems.append("503 without Retry-After")
    expected = matches(outcome, item.expect)
    return {"name": item.name, "group": item.group, "expect": "|".join(item.expect), "outcome": outcome,
            "expected": expected, "server_error": server_error, "problems": problems, "notes": result.notes,
            "answer": answer.text(300), "answer_error": answer.error, "seconds": round(seconds, 3),
            "request": result.request, "request_id": result.request_id, "why": item.why}
