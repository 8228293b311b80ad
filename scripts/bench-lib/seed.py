#!/usr/bin/env python3
"""Seed iolog with N generations through the real batch API (for benchmarks).

    seed.py URL GATEWAY_TOKEN ACCOUNT COUNT START_RFC3339

Items vary model, provider and user; created_at rises by 100 µs per item from START.
Prints the ids file path. Uses 3 parallel connections and batches of 1,000.
"""
import datetime
import http.client
import json
import sys
import threading
import urllib.parse

url, token, account, count, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
parts = urllib.parse.urlsplit(url)
t0 = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
MODELS = [("openai/gpt-4o", "OpenAI"), ("anthropic/claude-sonnet-4", "Anthropic"),
          ("google/gemini-2.5-pro", "Google"), ("meta-llama/llama-3.3-70b", "Together"),
          ("mistral/mistral-large", "Mistral")]
PROMPT = json.dumps([{"role": "system", "content": "You are a careful assistant."},
                     {"role": "user", "content": "Summarise the attached meeting notes. " * 12}])
COMPLETION = json.dumps({"role": "assistant", "content": "- Ship on Friday. " * 15})
BATCH = 1000


def item(i):
    model, provider = MODELS[i % len(MODELS)]
    created = (t0 + datetime.timedelta(microseconds=100 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ('{"id":"seed-%d","account_id":"%s","user_id":"user_%d","created_at":"%s","model":"%s",'
            '"provider":"%s","routing":{"region":"us"},"usage":{"prompt_tokens":300,"completion_tokens":90},'
            '"cost_usd":0.0012,"latency_ms":640,"finish_reason":"stop","prompt":%s,"completion":%s}'
            % (i, account, i % 97, created, model, provider, PROMPT, COMPLETION))


lock = threading.Lock()
next_start = 0
failures = []


def worker():
    global next_start
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    while True:
        with lock:
            first = next_start
            next_start += BATCH
        if first >= count or failures:
            return
        body = '{"generations":[' + ",".join(item(i) for i in range(first, min(first + BATCH, count))) + "]}"
        for _ in range(20):
            conn.request("POST", "/v1/generations/batch", body,
                         {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read()
            if response.status != 503:
                break
        if response.status != 200 or b'"error"' in answer:
            failures.append("batch at %d: %d %s" % (first, response.status, answer[:200]))
            return
        if first % 100000 == 0:
            print("seeded %d" % first, file=sys.stderr, flush=True)


threads = [threading.Thread(target=worker) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if failures:
    sys.exit("seeding failed: " + failures[0])
