"""scripts/hostile: attack a running `iolog serve --dev --demo` with hostile input; exit 1 on any violation.

    scripts/hostile [SCHEMATHESIS_CASES]      (default 10000)

Parts (see corpus.py and fuzz.py), run in this order: the corpus first, on a server no fuzzer has
changed yet, then schemathesis:
  1. schemathesis against docs/openapi.yaml with every token kind and stateful links, until it has
     generated at least SCHEMATHESIS_CASES cases;
  2. the hand corpus (corpus.py), with 300 slow-loris connections held open in the background;
  3. throughout: /healthz every 0.5 s (200 within 2 s, always), the server's peak resident memory,
     the process itself; after the run, the server's whole output and every byte of its data
     folder are searched for the content marker the run put into prompts, completions and
     reasoning (and the log for the X-Request-Id values it must not echo, and both for token
     secrets).

Environment: IOLOG_BINARY (the wrapper builds .build/debug/iolog when unset), IOLOG_HOSTILE_PORT
(default 12480), IOLOG_HOSTILE_ONLY (a regex: run only the corpus cases whose name matches, and
no schemathesis), IOLOG_HOSTILE_PARTS (corpus,schemathesis), IOLOG_HOSTILE_SEED,
IOLOG_HOSTILE_KEEP=1 (keep the work folder: server log, data, schemathesis reports).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402
import fuzz  # noqa: E402
from server import DEMO, MAX_BODY_BYTES, BODY_BYTES_IN_FLIGHT, Server, Watch  # noqa: E402

RSS_BOUND_MIB = 512
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def log(message: str = "") -> None:
    print(message, flush=True)


def server_log_lines(server: Server, needle: str, limit: int = 6) -> list[str]:
    if not needle:
        return []
    try:
        lines = open(server.stderr_path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return []
    return [line[:400] for line in lines if needle in line][:limit]


def variants(marker: str) -> dict[str, bytes]:
    """The marker as plaintext in the encodings a leak could take."""
    raw = marker.encode()
    found = {"utf-8": raw, "utf-16-le": marker.encode("utf-16-le"), "utf-16-be": marker.encode("utf-16-be")}
    for shift in range(3):  # base64 of any text containing it holds one of these three
        encoded = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:-4]
        found[f"base64/{shift}"] = encoded
    return found


def scan(paths: list[str], needles: dict[str, bytes]) -> list[str]:
    hits = []
    for root in paths:
        files = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
        for name in sorted(files):
            try:
                data = open(name, "rb").read()
            except OSError as error:
                hits.append(f"{name}: unreadable ({error})")
                continue
            for label, needle in needles.items():
                at = data.find(needle)
                if needle and at >= 0:
                    hits.append(f"{os.path.relpath(name)}: {label} at byte {at} "
                                f"(…{data[max(0, at - 40):at + len(needle) + 40]!r}…)")
    return hits


def run_corpus(server: Server, watch: Watch, marker: str, only: str | None) -> tuple[list[dict], corpus.Context]:
    corpus.register_traversal(os.path.join(REPO, "docs", "openapi.yaml"))
    ctx = corpus.Context(server, marker)
    selected = [case for case in corpus.CASES if not only or re.search(only, case.name)]
    budget = [case for case in selected if case.group == "body-budget"]
    rest = [case for case in selected if case.group != "body-budget"]
    log(f"part 2: hand corpus, {len(selected)} cases"
        + (f" (of {len(corpus.CASES)}; IOLOG_HOSTILE_ONLY={only})" if only else ""))
    stop = threading.Event()
    loris = None
    if not only or re.search(only, "slow loris"):
        loris = threading.Thread(target=corpus.slow_loris, args=(ctx, stop), daemon=True, name="loris")
        loris.start()
        log(f"  slow loris: {corpus.LORIS_CONNECTIONS} connections trickling a header byte every ~3 s "
            f"for {corpus.LORIS_SECONDS} s, in the background")
    records: list[dict] = []
    groups: Counter = Counter()
    started = time.monotonic()

    def on_case(item: corpus.Case) -> None:
        watch.doing(f"corpus: {item.name}")
        if groups[item.group] == 0:
            log(f"  {item.group} …")
        groups[item.group] += 1

    for item in rest:
        if not server.alive():
            break
        records += corpus.run_selected(ctx, [item], on_case)
    if loris is not None:
        watch.doing("corpus: waiting for the slow loris to finish")
        loris.join(timeout=corpus.LORIS_SECONDS + 60)
    for item in budget:
        if not server.alive():
            break
        records += corpus.run_selected(ctx, [item], on_case)
    if loris is not None:
        report = ctx.loris_report
        log(f"  slow loris: {report}")
        late = report.get("still_open_at_end", 1) > 0 or (report.get("last_close_s") or 0) > corpus.HEAD_DEADLINE + 5
        records.append({"name": "slow loris: 300 connections trickling header bytes", "group": "slow-loris",
                        "expect": f"closed by the server within {corpus.HEAD_DEADLINE + 5} s",
                        "outcome": f"{report.get('closed_by_server')} closed, last after {report.get('last_close_s')} s, "
                                   f"{report.get('still_open_at_end')} still open after {corpus.LORIS_SECONDS} s",
                        "expected": not late, "server_error": False,
                        "problems": ["connections outlived the head deadline"] if late else [],
                        "notes": [json.dumps(report)], "answer": "", "answer_error": None, "seconds": corpus.LORIS_SECONDS,
                        "request": None, "request_id": "", "why": "SECURITY.md: a request head must arrive within 10 s"})
    log(f"  {len(records)} corpus cases in {time.monotonic() - started:.0f} s")
    return records, ctx


def violation_of(record: dict) -> bool:
    return record["server_error"] or not record["expected"] or bool(record["problems"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="?", type=int, default=10000)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--port", type=int, default=int(os.environ.get("IOLOG_HOSTILE_PORT", "12480")))
    arguments = parser.parse_args()
    command = os.environ.get("IOLOG_HOSTILE_COMMAND") or " ".join(sys.argv)
    only = os.environ.get("IOLOG_HOSTILE_ONLY") or None
    parts = set((os.environ.get("IOLOG_HOSTILE_PARTS") or ("corpus" if only else "corpus,schemathesis")).split(","))
    seed = int(os.environ.get("IOLOG_HOSTILE_SEED") or random.randrange(1, 2**31))
    if not 12000 <= arguments.port <= 12999:
        log(f"warning: port {arguments.port} is outside 12000-12999")

    work = tempfile.mkdtemp(prefix="iolog-hostile-")
    binary = os.path.join(work, "iolog")
    shutil.copy2(arguments.binary, binary)  # a rebuild during the run must not change the server under test
    marker = "HOSTILE-MARKER-" + secrets.token_hex(8)
    server = Server(binary, arguments.port, work)
    started = time.monotonic()
    log(f"command: {command}")
    stat = os.stat(arguments.binary)
    with open(arguments.binary, "rb") as built:
        digest = hashlib.sha256(built.read()).hexdigest()[:16]
    log(f"binary:  {arguments.binary} (built {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(stat.st_mtime))} UTC, "
        f"sha256 {digest}; copied to {binary})")
    log(f"run:     seed {seed}, content marker {marker}")
    log(f"server:  {' '.join(server.command[1:])}")
    log(f"bounds:  peak RSS {RSS_BOUND_MIB} MiB; /healthz 200 within 2 s, polled every 0.5 s; "
        f"--max-body-bytes {MAX_BODY_BYTES}, --max-body-bytes-in-flight {BODY_BYTES_IN_FLIGHT}")
    watch = None
    corpus_records: list[dict] = []
    ctx = None
    fuzz_summary = None
    fatal: list[str] = []
    part_seconds = {}
    try:
        server.start()
        server.prepare()
        log("tokens:  gateway, platform (made before serve), admin demo-admin, member hostile-member, "
            "admin of another account, admin browser session")
        watch = Watch(server)
        watch.start()
        if "corpus" in parts:
            t = time.monotonic()
            corpus_records, ctx = run_corpus(server, watch, marker, only)
            part_seconds["corpus"] = time.monotonic() - t
        if "schemathesis" in parts and server.alive():
            t = time.monotonic()
            log(f"part 1: schemathesis, at least {arguments.cases} generated cases")
            watch.doing("schemathesis")
            fuzzer = fuzz.Fuzzer(server, work, marker, arguments.cases, seed, log)
            fuzzer.run()
            fuzz_summary = fuzzer.summary()
            part_seconds["schemathesis"] = time.monotonic() - t
        if server.alive():  # the server must still do its job after all this
            watch.doing("final check")
            final = corpus.Context(server, marker)
            status, setting = server.call("GET", f"/v1/accounts/{DEMO}/settings", server.tokens.admin)
            if status != 200 or not (setting or {}).get("io_logging", {}).get("enabled"):
                log(f"  note: I/O logging of {DEMO} was {setting} at the end; switched on again for the final check")
                server.call("PUT", f"/v1/accounts/{DEMO}/settings/io-logging", server.tokens.admin, {"enabled": True})
            body = final.generation(id=f"final-{marker[-16:]}")
            result = final.ingest(json.dumps(body).encode(), body["id"])
            if result.answer.status != 201 or result.problems:
                fatal.append(f"after the run a valid ingest answered {result.answer.outcome} "
                             f"{result.answer.text(200)} {result.problems}")
    except Exception as error:  # the attack itself broke: report it as a failure, with the server's log
        import traceback
        fatal.append(f"the run stopped: {type(error).__name__}: {error}")
        traceback.print_exc()
    finally:
        if watch is not None:
            watch.stop()
        running = server.alive()
        hwm = server.memory_kib("VmHWM") if running else None
        exit_code = server.stop()
    if not running:
        fatal.append(f"the server was not running at the end (exit status {server.process.returncode if server.process else '-'})"
                     f"; last log lines:\n{server.tail(15)}")
    peak_kib = max(hwm or 0, watch.peak_kib if watch else 0)

    # Part 3: leaks. Content marker everywhere; hostile request ids and token secrets in the log.
    marker_hits = scan([server.stdout_path, server.stderr_path, server.data_dir], variants(marker))
    needle_hits = []
    if ctx is not None:
        for needle in ctx.log_needles:
            if needle.encode("latin-1") in open(server.stderr_path, "rb").read():
                needle_hits.append(f"server log contains the X-Request-Id {needle!r}")
    secret_hits = scan([server.stderr_path, server.data_dir],
                       {f"{name} token": value.encode() for name, value in server.tokens.secrets().items()
                        if name != "session"})
    secret_hits += scan([server.stdout_path], {f"{name} token": value.encode() for name, value in
                                               server.tokens.secrets().items() if name not in ("gateway", "admin", "session")})

    # The server's own account of errors: every unhandled error and every 5xx (but 503) it logged.
    # Those a corpus case or schemathesis already reported are not counted twice.
    logged_errors: dict[str, str] = {}
    try:
        for line in open(server.stderr_path, encoding="utf-8", errors="replace"):
            if "unhandled error" in line or re.search(r"status=5(?!03)\d\d", line):
                found = re.search(r"hb\.request\.id=(\S+)", line)
                key = found.group(1) if found else line.strip()
                logged_errors.setdefault(key, line.strip()[:300])
    except OSError:
        pass
    seen = {r["request_id"] for r in corpus_records if violation_of(r)}
    if fuzz_summary is not None:
        seen |= {c.get("request_id") for c in fuzz_summary["server_errors"]}
    unseen_errors = {k: v for k, v in logged_errors.items() if k not in seen}

    # Summary
    log()
    log("=" * 100)
    violations = 0
    bad_records = [r for r in corpus_records if violation_of(r)]
    if corpus_records:
        log(f"HAND CORPUS: {len(corpus_records)} cases")
        for group, count in Counter(r["group"] for r in corpus_records).items():
            bad = sum(1 for r in corpus_records if r["group"] == group and violation_of(r))
            log(f"  {group:<18} {count:>5} cases  {bad:>4} violations")
        outcomes = Counter(r["outcome"] for r in corpus_records)
        log(f"  answers: {dict(sorted(outcomes.items()))}")
        secrets_shown = server.tokens.secrets()
        for record in bad_records:
            kind = "5xx" if record["server_error"] else ("unexpected" if not record["expected"] else "problem")
            log(f"  ✗ [{kind}] {record['group']}: {record['name']}")
            log(f"      expected {record['expect']}, got {record['outcome']}"
                + (f" ({record['answer_error']})" if record["answer_error"] else "") + f" in {record['seconds']} s")
            for problem in record["problems"]:
                log(f"      problem: {problem}")
            if record["request"] is not None:
                log("      request: " + record["request"].show(secrets_shown).replace("\n", "\n               "))
            if record["answer"]:
                log(f"      answer:  {record['answer'][:300]!r}")
            for line in server_log_lines(server, record["request_id"]):
                log(f"      log:     {line}")
        violations += len(bad_records)
        noted = [r for r in corpus_records if r["notes"] and not violation_of(r) and r["group"] != "slow-loris"]
        if noted:
            log(f"  notes ({len(noted)} cases):")
            for record in noted[:40]:
                log(f"    {record['name']}: {'; '.join(record['notes'])}")
    if ctx is not None and ctx.probes:
        log("CONTROL CHARACTERS IN METADATA (reported, not judged):")
        log(f"  {'field':<14} {'character':<26} {'ingest':<7} {'stored':<10} {'API shows':<26} {'Logs page shows':<34} list filter")
        for row in ctx.probes:
            log(f"  {row['field']:<14} {row['character']:<26} {row['ingest']:<7} {row['stored'][:10]:<10} "
                f"{row['api'][:26]!r:<26} {row['page'][:34]:<34} {row['list_filter']}")
    if fuzz_summary is not None:
        s = fuzz_summary
        log(f"SCHEMATHESIS: {s['generated']} generated cases reported by schemathesis (target {arguments.cases}), "
            f"{s['requests']} answers seen by the hooks, {len(s['runs'])} runs")
        for run in s["runs"]:
            log(f"  {run['label']:<14} {run['phases']:<26} -n {run['max_examples']:<4} seed {run['seed']:<11} "
                f"{run['generated']:>6} cases {run['seconds']:>7.1f} s  {run.get('stateful', '')}")
        log(f"  answers: {dict(sorted(s['statuses'].items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))}")
        for call in s["server_errors"][:20]:
            log(f"  ✗ [5xx] {call['status']} {call['operation']}: {call.get('method')} {call.get('url')}")
            log(f"      body ({call.get('body_bytes')} bytes): {call.get('body', '')[:400]}")
            log(f"      answer: {call.get('answer', '')[:300]}")
            for line in server_log_lines(server, call.get("request_id") or ""):
                log(f"      log:    {line}")
        for call in s["unannounced_503"][:5]:
            log(f"  ✗ [503 without Retry-After] {call['operation']}")
        for call in s["network_errors"][:10]:
            log(f"  ✗ [no answer] {call['operation']}: {call.get('method')} {call.get('url')} "
                f"body ({call.get('body_bytes')} bytes): {call.get('body', '')[:200]}")
        for failure in s["gate_failures"][:10]:
            log(f"  ✗ [{failure.get('code')} {failure.get('check')}] {failure.get('operation')}: answered "
                f"{failure.get('status')}: {failure.get('message', '')[:300]}")
            log(f"      reproduce: {failure.get('curl', '')[:1200]}")
        for error in s["tool_errors"][:5]:
            log(f"  (tool) {error['run']}: {error['error']}")
        for error in s["errors"][:10]:
            log(f"  ✗ [schemathesis error] {json.dumps(error)[:600]}")
        if s["slow"]:
            log(f"  slow answers (over 2 s): {len(s['slow'])}, e.g. "
                + "; ".join(f"{c['operation']} {c['seconds']} s" for c in s["slow"][:5]))
        violations += len(s["server_errors"]) + len(s["unannounced_503"]) + len(s["network_errors"]) \
            + len(s["gate_failures"]) + len(s["errors"])
        if s["generated"] < arguments.cases:
            log(f"  ✗ only {s['generated']} cases generated, fewer than {arguments.cases}")
            violations += 1
        if s["findings"]:
            log(f"  conformance findings (schemathesis checks other than not_a_server_error; reported, not the gate;"
                f" {s['failures_recorded']} failures, {s['failures_reported']} unique in schemathesis' reports),"
                f" by check and answer:")
            grouped: dict = {}
            for (check, operation), failures in s["findings"].items():
                for failure in failures:
                    entry = grouped.setdefault((check, failure.get("status")), {"count": 0, "operations": Counter(),
                                                                                 "example": failure})
                    entry["count"] += 1
                    entry["operations"][operation] += 1
            for (check, status), entry in sorted(grouped.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
                operations = [name for name, _ in entry["operations"].most_common()]
                example = entry["example"]
                detail = " ".join((example.get("message") or example.get("title") or "").split())
                log(f"    {check} answered {status}: x{entry['count']} on {len(operations)} operations: "
                    f"{', '.join(operations[:3])}{', …' if len(operations) > 3 else ''}")
                log(f"        {detail[:150]}")
                log(f"        e.g. {' '.join(example.get('curl', '').split())[:200]}")
            log("    (every failure with its curl command: .build/hostile/schemathesis-failures.jsonl)")
    log("WATCH:")
    health_failures = watch.failures if watch else []
    log(f"  /healthz: {watch.polls if watch else 0} polls, {len(health_failures)} without 200 within 2 s")
    for failure in health_failures[:15]:
        log(f"  ✗ [health] {failure}")
    violations += len(health_failures)
    log(f"  peak RSS of the server: {peak_kib / 1024:.1f} MiB (VmHWM; bound {RSS_BOUND_MIB} MiB)")
    if peak_kib / 1024 > RSS_BOUND_MIB:
        log("  ✗ [memory] over the bound")
        violations += 1
    log(f"  server running at the end: {'yes' if running else 'NO'}; exit status after SIGTERM: {exit_code}")
    if running and exit_code not in (0, None):
        fatal.append(f"the server exited with {exit_code} on SIGTERM")
    log(f"  content marker {marker}: {len(marker_hits)} hits in the server's output and data folder "
        f"({sum(len(files) for _, _, files in os.walk(server.data_dir)) + 2} files searched, every byte)")
    for hit in marker_hits[:20]:
        log(f"  ✗ [marker] {hit}")
    for hit in needle_hits + secret_hits:
        log(f"  ✗ [leak] {hit}")
    violations += len(marker_hits) + len(needle_hits) + len(secret_hits)
    log(f"  server log: {len(logged_errors)} requests with an unhandled error or a 5xx other than 503, "
        f"{len(unseen_errors)} of them not answered to any client as such (e.g. the client had gone)")
    for key, line in list(unseen_errors.items())[:10]:
        log(f"  ✗ [logged error] {line}")
    violations += len(unseen_errors)
    for message in fatal:
        log(f"  ✗ [fatal] {message}")
    violations += len(fatal)
    elapsed = time.monotonic() - started
    log("SUMMARY:")
    log(f"  cases: schemathesis {fuzz_summary['generated'] if fuzz_summary else 0} generated; hand corpus "
        f"{len(corpus_records)}; " + ", ".join(f"{k} {v:.0f} s" for k, v in part_seconds.items()))
    corpus_5xx = sum(1 for r in corpus_records if r["server_error"])
    log(f"  5xx (other than 503): corpus {corpus_5xx}, schemathesis {len(fuzz_summary['server_errors']) if fuzz_summary else 0}")
    log(f"  unexpected statuses: corpus {sum(1 for r in corpus_records if not r['expected'])}; "
        f"other problems: {sum(1 for r in corpus_records if r['problems'])}")
    log(f"  health failures {len(health_failures)}; peak RSS {peak_kib / 1024:.1f} MiB; marker hits {len(marker_hits)}; "
        f"other leaks {len(needle_hits) + len(secret_hits)}")
    log(f"  time: {elapsed:.0f} s; command: {command}")
    keep = violations > 0 or os.environ.get("IOLOG_HOSTILE_KEEP") == "1"
    report_path = os.path.join(work, "hostile-report.json")
    with open(report_path, "w") as out:
        json.dump({"command": command, "seed": seed, "marker": marker, "violations": violations,
                   "corpus": [dict(r, request=r["request"].show(server.tokens.secrets()) if r["request"] else None)
                              for r in corpus_records],
                   "probes": ctx.probes if ctx else [], "health_failures": health_failures, "peak_rss_kib": peak_kib,
                   "marker_hits": marker_hits, "leaks": needle_hits + secret_hits, "fatal": fatal,
                   "schemathesis": None if fuzz_summary is None else {
                       k: v for k, v in fuzz_summary.items() if k in ("generated", "requests", "server_errors",
                                                                       "network_errors", "gate_failures", "errors",
                                                                       "tool_errors")} | {
                       "findings": {" ".join(k): v[:5] for k, v in fuzz_summary["findings"].items()}}},
                  out, indent=1, default=str)
    saved = os.path.join(REPO, ".build", "hostile")
    try:
        shutil.rmtree(saved, ignore_errors=True)  # nothing from an earlier run may pass for this one's
        os.makedirs(saved, exist_ok=True)
        for name in ("hostile-report.json", "schemathesis-failures.jsonl", "server.stderr"):
            if os.path.exists(os.path.join(work, name)):
                shutil.copy2(os.path.join(work, name), os.path.join(saved, name))
        log(f"  report: {os.path.relpath(saved, REPO)}/hostile-report.json (and schemathesis-failures.jsonl, server.stderr)")
    except OSError as error:
        log(f"  report not saved under .build/hostile: {error}")
    try:
        os.remove(binary)  # the copy of the server is no use afterwards
    except OSError:
        pass
    if keep:
        log(f"  work folder kept: {work} (server.stderr, iolog-data, schemathesis-*.out/json, hostile-report.json)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    log(f"RESULT: {'FAIL, ' + str(violations) + ' violations' if violations else 'PASS'}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
