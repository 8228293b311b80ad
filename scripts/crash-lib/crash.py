"""Driver of scripts/crash-test (read that script's header first).

Runs, per engine: a SIGKILL crash loop of `iolog serve --dev` under load with checks of the stopped
data and read-backs after every restart; an interrupted whole-account deletion and an interrupted
master-key rotation, both resumed; on PostgreSQL two replicas through a database outage. Every
process and cluster it starts is stopped on the way out, also on Ctrl-C.
"""

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import (  # noqa: E402
    Client,
    Ledger,
    Load,
    Report,
    State,
    generation_body,
    verify,
)

REPO = Path(__file__).resolve().parents[2]
PORT_RANGE = (13000, 13999)
STARTUP_TIMEOUT = 90.0
# The request id of the one read made on purpose of a row whose key an erasure destroyed (a
# documented 500 content_unavailable): the server-log scan leaves its lines out.
MIDWAY_READ = "crash-test-midway-read"


def log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def tail(path, lines=25):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join("    | " + line for line in text[-lines:])


class Harness(Exception):
    """The test itself could not go on (not a finding about the server)."""


class Ports:
    used = set()

    @classmethod
    def take(cls):
        candidates = list(range(PORT_RANGE[0], PORT_RANGE[1] + 1))
        random.SystemRandom().shuffle(candidates)
        for port in candidates:
            if port in cls.used:
                continue
            probe = socket.socket()
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                probe.close()
            cls.used.add(port)
            return port
        raise Harness("no free port in 13000-13999")


class Processes:
    """Every process started, so that all of them can be stopped on the way out."""

    live = {}

    @classmethod
    def popen(cls, argv, stdout, stderr, **kwargs):
        with open(stdout, "ab") as out, open(stderr, "ab") as err:
            process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        cls.live[process.pid] = process
        return process

    @classmethod
    def reap(cls, process):
        cls.live.pop(process.pid, None)

    @classmethod
    def kill_all(cls):
        for pid, process in list(cls.live.items()):
            if process.poll() is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            cls.live.pop(pid, None)


class Serve:
    """One `iolog serve` process (the real binary, no wrapper: its pid is the server's)."""

    def __init__(self, run, engine, port, extra, label):
        self.run, self.engine, self.port, self.label = run, engine, port, label
        run.serve_count += 1
        base = run.logs / f"{engine.name}-serve-{run.serve_count:03d}-{label}"
        self.stdout, self.stderr = Path(f"{base}.out"), Path(f"{base}.err")
        self.argv = [str(run.binary), "serve", "--port", str(port)] + engine.data_args + extra
        self.process = Processes.popen(self.argv, self.stdout, self.stderr, cwd=run.work)
        self.tokens = None

    @property
    def command(self):
        return " ".join(self.argv)

    def wait_ready(self, dev):
        """Waits for /healthz 200 (and, with --dev, the printed tokens); None when it never came up."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        client = Client(timeout=5)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return f"exited with status {self.process.returncode} while starting"
                if dev and self.tokens is None:
                    text = self.stdout.read_text(errors="replace")
                    gateway = re.search(r"^  gateway token:  (\S+)$", text, re.M)
                    admin = re.search(r"^  admin token:    (\S+)$", text, re.M)
                    if gateway and admin:
                        self.tokens = (gateway.group(1), admin.group(1))
                if not dev or self.tokens is not None:
                    answer = client.request(self.port, "GET", "/healthz", timeout=5)
                    if answer.status == 200:
                        return None
                time.sleep(0.05)
            return f"not ready within {STARTUP_TIMEOUT:.0f} s"
        finally:
            client.close()

    def alive(self):
        return self.process.poll() is None

    def sigkill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        Processes.reap(self.process)

    def sigterm(self, timeout=60):
        """Graceful stop; returns the exit status (None if it had to be killed)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.sigkill()
            status = None
        Processes.reap(self.process)
        return status


class Cluster:
    """A throwaway PostgreSQL cluster: scripts/postgres start/stop, pg_ctl for outages."""

    def __init__(self, run, directory):
        self.run = run
        self.dir = directory
        self.bindir = None
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0):
            if (candidate / "initdb").exists():
                self.bindir = candidate
        if self.bindir is None and shutil.which("pg_config"):
            self.bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        if self.bindir is None or not (self.bindir / "pg_ctl").exists():
            raise Harness("no PostgreSQL server binaries (install Debian's postgresql)")
        self.url = None
        self.port = None
        self.started = False

    def pg(self, binary, *args, timeout=120):
        argv = [str(self.bindir / binary), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, cwd="/", capture_output=True, text=True, timeout=timeout)

    def start(self):
        result = subprocess.run([str(REPO / "scripts/postgres"), "start", str(self.dir)], capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise Harness(f"scripts/postgres start failed: {result.stderr.strip()}")
        self.started = True
        url = result.stdout.strip()
        # scripts/postgres picks a port of the kernel's; move the cluster into this script's range.
        self.port = Ports.take()
        moved = self.pg("pg_ctl", f"--pgdata={self.dir}/data", f"--log={self.dir}/log", f"--options=-p {self.port}", "--mode=fast", "--wait", "--timeout=60", "restart")
        # pg_ctl start does not read postmaster.opts: every start below passes the port again.
        if moved.returncode != 0:
            raise Harness(f"could not restart the cluster on port {self.port}: {moved.stdout}{moved.stderr}")
        self.url = re.sub(r":\d+/", f":{self.port}/", url)
        self.wait_ready()
        return self.url

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pg("pg_isready", "--quiet", "--host=127.0.0.1", f"--port={self.port}").returncode == 0:
                return
            time.sleep(0.1)
        raise Harness("the cluster did not become ready")

    def ctl(self, *args):
        options = [f"--options=-p {self.port}"] if args[-1] in ("start", "restart") else []
        result = self.pg("pg_ctl", f"--pgdata={self.dir}/data", f"--log={self.dir}/log", "--wait", "--timeout=120", *options, *args)
        if result.returncode != 0:
            raise Harness(f"pg_ctl {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def query(self, sql):
        result = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-At", "-c", sql, self.url], capture_output=True, text=True, timeout=30, cwd="/"
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def stop(self):
        if not self.started:
            return
        try:
            shutil.copyfile(self.dir / "log", self.run.logs / "postgres.log")
        except OSError:
            pass
        result = subprocess.run([str(REPO / "scripts/postgres"), "stop", str(self.dir)], capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            print(f"scripts/postgres stop {self.dir} failed: {result.stderr.strip()}", file=sys.stderr)
        else:
            self.started = False


class Engine:
    def __init__(self, run, name):
        self.run = run
        self.name = name
        self.root = run.work / name
        self.root.mkdir()
        self.data = self.root / "iolog-data"
        self.cluster = None
        self.url = None
        self.data_args = ["--data-dir", str(self.data)]
        self.report = Report(name)
        self.ledger = Ledger()
        self.serves = []  # the replicas running now
        self.tokens = {}  # account -> admin token
        self.state = None  # the load's State
        self.started = time.monotonic()
        self.duration = None

    def token_for(self, account):
        return self.tokens.get(account) or self.tokens["rot-*"]

    def token_for_map(self):
        """account -> admin token (the rot-* accounts share one admin)."""
        engine = self

        class Tokens(dict):
            def __missing__(self, account):
                return engine.token_for(account)

        return Tokens(engine.tokens)

    def use_postgres(self):
        self.cluster = Cluster(self.run, self.root / "cluster")
        self.url = self.cluster.start()
        self.data_args += ["--database-url", self.url]


class Run:
    def __init__(self, args):
        self.cycles = args.cycles
        self.short = os.environ.get("CI_SHORT", "") not in ("", "0") or args.cycles <= 5
        self.seed = int(os.environ.get("IOLOG_CRASH_SEED") or random.SystemRandom().randrange(1, 10**9))
        self.rng = random.Random(self.seed)
        self.kill_rng = random.Random(self.seed)  # its own stream: the same seed, the same kill timings
        self.command = args.command
        engines = (os.environ.get("IOLOG_CRASH_ENGINES") or "sqlite postgres").split()
        for engine in engines:
            if engine not in ("sqlite", "postgres"):
                raise SystemExit(f"IOLOG_CRASH_ENGINES: unknown engine {engine!r} (sqlite, postgres)")
        self.engine_names = engines
        self.work = Path(tempfile.mkdtemp(prefix="iolog-crash-", dir="/tmp"))
        os.chmod(self.work, 0o755)  # PostgreSQL runs as user postgres and must reach its cluster folder
        self.logs = self.work / "logs"
        self.logs.mkdir()
        # A copy: a rebuild of the original while this runs does not change the binary under test.
        self.binary = self.work / "iolog"
        shutil.copy2(args.binary, self.binary)
        self.source_binary = os.path.abspath(args.binary)
        self.serve_count = 0
        self.engines = []
        self.sizes = {
            "bulk": 3_000 if self.short else 20_000,
            "erased_checked": 500 if self.short else 3_000,
            "rotation_accounts": 100 if self.short else 300,
            "outage_seconds": 4.0 if self.short else 8.0,
            "settle_seconds": 2.0 if self.short else 4.0,
        }

    # ---- commands -------------------------------------------------------------------------

    def cli(self, engine, args, expect=0, timeout=600):
        argv = [str(self.binary)] + args + engine.data_args
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.work)
        engine.report.count("iolog commands run")
        if expect is not None and result.returncode != expect:
            engine.report.violation(
                f"`iolog {' '.join(args)}` exited {result.returncode} (expected {expect})",
                (result.stderr.strip() or result.stdout.strip())[:800],
            )
        return result

    def checks_while_stopped(self, engine, label):
        """With no serve running: SQLite integrity of both files; the audit chain."""
        if engine.url is None:
            for name in ("iolog.sqlite", "keyring.sqlite"):
                path = engine.data / name
                try:
                    # Read-only: it neither checkpoints nor removes the WAL the crash left behind,
                    # so the next serve still recovers from the crashed state itself.
                    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                    try:
                        rows = connection.execute("PRAGMA integrity_check").fetchall()
                    finally:
                        connection.close()
                    result = "\n".join(str(row[0]) for row in rows)
                except sqlite3.Error as error:
                    result = f"sqlite error: {error}"
                engine.report.count("SQLite integrity_check")
                if result != "ok":
                    engine.report.violation(f"{label}: PRAGMA integrity_check of {name} is not ok", result[:800])
        result = self.cli(engine, ["audit", "verify"])
        engine.report.count("audit verify")
        if result.returncode == 0 and "audit trail intact" not in result.stdout:
            engine.report.violation(f"{label}: audit verify printed no verdict", result.stdout[:300])

    # ---- serve ----------------------------------------------------------------------------

    def start_serve(self, engine, port, extra, label, dev):
        serve = Serve(self, engine, port, extra, label)
        problem = serve.wait_ready(dev)
        if problem:
            engine.report.violation(
                f"serve ({label}) did not start: {problem}", f"\n  command: {serve.command}\n  stderr:\n{tail(serve.stderr)}"
            )
            if serve.alive():
                serve.sigkill()
            raise Harness(f"serve ({label}) did not start")
        engine.report.count("serve starts")
        return serve

    def stop_serve(self, engine, serve, graceful=True):
        if not serve.alive():
            engine.report.violation(
                f"serve on port {serve.port} had exited by itself (status {serve.process.returncode})", f"\n{tail(serve.stderr)}"
            )
            Processes.reap(serve.process)
            return
        if graceful:
            status = serve.sigterm()
            if status != 0:
                engine.report.violation(
                    f"serve on port {serve.port} did not exit 0 on SIGTERM (status {status})", f"\n{tail(serve.stderr)}"
                )
        else:
            serve.sigkill()

    # ---- read-backs -----------------------------------------------------------------------

    @contextlib.contextmanager
    def paused(self, engine):
        """The load waits meanwhile (and goes on as before afterwards)."""
        state = engine.state
        was = state.paused.is_set() if state else True
        if state:
            state.paused.set()
        try:
            yield
        finally:
            if state and not was:
                state.paused.clear()

    def read_back(self, engine, label, since, sample=200, everything=False):
        """Verifies the ids acknowledged from index `since` on (all of them with everything) plus a
        sample of older ones; returns the new watermark."""
        acked = engine.ledger.acked_ids()
        if everything:
            ids = acked
        else:
            older = acked[:since]
            ids = acked[since:] + (self.rng.sample(older, min(sample, len(older))) if older else [])
        ports = [serve.port for serve in engine.serves]
        # The load pauses meanwhile (it runs again before the next kill): reads are audited, and
        # under full load they would take most of the run.
        with self.paused(engine):
            started = time.monotonic()
            checked, failed = verify(ids, engine.ledger, engine.report, ports, engine.token_for_map(), label)
        log(f"  {label}: read back {checked} acknowledged generations ({failed} failed) in {time.monotonic() - started:.1f} s")
        return len(acked)

    def list_check(self, engine, label, account="demo-org"):
        """Pages through the account's whole list: every generation acknowledged before it began
        appears exactly once, and nothing appears that was never sent."""
        with self.paused(engine):
            acked = set(engine.ledger.acked_ids(account))
            client = Client(timeout=60)
            port = engine.serves[0].port
            seen = Counter()
            cursor, pages = None, 0
            started = time.monotonic()
            while True:
                path = f"/v1/accounts/{account}/generations?limit=200"
                if cursor:
                    path += f"&cursor={urllib.parse.quote(cursor, safe='')}"
                for _ in range(40):
                    answer = client.request(port, "GET", path, engine.token_for(account))
                    if answer.status not in (None, 503):
                        break
                    time.sleep(0.25)
                if answer.status != 200:
                    engine.report.violation(f"{label}: listing {account} failed at page {pages + 1}", f"{answer.label} {answer.text[:200]}")
                    client.close()
                    return
                pages += 1
                for row in answer.body.get("data", []):
                    seen[row.get("id")] += 1
                cursor = answer.body.get("next_cursor")
                if not cursor:
                    break
            client.close()
        engine.report.count("full list walks")
        twice = [i for i, n in seen.items() if n > 1]
        missing = sorted(acked - seen.keys())
        unknown = [i for i in seen if engine.ledger.info(i) is None]
        if twice:
            engine.report.violation(f"{label}: the list shows {len(twice)} generation(s) more than once", ", ".join(twice[:10]))
        if missing:
            engine.report.violation(f"{label}: {len(missing)} acknowledged generation(s) missing from the list", ", ".join(missing[:10]))
        if unknown:
            engine.report.violation(f"{label}: the list shows {len(unknown)} generation(s) never sent", ", ".join(map(str, unknown[:10])))
        log(
            f"  {label}: the list of {account} walked in {pages} pages ({time.monotonic() - started:.1f} s): {len(seen)} generations,"
            f" {len(acked)} acknowledged, {len(seen) - len(acked & seen.keys())} stored but never acknowledged (in flight at a kill)"
        )

    # ---- the phases -----------------------------------------------------------------------

    def crash_loop(self, engine, state, port):
        report = engine.report
        first = self.start_serve(engine, port, ["--dev"], "dev-0", dev=True)
        engine.serves = [first]
        state.gateway, state.admin = first.tokens
        engine.tokens["demo-org"] = first.tokens[1]
        log(f"  serve --dev up on port {port}: {first.command}")
        # Load with the tokens of the first start throughout: restarts must not invalidate them.
        state.ports = [port]
        state.phase = "crash-loop"
        load = Load(state, engine.ledger, report, self.rng.random())
        load.start()
        watermark = 0
        fresh_tokens = 0
        restart_times = []
        serve = first
        for cycle in range(1, self.cycles + 1):
            uptime = self.kill_rng.uniform(0.5, 4.0)
            time.sleep(uptime)
            if not serve.alive():
                report.violation(f"cycle {cycle}: serve exited by itself (status {serve.process.returncode})", f"\n{tail(serve.stderr)}")
                Processes.reap(serve.process)
            else:
                serve.sigkill()
            acked_at_kill = engine.ledger.count()
            log(f"  cycle {cycle}/{self.cycles}: SIGKILL after {uptime:.1f} s of load, {acked_at_kill} acknowledged so far")
            time.sleep(0.2)  # the workers see the failures
            self.checks_while_stopped(engine, f"cycle {cycle} (server stopped)")
            if cycle == 1 and os.environ.get("IOLOG_CRASH_SABOTAGE") == "1":
                self.sabotage(engine)
            restarted = time.monotonic()
            serve = self.start_serve(engine, port, ["--dev"], f"dev-{cycle}", dev=True)
            engine.serves = [serve]
            restart_times.append(time.monotonic() - restarted)
            if serve.tokens != first.tokens:
                fresh_tokens += 1
            # The tokens this start printed work too.
            probe = Client(timeout=30)
            answer = probe.request(port, "GET", "/v1/accounts/demo-org/settings", serve.tokens[1])
            probe.close()
            if answer.status != 200:
                report.violation(f"cycle {cycle}: the admin token printed by this start does not work", answer.label)
            watermark = self.read_back(engine, f"cycle {cycle}/{self.cycles}: restarted in {time.monotonic() - restarted:.1f} s", watermark)
        if restart_times:
            report.table["serve restart after SIGKILL: mean / max"] = (
                f"{sum(restart_times) / len(restart_times):.2f} / {max(restart_times):.2f} s"
            )
        report.facts["tokens on restart"] = (
            f"each --dev start printed new tokens ({fresh_tokens} of {self.cycles} restarts); the first start's tokens kept working"
        )
        return load, serve, watermark

    def sabotage(self, engine):
        """Self-test of the checks (IOLOG_CRASH_SABOTAGE=1): removes the newest acknowledged
        generation behind the server's back, which the read-back must report as lost."""
        victim = engine.ledger.acked_ids("demo-org")[-1]
        if engine.url is None:
            connection = sqlite3.connect(engine.data / "iolog.sqlite")
            connection.execute("DELETE FROM generations WHERE id = ?", (victim,))
            connection.commit()
            connection.close()
        else:
            engine.cluster.query(f"DELETE FROM iolog.generations WHERE id = '{victim}'")
        log(f"  SABOTAGE: removed acknowledged {victim} from the database; the read-back must report it lost")

    def bulk_account(self, engine, state, port, count):
        """A second account (CLI), logging on (settings API), `count` generations in it."""
        account, admin_user = "bulk-org", "bulk-admin"
        self.cli(engine, ["accounts", "upsert", account, "--kind", "organization", "--name", "Bulk Org"])
        self.cli(engine, ["members", "set", account, admin_user, "--role", "admin"])
        token = self.cli(engine, ["tokens", "create", "--user", admin_user, "--label", "crash-test"]).stdout.strip()
        engine.tokens[account] = token
        client = Client(timeout=60)
        answer = client.request(port, "PUT", f"/v1/accounts/{account}/settings/io-logging", token, {"enabled": True})
        if answer.status != 200 or not (answer.body or {}).get("io_logging", {}).get("enabled"):
            raise Harness(f"could not turn logging on for {account}: {answer.label} {answer.text[:200]}")
        time.sleep(0.01)
        pending = []
        made = 0
        while made < count or pending:
            while len(pending) < 500 and made < count:
                pending.append(engine.ledger.new(f"{engine.name}-bulk", account))
                made += 1
            answer = client.request(port, "POST", "/v1/generations/batch", state.gateway, {"generations": [generation_body(*g) for g in pending]})
            if answer.status == 200:
                retry = []
                for item, result in zip(pending, answer.body["results"]):
                    if result.get("status") in ("stored", "duplicate"):
                        engine.ledger.ack(item[0])
                    elif result.get("status") == "error" and result.get("error", {}).get("code") in ("overloaded", "unavailable"):
                        retry.append(item)
                    else:
                        engine.report.violation(f"bulk ingest: {item[0]} answered unexpectedly", str(result)[:300])
                pending = retry
            elif answer.status in (None, 503):
                time.sleep(0.2)
            else:
                engine.report.violation("bulk ingest answered unexpectedly", f"{answer.label} {answer.text[:300]}")
                pending = []
        client.close()
        return account, admin_user

    class DeletionWatch:
        """Reads a deletion request's (status, rows_erased, keys destroyed?) straight from the
        database, as the tests do, over one open connection so that polls take a millisecond."""

        def __init__(self, engine, request_id):
            self.engine, self.request_id = engine, request_id
            if engine.url is None:
                self.sqlite = sqlite3.connect(f"file:{engine.data / 'iolog.sqlite'}?mode=ro", uri=True, timeout=5)
                self.psql = None
            else:
                self.sqlite = None
                self.psql = subprocess.Popen(
                    [str(engine.cluster.bindir / "psql"), "-X", "-At", "-q", engine.url],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1, cwd="/",
                )
                Processes.live[self.psql.pid] = self.psql

        def read(self):
            if self.sqlite is not None:
                try:
                    return self.sqlite.execute(
                        "SELECT status, rows_erased, keys_destroyed_at IS NOT NULL FROM deletion_requests WHERE id = ?",
                        (self.request_id,),
                    ).fetchone()
                except sqlite3.Error:
                    return None
            self.psql.stdin.write(
                "SELECT status, rows_erased, keys_destroyed_at IS NOT NULL FROM iolog.deletion_requests"
                f" WHERE id = '{self.request_id}';\n"
            )
            self.psql.stdin.flush()
            line = self.psql.stdout.readline().strip()
            if not line:
                return None
            status, rows, keys = line.split("|")
            return status, int(rows), keys == "t"

        def close(self):
            if self.sqlite is not None:
                self.sqlite.close()
            else:
                self.psql.stdin.close()
                self.psql.wait(timeout=30)
                Processes.reap(self.psql)

    def interrupted_deletion(self, engine, state, port):
        report = engine.report
        count = self.sizes["bulk"]
        started = time.monotonic()
        with self.paused(engine):
            account, admin_user = self.bulk_account(engine, state, port, count)
        bulk_ids = engine.ledger.acked_ids(account)
        log(f"  {account}: {len(bulk_ids)} generations acknowledged in {time.monotonic() - started:.1f} s")
        request_id = self.cli(engine, ["deletion", "request", "--account", account, "--requested-by", admin_user, "--ticket", "CRASH-1"]).stdout.strip()
        if not request_id.startswith("del-"):
            raise Harness(f"deletion request printed no id: {request_id!r}")
        stderr = self.logs / f"{engine.name}-deletion-run-1.err"
        process = Processes.popen([str(self.binary), "deletion", "run", request_id] + engine.data_args, self.logs / f"{engine.name}-deletion-run-1.out", stderr, cwd=self.work)
        watch = self.DeletionWatch(engine, request_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            seen = watch.read()
            if seen and seen[1] > 0:
                break
            time.sleep(0.001)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        Processes.reap(process)
        after = watch.read()
        watch.close()
        show = self.cli(engine, ["deletion", "show", request_id]).stdout
        interrupted = process.returncode == -signal.SIGKILL and after is not None and after[0] != "completed"
        if not interrupted:
            report.violation(
                "deletion run could not be interrupted (it finished first; make the bulk account larger)",
                f"exit {process.returncode}, state {after}",
            )
        elif "status:          running" not in show:
            report.violation("after the kill, `deletion show` does not say running", show)
        log(f"  deletion run {request_id} killed: state {after} (status, rows erased, keys destroyed) of {len(bulk_ids)} rows")
        # Meanwhile the account's rows that are still there have no key any more.
        client = Client(timeout=30)
        remaining = client.request(port, "GET", f"/v1/accounts/{account}/generations?limit=1", engine.tokens[account])
        midway_read = "no row left to read"
        if remaining.status == 200 and remaining.body.get("data"):
            gen_id = remaining.body["data"][0]["id"]
            answer = client.request(port, "GET", f"/v1/accounts/{account}/generations/{gen_id}", engine.tokens[account], request_id=MIDWAY_READ)
            midway_read = f"{answer.label} {(answer.body or {}).get('error', {}).get('code', '')}".strip()
        again = self.cli(engine, ["deletion", "run", request_id])
        receipt = again.stdout
        if "status:          completed" not in receipt:
            report.violation("the resumed deletion run did not complete", receipt + again.stderr)
        match = re.search(r"rows erased:\s+(\d+)", receipt)
        erased = int(match.group(1)) if match else None
        if erased != len(bulk_ids):
            report.violation("the deletion receipt is not exact", f"rows erased {erased}, acknowledged {len(bulk_ids)}")
        keys = re.search(r"keys destroyed:\s+(\d+) at", receipt)
        if not keys or int(keys.group(1)) < 1:
            report.violation("the deletion receipt names no destroyed key", receipt)
        shown = self.cli(engine, ["deletion", "show", request_id]).stdout
        if shown != receipt:
            report.violation("`deletion show` differs from the run's receipt", f"\n{shown}\n---\n{receipt}")
        listed = client.request(port, "GET", f"/v1/accounts/{account}/generations?limit=200", engine.tokens[account])
        if listed.status != 200 or listed.body.get("data"):
            report.violation(f"after the erasure the list of {account} is not empty", f"{listed.label} {listed.text[:300]}")
        gone = self.sizes["erased_checked"]
        gone_sample = bulk_ids if len(bulk_ids) <= gone else self.rng.sample(bulk_ids, gone)
        verify(gone_sample, engine.ledger, report, [port], engine.token_for_map(), "after the erasure", expect_gone=True)
        late = generation_body(bulk_ids[0], account, engine.ledger.info(bulk_ids[0])[1])
        answer = client.request(port, "POST", "/v1/generations", state.gateway, late)
        if answer.status != 202 or (answer.body or {}).get("reason") != "before_opt_in":
            report.violation("a late delivery of an erased id was not skipped before_opt_in", f"{answer.label} {answer.text[:200]}")
        client.close()
        engine.erased = engine.ledger.forget_account(account)
        engine.report.facts["deletion"] = (
            f"{len(bulk_ids)} rows; killed at {after[1] if after else '?'} erased ({'keys destroyed' if after and after[2] else 'keys not yet destroyed'});"
            f" resumed: receipt {erased} rows, {keys.group(1) if keys else '?'} key(s); a not-yet-erased row read midway: {midway_read}"
        )
        # The other accounts are untouched: every acknowledged generation still reads back.
        self.read_back(engine, "after the erasure, every other acknowledged generation", 0, everything=True)

    def rotation_accounts(self, engine, state, port, count):
        """`count` accounts (platform API) with logging on and one generation each: a data key each."""
        platform = self.cli(engine, ["tokens", "create", "--platform", "--label", "crash-test"]).stdout.strip()
        admin = self.cli(engine, ["tokens", "create", "--user", "rot-admin", "--label", "crash-test"]).stdout.strip()
        engine.tokens["rot-*"] = admin
        client = Client(timeout=60)
        accounts = [f"rot-{index:04d}" for index in range(count)]
        for account in accounts:
            for method, path, token, body in (
                ("PUT", f"/v1/accounts/{account}", platform, {"kind": "organization", "name": account}),
                ("PUT", f"/v1/accounts/{account}/members/rot-admin", platform, {"role": "admin"}),
                ("PUT", f"/v1/accounts/{account}/settings/io-logging", admin, {"enabled": True}),
            ):
                for _ in range(50):
                    answer = client.request(port, method, path, token, body)
                    if answer.status not in (None, 503):
                        break
                    time.sleep(0.2)
                if answer.status != 200:
                    raise Harness(f"{method} {path}: {answer.label} {answer.text[:200]}")
        time.sleep(0.01)
        items = [engine.ledger.new(f"{engine.name}-{account}", account) for account in accounts]
        for start in range(0, len(items), 100):
            chunk = items[start : start + 100]
            for _ in range(50):
                answer = client.request(port, "POST", "/v1/generations/batch", state.gateway, {"generations": [generation_body(*g) for g in chunk]})
                if answer.status == 200:
                    break
                time.sleep(0.2)
            for item, result in zip(chunk, (answer.body or {}).get("results", [])):
                if result.get("status") in ("stored", "duplicate"):
                    engine.ledger.ack(item[0])
                else:
                    engine.report.violation(f"{item[0]} answered unexpectedly", str(result)[:200])
        client.close()

    def metric(self, port, name):
        answer = Client(timeout=30).request(port, "GET", "/metrics")
        match = re.search(rf"^{name} (\S+)$", answer.text, re.M) if answer.status == 200 else None
        try:
            return float(match.group(1)) if match else None
        except ValueError:
            return match.group(1)

    def interrupted_rotation(self, engine, state, serve, port):
        report = engine.report
        count = self.sizes["rotation_accounts"]
        started = time.monotonic()
        with self.paused(engine):
            self.rotation_accounts(engine, state, port, count)
        log(f"  {count} more accounts with a data key each, in {time.monotonic() - started:.1f} s")
        old = engine.data / "master.key"  # where serve --dev keeps its key (also with --database-url)
        new = engine.root / "new.key"
        subprocess.run(f"(umask 077; openssl rand -base64 32 > '{new}')", shell=True, check=True)
        # Runbook step 2: serve with both keys (no --dev: it would only add tokens).
        self.stop_serve(engine, serve)
        both = ["--master-key-file", str(new), "--previous-master-key-file", str(old)]
        serve = self.start_serve(engine, port, both, "both-keys", dev=False)
        engine.serves = [serve]
        state.phase = "rotation"
        # Step 3, killed midway.
        rotate = ["keys", "rotate-master", "--master-key-file", str(old), "--new-master-key-file", str(new)]
        progress = self.logs / f"{engine.name}-rotate-1.err"
        process = Processes.popen([str(self.binary)] + rotate + ["--batch-size", "1"] + engine.data_args, self.logs / f"{engine.name}-rotate-1.out", progress, cwd=self.work)
        done = total = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            lines = re.findall(r"rewrapped (\d+) of (\d+) data keys", progress.read_text(errors="replace"))
            if lines:
                done, total = map(int, lines[-1])
                if done >= max(1, total // 3):
                    break
            time.sleep(0.001)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        Processes.reap(process)
        in_progress = self.metric(port, "iolog_master_key_rotation_in_progress")
        if process.returncode != -signal.SIGKILL:
            report.violation("keys rotate-master could not be interrupted (it finished first)", f"exit {process.returncode}")
        elif in_progress != 1:
            report.violation("after the kill, iolog_master_key_rotation_in_progress is not 1", str(in_progress))
        log(f"  keys rotate-master --batch-size 1 killed after {done} of {total} data keys; rotation in progress: {in_progress}")
        # Serve with both keys reads everything meanwhile (keys under either master key).
        self.read_back(engine, "rotation half done, serve with both keys", max(0, engine.ledger.count() - 300), sample=300)
        second = self.cli(engine, rotate)
        if "the keyring is now under master key" not in second.stdout:
            report.violation("the resumed rotation did not finish", second.stdout + second.stderr)
        third = self.cli(engine, rotate)
        if "already under master key" not in third.stdout:
            report.violation("a third rotation run did not say nothing to do", third.stdout + third.stderr)
        if self.metric(port, "iolog_master_key_rotation_in_progress") != 0:
            report.violation("after the rotation, iolog_master_key_rotation_in_progress is not 0")
        # Step 4: serve with NEW alone; OLD alone must be refused.
        self.stop_serve(engine, serve)
        refused_port = Ports.take()
        refused_err = self.logs / f"{engine.name}-serve-old-key.err"
        old_only = Processes.popen(
            [str(self.binary), "serve", "--port", str(refused_port), "--master-key-file", str(old)] + engine.data_args,
            self.logs / f"{engine.name}-serve-old-key.out", refused_err, cwd=self.work,
        )
        try:
            old_only.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(old_only.pid, signal.SIGKILL)
            old_only.wait()
        Processes.reap(old_only)
        if old_only.returncode != 1 or "does not match the keyring" not in refused_err.read_text(errors="replace"):
            report.violation("serve with the old key alone was not refused", f"exit {old_only.returncode}:\n{tail(refused_err)}")
        serve = self.start_serve(engine, port, ["--master-key-file", str(new)], "new-key", dev=False)
        engine.serves = [serve]
        engine.new_key = new
        resumed = re.search(r"rewrapped \d+ data keys", second.stdout)
        report.facts["rotation"] = (
            f"{total} data keys; killed after {done} rewrapped (rotation in progress: {in_progress}); resumed: "
            f"{resumed.group(0) if resumed else second.stdout.strip()[:100]}; old key alone refused; new key alone reads everything"
        )
        # Every acknowledged generation is read back with the new key alone at the end ("final").
        self.read_back(engine, "after the rotation, serve with the new key alone", engine.ledger.count() - 1000 if engine.ledger.count() > 1000 else 0)
        return serve

    def outage(self, engine, state, replicas, kind, hold):
        """One database outage under load; returns a summary line."""
        report = engine.report
        cluster = engine.cluster
        report.timeline = []
        probes = threading.Event()
        state.phase = f"pg-{kind}"

        def prober():
            client = Client(timeout=10)
            rng = random.Random(self.rng.random())
            while not probes.is_set():
                for serve in replicas:
                    for what in ("healthz", "post", "batch", "list", "detail"):
                        if probes.is_set():
                            break
                        started = time.monotonic()
                        if what == "healthz":
                            answer = client.request(serve.port, "GET", "/healthz", fresh=True)
                        elif what == "post":
                            item = engine.ledger.new(f"{engine.name}-probe", "demo-org")
                            answer = client.request(serve.port, "POST", "/v1/generations", state.gateway, generation_body(*item), fresh=True)
                            if answer.status in (200, 201):
                                engine.ledger.ack(item[0])
                        elif what == "batch":
                            items = [engine.ledger.new(f"{engine.name}-probe", "demo-org") for _ in range(3)]
                            answer = client.request(serve.port, "POST", "/v1/generations/batch", state.gateway, {"generations": [generation_body(*g) for g in items]}, fresh=True)
                            if answer.status == 200:
                                for item, result in zip(items, answer.body.get("results", [])):
                                    if result.get("status") in ("stored", "duplicate"):
                                        engine.ledger.ack(item[0])
                        elif what == "list":
                            answer = client.request(serve.port, "GET", "/v1/accounts/demo-org/generations?limit=5", state.admin, fresh=True)
                        else:
                            acked = engine.ledger.acked_ids("demo-org")
                            gen_id = rng.choice(acked)
                            answer = client.request(serve.port, "GET", f"/v1/accounts/demo-org/generations/{gen_id}", state.admin, fresh=True)
                        report.status(state.phase, f"probe-{what}", answer, started, serve.port)
                        time.sleep(0.02)
            client.close()

        if kind == "outage":
            cluster.ctl("--mode=immediate", "stop")
            down = time.monotonic()
            thread = threading.Thread(target=prober, daemon=True)
            thread.start()
            time.sleep(hold)
            probes.set()
            thread.join(timeout=30)
            up_begin = time.monotonic()
            cluster.ctl("start")
            up = time.monotonic()
        else:
            down = time.monotonic()
            cluster.ctl("--mode=immediate", "restart")
            up_begin = up = time.monotonic()
        # Recovery: each replica answers /healthz 200 and stores and reads a new generation.
        recovery = {}
        client = Client(timeout=10)
        deadline = up + 30
        pending = list(replicas)
        while pending and time.monotonic() < deadline + 30:
            for serve in list(pending):
                health = client.request(serve.port, "GET", "/healthz", fresh=True)
                if health.status != 200:
                    continue
                item = engine.ledger.new(f"{engine.name}-canary", "demo-org")
                answer = client.request(serve.port, "POST", "/v1/generations", state.gateway, generation_body(*item))
                if answer.status not in (200, 201):
                    continue
                engine.ledger.ack(item[0])
                read = client.request(serve.port, "GET", f"/v1/accounts/demo-org/generations/{item[0]}", state.admin)
                if read.status == 200:
                    recovery[serve.port] = time.monotonic() - up
                    pending.remove(serve)
            time.sleep(0.05)
        client.close()
        for serve in replicas:
            if serve.port not in recovery:
                report.violation(f"{kind}: replica on port {serve.port} did not serve again within 60 s of the database's return", f"\n{tail(serve.stderr)}")
            elif recovery[serve.port] > 30:
                report.violation(f"{kind}: replica on port {serve.port} took {recovery[serve.port]:.1f} s (> 30 s) to serve again")
            if not serve.alive():
                report.violation(f"{kind}: replica on port {serve.port} exited (status {serve.process.returncode})", f"\n{tail(serve.stderr)}")
        with report.lock:
            timeline, report.timeline = report.timeline, None
        # While down: every request begun after the stop and answered before the start must be a 503
        # within 2 s; one begun at least 2 s before the start must have been answered by then.
        seen = Counter()
        slowest = 0.0
        if kind == "outage":
            for started, ended, what, port, label, elapsed in timeline:
                if started < down:
                    continue
                if ended <= up_begin:
                    seen[label] += 1
                    slowest = max(slowest, elapsed)
                    if label != "503":
                        report.violation(f"database down: {what} on port {port} answered {label} (expected 503)")
                    elif elapsed > 2.0:
                        report.violation(f"database down: {what} on port {port} took {elapsed:.2f} s (> 2 s) to answer 503")
                elif started <= up_begin - 2.0:
                    seen["no answer within 2 s"] += 1
                    report.violation(f"database down: {what} on port {port} begun {up_begin - started:.1f} s before the restart got no answer until after it ({label} after {elapsed:.1f} s)")
        else:
            for started, ended, what, port, label, elapsed in timeline:
                if started >= down and started <= up:
                    seen[label] += 1
                    slowest = max(slowest, elapsed)
        report.count(f"database {kind}s")
        statuses = ", ".join(f"{label}: {n}" for label, n in seen.most_common()) or "none"
        recovered = ", ".join(f"port {p}: {t:.2f} s" for p, t in sorted(recovery.items())) or "never"
        if kind == "outage":
            line = f"stopped (immediate) for {up_begin - down:.1f} s: answers while down {{{statuses}}}, slowest {slowest:.2f} s; back after start in {recovered}"
        else:
            line = f"pg_ctl restart -m immediate ({up - down:.1f} s): answers during the restart {{{statuses}}}; back in {recovered}"
        log(f"  {line}")
        report.table[f"pg {kind}: answers"] = statuses
        if kind == "outage":
            report.table["pg outage: slowest answer"] = f"{slowest:.2f} s"
        report.table[f"pg {kind}: replicas back in"] = (
            f"{max(recovery.values()):.2f} s" if len(recovery) == len(replicas) else "NEVER"
        )
        return line

    def postgres_replicas(self, engine, state, serve):
        report = engine.report
        second_port = Ports.take()
        second = self.start_serve(engine, second_port, ["--master-key-file", str(engine.new_key)], "replica-2", dev=False)
        engine.serves = [serve, second]
        state.ports = [serve.port, second_port]
        state.phase = "replicas"
        state.light = False
        log(f"  second replica up on port {second_port}; load over both")
        time.sleep(self.sizes["settle_seconds"])
        watermark = engine.ledger.count()
        lines = []
        lines.append(self.outage(engine, state, [serve, second], "outage", self.sizes["outage_seconds"]))
        state.phase = "replicas"
        time.sleep(self.sizes["settle_seconds"])
        watermark = self.read_back(engine, "after the database outage", watermark)
        lines.append(self.outage(engine, state, [serve, second], "restart", 0))
        state.phase = "replicas"
        time.sleep(self.sizes["settle_seconds"])
        self.read_back(engine, "after the database restart", watermark)
        report.facts["postgres restarts"] = lines
        return second

    def run_engine(self, engine):
        report = engine.report
        log(f"== {engine.name}: {self.cycles} kill/restart cycles" + (" (short mode)" if self.short else ""))
        if engine.name == "postgres":
            engine.use_postgres()
            log(f"  PostgreSQL cluster at {engine.url} (in {engine.cluster.dir})")
        port = Ports.take()
        state = State(engine.name, None, None)
        engine.state = state
        load = None
        try:
            load, serve, _ = self.crash_loop(engine, state, port)
            state.phase = "after-crash-loop"
            if not self.short:
                # (In short mode the read-back after the erasure, a few seconds later, reads them all.)
                self.read_back(engine, "after the crash loop, every acknowledged generation", 0, everything=True)
            self.list_check(engine, "after the crash loop")
            state.phase = "deletion"
            state.light = True  # the maintenance steps run under a lighter load
            self.interrupted_deletion(engine, state, port)
            serve = self.interrupted_rotation(engine, state, engine.serves[0], port)
            if engine.cluster is not None:
                self.postgres_replicas(engine, state, serve)
            state.phase = "final"
            load.stop()
            load = None
            self.read_back(engine, "final, every acknowledged generation", 0, everything=True)
            self.list_check(engine, "final")
            erased = getattr(engine, "erased", [])
            if erased:
                sample = self.rng.sample(erased, min(500, len(erased)))
                verify(sample, engine.ledger, report, [s.port for s in engine.serves], engine.token_for_map(), "final", expect_gone=True)
            for serve in engine.serves:
                self.stop_serve(engine, serve)
            engine.serves = []
            self.checks_while_stopped(engine, "final (server stopped)")
        except Harness:
            raise
        except Exception as error:  # a bug of this script, or an answer it did not expect at all
            traceback.print_exc()
            raise Harness(f"{type(error).__name__}: {error}") from error
        finally:
            if load is not None:
                state.stop.set()
            for serve in engine.serves:
                if serve.alive():
                    serve.sigkill()
            engine.duration = time.monotonic() - engine.started

    def scan_logs(self, engine):
        """Server log lines that must never appear."""
        for path in sorted(self.logs.glob(f"{engine.name}-serve-*.err")):
            for line in path.read_text(errors="replace").splitlines():
                if MIDWAY_READ in line:
                    continue
                if "status=500" in line or "unhandled error" in line or "Fatal error" in line or " critical " in line:
                    engine.report.violation(f"server log {path.name}", line[:400])

    # ---- summary --------------------------------------------------------------------------

    def summary(self):
        rows = []

        def add(name, values):
            rows.append((name, values))

        engines = self.engines
        add("cycles (SIGKILL + restart)", [str(self.cycles) for _ in engines])
        add("acknowledged records", [str(len(e.ledger.acked_set) + len(getattr(e, "erased", []))) for e in engines])
        add("  of which erased on purpose", [str(len(getattr(e, "erased", []))) for e in engines])
        add("records lost (must be 0)", [str(len(e.report.lost)) for e in engines])
        add("records unreadable (must be 0)", [str(len(e.report.unreadable)) for e in engines])
        names = sorted({name for e in engines for name in e.report.checks})
        for name in names:
            add(f"checks: {name}", [str(e.report.checks.get(name, 0)) for e in engines])
        statuses = sorted({(kind, label) for e in engines for (phase, kind, label) in e.report.statuses})
        for kind, label in statuses:
            add(
                f"answers: {kind} {label}",
                [str(sum(n for (p, k, l), n in e.report.statuses.items() if k == kind and l == label)) for e in engines],
            )
        for name in ["serve restart after SIGKILL: mean / max", "pg outage: answers", "pg outage: slowest answer", "pg outage: replicas back in", "pg restart: answers", "pg restart: replicas back in"]:
            if any(name in e.report.table for e in engines):
                add(name, [e.report.table.get(name, "-") for e in engines])
        add("violations", [str(len(e.report.violations)) for e in engines])
        add("duration", [f"{e.duration:.0f} s" if e.duration else "-" for e in engines])
        width = max(len(name) for name, _ in rows) + 2
        print()
        print("=" * 78)
        column = max([14] + [len(v) + 2 for _, values in rows for v in values[:-1]])
        print("".ljust(width) + "".join(e.name.ljust(column) for e in engines))
        for name, values in rows:
            print(name.ljust(width) + "".join(v.ljust(column) for v in values))
        for engine in engines:
            print(f"\n{engine.name}:")
            for key, value in engine.report.facts.items():
                if isinstance(value, list):
                    print(f"  {key}:")
                    for line in value:
                        print(f"    - {line}")
                else:
                    print(f"  {key}: {value}")
        print("=" * 78)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--command", default="scripts/crash-test")
    args = parser.parse_args()
    run = Run(args)
    began = time.monotonic()
    interrupted = False

    def on_signal(number, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    log(f"crash test: {args.cycles} cycles per engine, engines {' '.join(run.engine_names)}, seed {run.seed}, "
        f"{'short' if run.short else 'full'} mode; work folder {run.work}")
    log(f"binary: {run.source_binary} (copied to {run.binary})")
    failed_harness = []
    try:
        for name in run.engine_names:
            engine = Engine(run, name)
            run.engines.append(engine)
            try:
                run.run_engine(engine)
            except Harness as error:
                failed_harness.append(f"[{name}] {error}")
                engine.report.violation(f"the test could not go on: {error}")
            finally:
                if engine.cluster is not None:
                    engine.cluster.stop()
            run.scan_logs(engine)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted", flush=True)
    finally:
        Processes.kill_all()
        for engine in run.engines:
            if engine.cluster is not None:
                engine.cluster.stop()
    violations = [v for e in run.engines for v in e.report.violations]
    if run.engines:
        run.summary()
    total = time.monotonic() - began
    print(f"command: {run.command}")
    print(f"seed: {run.seed} (IOLOG_CRASH_SEED={run.seed} repeats the kill timings)")
    print(f"duration: {total:.0f} s")
    if violations or interrupted:
        verdict = "INTERRUPTED" if interrupted and not violations else "FAILED"
        print(f"\n{verdict}: {len(violations)} violation(s); logs and data kept in {run.work}")
        for line in violations[:60]:
            print(f"  - {line}")
        if len(violations) > 60:
            print(f"  ... and {len(violations) - 60} more")
        # The copy of the binary is large and reproducible: drop it.
        run.binary.unlink(missing_ok=True)
        return 1
    if os.environ.get("IOLOG_CRASH_KEEP", "") not in ("", "0"):
        print(f"work folder kept: {run.work}")
    else:
        shutil.rmtree(run.work, ignore_errors=True)
    print("PASSED: nothing acknowledged was lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
