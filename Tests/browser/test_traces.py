"""OTLP trace ingest with real exporter output (DESIGN §4.5).

The OpenTelemetry Python SDK's OTLP/HTTP protobuf exporter (opentelemetry-exporter-otlp-proto-http)
sends GenAI-convention and OpenInference-style spans; an OpenRouter-Broadcast-shaped OTLP/JSON
trace is posted as Broadcast sends it; the Logs page shows the Broadcast generation in headless
Chromium. Run by scripts/test with the browser tests, against the debug build (or $IOLOG_BINARY).
"""
import datetime
import json
import os
import time
import unittest
import urllib.error
import urllib.request

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from selenium.webdriver.common.by import By

import iolog_browser as b

MARKER = "TRACE-MARKER-k3Jq"
PROMPT = [{"role": "system", "parts": [{"type": "text", "content": "Answer in one word."}]},
          {"role": "user", "parts": [{"type": "text", "content": "Capital of Peru? " + MARKER}]}]
COMPLETION = [{"role": "assistant", "parts": [{"type": "text", "content": "Lima"}], "finish_reason": "stop"}]


def broadcast_trace(now_ns):
    """One Broadcast export: the root `LLM Generation` span and a provider-attempt child span."""
    def attr(key, value):
        if isinstance(value, str):
            return {"key": key, "value": {"stringValue": value}}
        if isinstance(value, float):
            return {"key": key, "value": {"doubleValue": value}}
        return {"key": key, "value": {"intValue": str(value)}}
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "openrouter")]},
        "scopeSpans": [{"scope": {"name": "openrouter-broadcast"}, "spans": [
            {"traceId": trace, "spanId": "00f067aa0ba902b7", "name": "LLM Generation", "kind": 1,
             "startTimeUnixNano": str(now_ns - 2_000_000_000), "endTimeUnixNano": str(now_ns - 500_000_000),
             "attributes": [
                 attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "openai/gpt-4o"),
                 attr("gen_ai.response.model", "openai/gpt-4o"), attr("gen_ai.response.id", "gen-broadcast-1"),
                 attr("gen_ai.usage.input_tokens", 31), attr("gen_ai.usage.output_tokens", 9),
                 attr("gen_ai.usage.cost", 0.00017),
                 attr("gen_ai.prompt", json.dumps([{"role": "user", "content": "Broadcast question " + MARKER}])),
                 attr("gen_ai.completion", json.dumps([{"role": "assistant", "content": "Broadcast answer"}])),
                 attr("trace.metadata.openrouter.provider_name", "OpenAI"), attr("user.id", "user_77"),
                 attr("session.id", "sess-broadcast")],
             "status": {"code": 1}},
            {"traceId": trace, "spanId": "1111111111111111", "parentSpanId": "00f067aa0ba902b7",
             "name": "OpenAI attempt", "startTimeUnixNano": str(now_ns - 1_900_000_000),
             "endTimeUnixNano": str(now_ns - 600_000_000),
             "attributes": [attr("gen_ai.operation.name", "chat"), attr("gen_ai.provider.name", "openai")]},
        ]}]}]}


class TracesFromExporters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = b.Server(b.binary())
        cls.started = time.time()
        cls.ingest_token = cls.server.iolog("tokens", "create", "--ingest", "demo-org", "--label", "exporter tests")

    @classmethod
    def tearDownClass(cls):
        output = cls.server.output()
        cls.server.stop()
        # Nothing of the content in the server's output, nor in its data folder.
        leaks = [MARKER in output]
        for folder, _, files in os.walk(cls.server.data):
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    leaks.append(MARKER.encode() in f.read())
        cls.server.remove()
        assert not any(leaks), "a trace's content reached the output or the data folder in plain text"

    def api(self, path):
        request = urllib.request.Request(self.server.base + path, headers={"Authorization": "Bearer " + self.server.admin_token})
        return json.load(urllib.request.urlopen(request))

    def test_sdk_protobuf_exporter_genai_and_openinference_spans(self):
        exporter = OTLPSpanExporter(endpoint=self.server.base + "/v1/traces",
                                    headers={"Authorization": "Bearer " + self.ingest_token})
        provider = TracerProvider(resource=Resource.create({"service.name": "exporter-test"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("iolog-tests")
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", "gpt-4o")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.response.id", "chatcmpl-sdk-1")
            span.set_attribute("gen_ai.usage.input_tokens", 14)
            span.set_attribute("gen_ai.usage.output_tokens", 1)
            span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            span.set_attribute("gen_ai.input.messages", json.dumps(PROMPT))
            span.set_attribute("gen_ai.output.messages", json.dumps(COMPLETION))
            span.set_attribute("session.id", "sdk-session")
            with tracer.start_as_current_span("GET /weather") as child:
                child.set_attribute("http.request.method", "GET")
        with tracer.start_as_current_span("ChatCompletion") as span:
            span.set_attribute("openinference.span.kind", "LLM")
            span.set_attribute("llm.model_name", "gpt-4o-mini")
            span.set_attribute("llm.provider", "openai")
            span.set_attribute("llm.token_count.prompt", 5)
            span.set_attribute("llm.token_count.completion", 2)
            span.set_attribute("input.value", json.dumps({"messages": [{"role": "user", "content": "2+2? " + MARKER}]}))
            span.set_attribute("output.value", "4")
            inference = span.get_span_context()
        provider.shutdown()

        detail = self.api("/v1/accounts/demo-org/generations/chatcmpl-sdk-1")
        self.assertEqual(detail["prompt"], PROMPT)
        self.assertEqual(detail["completion"], COMPLETION)
        self.assertEqual((detail["model"], detail["provider"], detail["session_id"]), ("gpt-4o", "openai", "sdk-session"))
        self.assertEqual(detail["usage"], {"prompt_tokens": 14, "completion_tokens": 1})
        self.assertEqual(detail["finish_reason"], "stop")
        openinference_id = "otlp-%032x-%016x" % (inference.trace_id, inference.span_id)
        other = self.api("/v1/accounts/demo-org/generations/" + openinference_id)
        self.assertEqual(other["prompt"], {"messages": [{"role": "user", "content": "2+2? " + MARKER}]})
        self.assertEqual(other["completion"], "4")
        self.assertEqual(other["model"], "gpt-4o-mini")
        # The HTTP span was not a generation.
        listed = self.api("/v1/accounts/demo-org/generations?session_id=sdk-session")["data"]
        self.assertEqual([row["id"] for row in listed], ["chatcmpl-sdk-1"])

    def test_broadcast_json_trace_once_and_on_the_logs_page(self):
        # Its span starts 2 s before it is sent: after logging was turned on by `serve --dev`.
        time.sleep(max(0.0, self.started + 2.5 - time.time()))
        body = json.dumps(broadcast_trace(time.time_ns())).encode()
        for _ in range(2):
            request = urllib.request.Request(self.server.base + "/v1/traces", data=body, method="POST",
                                             headers={"Authorization": "Bearer " + self.ingest_token,
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                self.assertEqual(response.status, 200)
                self.assertEqual(json.load(response), {})
        detail = self.api("/v1/accounts/demo-org/generations/gen-broadcast-1")
        self.assertEqual((detail["model"], detail["provider"], detail["user_id"], detail["session_id"]),
                         ("openai/gpt-4o", "OpenAI", "user_77", "sess-broadcast"))
        self.assertEqual(detail["usage"], {"prompt_tokens": 31, "completion_tokens": 9})
        self.assertEqual(detail["cost_usd"], 0.00017)
        self.assertEqual(len(self.api("/v1/accounts/demo-org/generations?session_id=sess-broadcast")["data"]), 1)

        driver = b.chromium()
        try:
            b.login(driver, self.server, self.server.admin_token)
            driver.get(self.server.base + "/accounts/demo-org/logs/gen-broadcast-1")
            prompt = driver.find_element(By.ID, "panel-prompt")
            self.assertIn("Broadcast question", prompt.text)
            driver.find_element(By.ID, "label-completion").click()
            self.assertIn("Broadcast answer", driver.find_element(By.ID, "panel-completion").text)
            self.assertFalse(driver.find_element(By.ID, "panel-prompt").is_displayed())
            self.assertIn("sess-broadcast", driver.find_element(By.ID, "same-session").text)
        finally:
            driver.quit()

    def test_refusals_are_otlp_retryable_or_final(self):
        request = urllib.request.Request(self.server.base + "/v1/traces", data=b"\x00\xff", method="POST",
                                         headers={"Authorization": "Bearer " + self.ingest_token,
                                                  "Content-Type": "application/x-protobuf"})
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        self.assertEqual(refused.exception.code, 400)


if __name__ == "__main__":
    unittest.main()
