"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): put the run's content marker into
every generation schemathesis posts, and record every answer (status, Retry-After, and for a 5xx
the request) as one JSON line in $IOLOG_HOSTILE_CALLS, so the 5xx count does not depend on how
schemathesis groups its failures."""

from __future__ import annotations

import json
import os
import threading

import schemathesis

MARKER = os.environ.get("IOLOG_HOSTILE_MARKER", "")
CALLS = os.environ.get("IOLOG_HOSTILE_CALLS", "")
_lock = threading.Lock()


def _mark(generation) -> None:
    if isinstance(generation, dict):
        for key in ("prompt", "completion", "reasoning"):
            if key in generation:
                generation[key] = {"hostile_marker": MARKER, "value": generation[key]}


# The fixtures the rest of the run relies on: I/O logging stays on where the corpus and the final
# check store generations, and the tokens' users keep their roles. Stateful links (the inferred
# ones especially) can carry these values into any operation, so they are redirected here.
PROTECTED = json.loads(os.environ.get("IOLOG_HOSTILE_PROTECTED") or "{}")


def _protect(case) -> None:
    path = case.operation.path
    parameters = case.path_parameters if isinstance(case.path_parameters, dict) else None
    if not parameters:
        return
    if path.endswith("/settings/io-logging") and parameters.get("account") in PROTECTED.get("logging_accounts", []):
        parameters["account"] = PROTECTED["toggle_account"]
    if path.endswith("/members/{user}") and parameters.get("user") in PROTECTED.get("users", []):
        parameters["user"] = PROTECTED["spare_user"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if PROTECTED:
        _protect(case)
    if not MARKER or case.operation.method.upper() != "POST":
        return
    if case.operation.path == "/v1/generations":
        _mark(case.body)
    elif case.operation.path == "/v1/generations/batch" and isinstance(case.body, dict):
        items = case.body.get("generations")
        if isinstance(items, list):
            for item in items:
                _mark(item)


def _header(response, name: str) -> str | None:
    for key, values in response.headers.items():
        if key.lower() == name:
            return values[0] if isinstance(values, list) and values else values
    return None


def _write(record: dict) -> None:
    if not CALLS:
        return
    line = json.dumps(record, ensure_ascii=True)
    with _lock:
        with open(CALLS, "a") as out:
            out.write(line + "\n")


@schemathesis.hook
def after_call(context, case, response):
    record = {"operation": f"{case.operation.method.upper()} {case.operation.path}", "status": response.status_code,
              "retry_after": _header(response, "retry-after"), "seconds": round(response.elapsed, 3)}
    if response.status_code >= 500 or response.elapsed > 2:
        request = response.request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        record.update({"method": request.method, "url": request.url,
                       "content_type": request.headers.get("Content-Type"),
                       "body": body[:2000].decode("utf-8", "backslashreplace"), "body_bytes": len(body),
                       "answer": response.content[:500].decode("utf-8", "replace"),
                       "request_id": _header(response, "x-request-id")})
    _write(record)


@schemathesis.hook
def after_network_error(context, case, request):
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    _write({"operation": f"{case.operation.method.upper()} {case.operation.path}", "status": None,
            "network_error": True, "method": request.method, "url": request.url,
            "body": body[:2000].decode("utf-8", "backslashreplace"), "body_bytes": len(body)})


# Every check failure, one JSON line in $IOLOG_HOSTILE_FAILURES, with the answer's status and the
# curl command schemathesis prints. schemathesis' JSON report only counts failures by kind; this
# records each one. It wraps a method of schemathesis' recorder: if a future version renames it,
# the wrapper is skipped and only the report's counts remain.
FAILURES = os.environ.get("IOLOG_HOSTILE_FAILURES", "")
try:
    from schemathesis.engine.recorder import ScenarioRecorder

    _record_check_failure = ScenarioRecorder.record_check_failure

    def _recording(self, *, name, case_id, code_sample, failure, steps=None):
        try:
            interaction = self.interactions.get(case_id)
            status = getattr(getattr(interaction, "response", None), "status_code", None)
            line = json.dumps({"check": name, "code": getattr(failure, "code", None),
                               "title": getattr(failure, "title", None), "operation": self.label,
                               "status": status, "message": str(getattr(failure, "message", ""))[:600],
                               "curl": code_sample[:3000]}, ensure_ascii=True)
            if FAILURES:
                with _lock:
                    with open(FAILURES, "a") as out:
                        out.write(line + "\n")
        except Exception:  # never break schemathesis because of this record
            pass
        return _record_check_failure(self, name=name, case_id=case_id, code_sample=code_sample, failure=failure,
                                     steps=steps)

    ScenarioRecorder.record_check_failure = _recording
except Exception:  # pragma: no cover
    pass
