"""Load, bookkeeping and read-back checks for scripts/crash-test.

Every generation's content is derived from its id (and the created_at chosen when it was first
sent, kept in the ledger), so a retry sends exactly the same body and a read-back can be compared
field by field. An id counts as acknowledged once an answer said `stored` or `duplicate` for it.
"""

import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

MODELS = ["openai/gpt-4o", "anthropic/claude-3.5", "meta/llama-3-70b", "mistral/large"]
PROVIDERS = ["OpenAI", "Anthropic", "Together", "Mistral"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-é✓€\"\\/\n\t"


def now_rfc3339(offset_seconds=0.0):
    moment = datetime.fromtimestamp(time.time() + offset_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(gen_id):
    """prompt, completion, reasoning (or None), model, provider, user_id, usage: all from the id."""
    r = random.Random(gen_id)
    size = r.choice([0, 40, 300, 300, 1500, 1500, 6000])
    filler = "".join(r.choices(ALPHABET, k=size))
    prompt = [
        {"role": "system", "content": "crash test"},
        {"role": "user", "content": f"prompt of {gen_id} {filler}"},
    ]
    completion = {"role": "assistant", "content": f"completion of {gen_id} ✓", "n": r.randint(0, 10**15)}
    reasoning = {"steps": [f"reasoning of {gen_id}", r.randint(0, 999)]} if r.random() < 0.25 else None
    usage = {"prompt_tokens": r.randint(1, 5000), "completion_tokens": r.randint(1, 5000)}
    return {
        "prompt": prompt,
        "completion": completion,
        "reasoning": reasoning,
        "model": r.choice(MODELS),
        "provider": r.choice(PROVIDERS),
        "user_id": f"user-{r.randint(1, 9)}",
        "usage": usage,
    }


def generation_body(gen_id, account, created_at):
    c = content(gen_id)
    body = {
        "id": gen_id,
        "account_id": account,
        "created_at": created_at,
        "model": c["model"],
        "provider": c["provider"],
        "user_id": c["user_id"],
        "usage": c["usage"],
        "prompt": c["prompt"],
        "completion": c["completion"],
    }
    if c["reasoning"] is not None:
        body["reasoning"] = c["reasoning"]
    return body


def mismatch(gen_id, account, created_at, detail):
    """None when the detail answer is exactly what was posted, else what differs."""
    c = content(gen_id)
    expected = {
        "id": gen_id,
        "account_id": account,
        "created_at": created_at,
        "model": c["model"],
        "provider": c["provider"],
        "user_id": c["user_id"],
        "prompt": c["prompt"],
        "completion": c["completion"],
        "reasoning": c["reasoning"],
        "usage": c["usage"],
    }
    if not isinstance(detail, dict):
        return "the answer is not a JSON object"
    for key, value in expected.items():
        if detail.get(key) != value:
            got = json.dumps(detail.get(key), ensure_ascii=False)
            return f"{key} differs: got {got[:160]}"
    if detail.get("has_reasoning") != (c["reasoning"] is not None):
        return "has_reasoning differs"
    return None


CONNECTION_ERRORS = (
    ConnectionError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    http.client.IncompleteRead,
    BrokenPipeError,
    OSError,
)


class Answer:
    __slots__ = ("status", "body", "text", "elapsed", "error", "headers")

    def __init__(self, status=None, body=None, text="", elapsed=0.0, error=None, headers=None):
        self.status = status  # int, or None when no answer
        self.body = body  # parsed JSON or None
        self.text = text
        self.elapsed = elapsed
        self.error = error  # "timeout", "refused", "reset" ... when no answer
        self.headers = headers or {}

    @property
    def label(self):
        return str(self.status) if self.status is not None else self.error

    def retry_after(self, default=0.1):
        try:
            return float(self.headers.get("retry-after", default))
        except ValueError:
            return default


class Client:
    """Keep-alive HTTP connections, one per port; one Client per thread."""

    def __init__(self, timeout=30.0):
        self.timeout = timeout
        self.connections = {}

    def close(self):
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def request(self, port, method, path, token=None, body=None, timeout=None, fresh=False, request_id=None):
        headers = {"X-Request-Id": request_id} if request_id else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        for attempt in (0, 1):
            reused = port in self.connections and not fresh
            if fresh and port in self.connections:
                self.connections.pop(port).close()
            connection = self.connections.get(port)
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout or self.timeout)
                self.connections[port] = connection
            else:
                connection.timeout = timeout or self.timeout
                if connection.sock is not None:
                    connection.sock.settimeout(connection.timeout)
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                answer_headers = {k.lower(): v for k, v in response.getheaders()}
                if answer_headers.get("connection", "").lower() == "close":
                    self.connections.pop(port).close()
                text = raw.decode("utf-8", "replace")
                try:
                    parsed = json.loads(text) if text else None
                except ValueError:
                    parsed = None
                return Answer(response.status, parsed, text, time.monotonic() - started, None, answer_headers)
            except (socket.timeout, TimeoutError):
                self.connections.pop(port).close()
                return Answer(elapsed=time.monotonic() - started, error="timeout")
            except CONNECTION_ERRORS as error:
                self.connections.pop(port, connection).close()
                # A kept-alive connection the server closed in between: try once on a new one.
                if reused and attempt == 0:
                    continue
                name = "refused" if isinstance(error, ConnectionRefusedError) else "reset"
                return Answer(elapsed=time.monotonic() - started, error=name)
        raise AssertionError("unreachable")


class Ledger:
    """Every id sent (with its account and created_at) and every id acknowledged, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}  # id -> (account, created_at)
        self.acked = []  # ids in the order they were acknowledged
        self.acked_set = set()
        self.acked_by_account = Counter()
        self.counter = 0

    def new(self, prefix, account):
        with self.lock:
            self.counter += 1
            gen_id = f"{prefix}-{self.counter:07d}"
            created_at = now_rfc3339()
            self.sent[gen_id] = (account, created_at)
            return gen_id, account, created_at

    def ack(self, gen_id):
        with self.lock:
            if gen_id not in self.acked_set:
                self.acked_set.add(gen_id)
                self.acked.append(gen_id)
                self.acked_by_account[self.sent[gen_id][0]] += 1

    def info(self, gen_id):
        with self.lock:
            return self.sent.get(gen_id)

    def acked_ids(self, account=None):
        with self.lock:
            if account is None:
                return list(self.acked)
            return [i for i in self.acked if self.sent[i][0] == account]

    def forget_account(self, account):
        """After an erasure: the account's ids leave the set that must read back."""
        with self.lock:
            gone = [i for i in self.acked if self.sent[i][0] == account]
            self.acked = [i for i in self.acked if self.sent[i][0] != account]
            for i in gone:
                self.acked_set.discard(i)
            return gone

    def count(self):
        with self.lock:
            return len(self.acked)


class Report:
    """Violations and counters of one engine's run, shared by all threads."""

    def __init__(self, engine):
        self.engine = engine
        self.lock = threading.Lock()
        self.violations = []
        self.statuses = Counter()  # (phase, kind, label) -> n
        self.lost = set()  # acknowledged ids found missing or different
        self.unreadable = set()  # acknowledged ids answered with something other than 200/404
        self.checks = Counter()  # name -> n
        self.facts = {}  # name -> text, for the summary
        self.table = {}  # name -> short text, rows of the summary table
        self.timeline = None  # list of (start, end, kind, port, label, elapsed) while recording

    def violation(self, what, detail=""):
        line = f"[{self.engine}] {what}" + (f": {detail}" if detail else "")
        with self.lock:
            self.violations.append(line)
            count = len(self.violations)
        if count <= 200:
            print(f"VIOLATION {line}", flush=True)

    def count(self, name, n=1):
        with self.lock:
            self.checks[name] += n

    def status(self, phase, kind, answer, started, port):
        with self.lock:
            self.statuses[(phase, kind, answer.label)] += 1
            if self.timeline is not None:
                self.timeline.append((started, started + answer.elapsed, kind, port, answer.label, answer.elapsed))


class State:
    """What the workers need to know, changed by the orchestrator."""

    def __init__(self, engine, gateway, admin_token, account="demo-org"):
        self.engine = engine
        self.gateway = gateway
        self.admin = admin_token
        self.account = account
        self.ports = []
        self.phase = "start"
        self.stop = threading.Event()
        self.paused = threading.Event()  # set while the orchestrator reads everything back
        self.light = False
        self.recent_listed = []  # ids seen in list answers, for detail reads
        self.lock = threading.Lock()

    def port(self, rng, pause=0.0):
        """A port to send to, or None (paused, or nothing to send to). In light mode every request
        is preceded by `pause` seconds: the maintenance phases run under a lighter load."""
        if self.paused.is_set():
            time.sleep(0.02)
            return None
        if self.light and pause:
            time.sleep(rng.uniform(0.5, 1.5) * pause)
        ports = self.ports
        return rng.choice(ports) if ports else None


def unexpected(report, state, what, answer, gen_id=None):
    text = answer.text[:300].replace("\n", " ")
    report.violation(
        f"{what} in phase {state.phase}",
        f"status {answer.label}{f' for {gen_id}' if gen_id else ''} after {answer.elapsed:.2f} s: {text}",
    )


class SinglePoster(threading.Thread):
    def __init__(self, name, state, ledger, report, seed):
        super().__init__(name=name, daemon=True)
        self.state, self.ledger, self.report = state, ledger, report
        self.rng = random.Random(seed)
        self.client = Client()

    def run(self):
        pending = None
        while not self.state.stop.is_set():
            port = self.state.port(self.rng, 0.1)
            if port is None:
                time.sleep(0.05)
                continue
            if pending is None:
                pending = self.ledger.new(f"{self.state.engine}-{self.name}", self.state.account)
            gen_id, account, created_at = pending
            started = time.monotonic()
            answer = self.client.request(
                port, "POST", "/v1/generations", self.state.gateway, generation_body(gen_id, account, created_at)
            )
            self.report.status(self.state.phase, "post", answer, started, port)
            status = answer.status
            outcome = answer.body.get("status") if isinstance(answer.body, dict) else None
            if (status, outcome) in ((201, "stored"), (200, "duplicate")):
                self.ledger.ack(gen_id)
                pending = None
            elif status is None:
                if answer.error == "timeout":
                    unexpected(self.report, self.state, "POST /v1/generations hung", answer, gen_id)
                time.sleep(0.05)  # the server is down: retry the same generation
            elif status == 503:
                time.sleep(min(answer.retry_after(), 0.2))
            else:
                unexpected(self.report, self.state, "POST /v1/generations answered unexpectedly", answer, gen_id)
                pending = None
                time.sleep(0.05)


class BatchPoster(threading.Thread):
    def __init__(self, name, state, ledger, report, seed):
        super().__init__(name=name, daemon=True)
        self.state, self.ledger, self.report = state, ledger, report
        self.rng = random.Random(seed)
        self.client = Client()

    def run(self):
        pending = []
        while not self.state.stop.is_set():
            port = self.state.port(self.rng, 1.0)
            if port is None:
                time.sleep(0.05)
                continue
            if not pending:
                pending = [
                    self.ledger.new(f"{self.state.engine}-{self.name}", self.state.account)
                    for _ in range(self.rng.randint(10, 50))
                ]
            body = {"generations": [generation_body(*item) for item in pending]}
            started = time.monotonic()
            answer = self.client.request(port, "POST", "/v1/generations/batch", self.state.gateway, body)
            self.report.status(self.state.phase, "batch", answer, started, port)
            if answer.status == 200 and isinstance(answer.body, dict) and isinstance(answer.body.get("results"), list):
                results = answer.body["results"]
                if len(results) != len(pending):
                    unexpected(self.report, self.state, "batch answered a wrong number of results", answer)
                    pending = []
                    continue
                retry = []
                for item, result in zip(pending, results):
                    status = result.get("status") if isinstance(result, dict) else None
                    if result.get("id") != item[0]:
                        self.report.violation(f"batch result out of order in phase {self.state.phase}", json.dumps(result))
                    elif status in ("stored", "duplicate"):
                        self.ledger.ack(item[0])
                    elif status == "error" and (result.get("error") or {}).get("code") in ("overloaded", "unavailable"):
                        retry.append(item)
                    else:
                        self.report.violation(
                            f"batch item answered unexpectedly in phase {self.state.phase}",
                            f"{item[0]}: {json.dumps(result)[:300]}",
                        )
                pending = retry
                time.sleep(0.1 if retry else self.rng.uniform(0.0, 0.1))
            elif answer.status is None:
                if answer.error == "timeout":
                    unexpected(self.report, self.state, "POST /v1/generations/batch hung", answer)
                time.sleep(0.05)
            elif answer.status == 503:
                time.sleep(min(answer.retry_after(), 0.2))
            else:
                unexpected(self.report, self.state, "POST /v1/generations/batch answered unexpectedly", answer)
                pending = []
                time.sleep(0.05)


class Reader(threading.Thread):
    """GET list (following cursors) and GET detail of acknowledged and of listed ids."""

    def __init__(self, name, state, ledger, report, seed):
        super().__init__(name=name, daemon=True)
        self.state, self.ledger, self.report = state, ledger, report
        self.rng = random.Random(seed)
        self.client = Client()
        self.cursor = None

    def run(self):
        while not self.state.stop.is_set():
            port = self.state.port(self.rng, 0.2)
            if port is None:
                time.sleep(0.05)
                continue
            time.sleep(self.rng.uniform(0.0, 0.04))
            choice = self.rng.random()
            if choice < 0.35:
                self.list(port)
            elif choice < 0.85:
                with self.ledger.lock:
                    acked = self.ledger.acked
                    gen_id = acked[self.rng.randrange(len(acked))] if acked else None
                if gen_id is not None and self.ledger.info(gen_id)[0] == self.state.account:
                    self.detail(port, gen_id, acknowledged=True)
                else:
                    time.sleep(0.02)
            else:
                with self.state.lock:
                    listed = self.state.recent_listed
                    gen_id = self.rng.choice(listed) if listed else None
                if gen_id is not None:
                    self.detail(port, gen_id, acknowledged=False)
                else:
                    time.sleep(0.02)

    def list(self, port):
        limit = self.rng.choice([1, 10, 50, 100, 200])
        path = f"/v1/accounts/{self.state.account}/generations?limit={limit}"
        if self.cursor and self.rng.random() < 0.5:
            path += f"&cursor={urllib.parse.quote(self.cursor, safe='')}"
        started = time.monotonic()
        answer = self.client.request(port, "GET", path, self.state.admin)
        self.report.status(self.state.phase, "list", answer, started, port)
        if answer.status == 200 and isinstance(answer.body, dict):
            data = answer.body.get("data") or []
            self.cursor = answer.body.get("next_cursor")
            ids = []
            for row in data:
                gen_id = row.get("id")
                info = self.ledger.info(gen_id)
                if info is None or row.get("account_id") != self.state.account:
                    self.report.violation(f"the list shows a generation never sent in phase {self.state.phase}", str(gen_id))
                elif row.get("created_at") != info[1]:
                    self.report.violation(f"the list shows {gen_id} with another created_at", str(row.get("created_at")))
                else:
                    ids.append(gen_id)
            self.report.count("list rows checked", len(ids))
            with self.state.lock:
                self.state.recent_listed = (self.state.recent_listed + ids)[-2000:]
        elif answer.status == 400 and self.cursor:
            self.cursor = None  # a cursor from before a restart is still valid; report anyway
            unexpected(self.report, self.state, "GET list refused a cursor it issued", answer)
        elif answer.status in (None, 503):
            if answer.error == "timeout":
                unexpected(self.report, self.state, "GET list hung", answer)
            time.sleep(0.05)
        else:
            unexpected(self.report, self.state, "GET list answered unexpectedly", answer)

    def detail(self, port, gen_id, acknowledged):
        account, created_at = self.ledger.info(gen_id)
        started = time.monotonic()
        answer = self.client.request(port, "GET", f"/v1/accounts/{account}/generations/{gen_id}", self.state.admin)
        self.report.status(self.state.phase, "detail", answer, started, port)
        if answer.status == 200:
            problem = mismatch(gen_id, account, created_at, answer.body)
            if problem:
                self.report.violation(f"{gen_id} reads back wrong in phase {self.state.phase}", problem)
                self.report.lost.add(gen_id)
            else:
                self.report.count("reader detail checks")
        elif answer.status == 404 and acknowledged:
            self.report.violation(f"acknowledged {gen_id} answered 404 to a reader in phase {self.state.phase}")
            self.report.lost.add(gen_id)
        elif answer.status in (None, 503):
            if answer.error == "timeout":
                unexpected(self.report, self.state, "GET detail hung", answer, gen_id)
            time.sleep(0.05)
        else:
            unexpected(self.report, self.state, "GET detail answered unexpectedly", answer, gen_id)


class Load:
    def __init__(self, state, ledger, report, seed, singles=4, batches=2, readers=2):
        self.state = state
        rng = random.Random(seed)
        self.threads = (
            [SinglePoster(f"s{i}", state, ledger, report, rng.random()) for i in range(singles)]
            + [BatchPoster(f"b{i}", state, ledger, report, rng.random()) for i in range(batches)]
            + [Reader(f"r{i}", state, ledger, report, rng.random()) for i in range(readers)]
        )

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.state.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            if thread.is_alive():
                raise RuntimeError(f"load thread {thread.name} did not stop")
            thread.client.close()


def verify(ids, ledger, report, ports, tokens, label, threads=6, expect_gone=False):
    """Reads every id back; returns (checked, failures). tokens: account -> admin token."""
    if not ids:
        return 0, 0
    local = threading.local()
    failures = Counter()

    def one(index_and_id):
        index, gen_id = index_and_id
        if not hasattr(local, "client"):
            local.client = Client()
        account, created_at = ledger.info(gen_id)
        port = ports[index % len(ports)]
        answer = None
        for attempt in range(40):
            answer = local.client.request(port, "GET", f"/v1/accounts/{account}/generations/{gen_id}", tokens[account])
            if answer.status not in (None, 503):
                break
            time.sleep(0.25)
        if expect_gone:
            if answer.status == 404:
                return "ok"
            report.violation(f"{label}: erased {gen_id} still answers", f"status {answer.label}: {answer.text[:200]}")
            return "still there"
        if answer.status == 200:
            problem = mismatch(gen_id, account, created_at, answer.body)
            if problem is None:
                return "ok"
            report.violation(f"{label}: acknowledged {gen_id} reads back wrong", problem)
            report.lost.add(gen_id)
            return "wrong"
        if answer.status == 404:
            report.violation(f"{label}: acknowledged {gen_id} is LOST (404)", answer.text[:200])
            report.lost.add(gen_id)
            return "lost"
        report.violation(f"{label}: acknowledged {gen_id} unreadable", f"status {answer.label} after retries: {answer.text[:200]}")
        report.unreadable.add(gen_id)
        return "unreadable"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for outcome in pool.map(one, enumerate(ids)):
            failures[outcome] += 1
    report.count("read-back checks (GET detail, exact content)" if not expect_gone else "erased ids checked 404", len(ids))
    return len(ids), len(ids) - failures["ok"]
