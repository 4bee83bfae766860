#!/usr/bin/env python3
"""Throughput and time-to-first-token of a running mla-server (stdlib only; run by hand).

    bench_server.py http://127.0.0.1:8080 [--tokens 32] [--clients 1,2,4,8]

For each client count, that many clients each send one /v1/completions request with a distinct
prompt and max_tokens = --tokens at the same time; aggregate generation speed = all generated
tokens / wall time of the round (prefill included, as a user sees it), and the server's own
decode figure (predicted tokens / time of the passes that generated them) from /metrics. Then
time to first token of a streamed chat request with a long history, cold and with that history
already in a slot's cache (prefix reuse).
"""
import argparse
import json
import threading
import time
import urllib.request


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read())


def metrics(base):
    with urllib.request.urlopen(base + "/metrics") as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line.startswith("mla:"):
                k, v = line.split()
                out[k[4:]] = float(v)
        return out


def ttft(base, messages):
    req = urllib.request.Request(base + "/v1/chat/completions",
                                 json.dumps({"messages": messages, "stream": True, "max_tokens": 4,
                                             "temperature": 0, "logprobs": True}).encode(),
                                 {"Content-Type": "application/json"})
    t0 = time.time()
    first = None
    cached = None
    with urllib.request.urlopen(req, timeout=3600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            j = json.loads(line[6:])
            # The first chunk that carries a token (its text may be empty: logprobs mark it).
            if first is None and j["choices"] and j["choices"][0].get("logprobs"):
                first = time.time() - t0
            if "timings" in j:
                cached = j["timings"]["cache_n"]
                prompt_n = j["timings"]["prompt_n"]
    return first, cached, prompt_n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--history", type=int, default=20, help="sentences in the TTFT conversation")
    a = ap.parse_args()
    topics = ["the sea", "a mountain", "the city", "a forest", "the desert", "a river", "the sky", "a garden"]
    print("| clients | generated tokens | wall s | aggregate tokens/s | server decode tokens/s | forward passes |")
    print("|---|---|---|---|---|---|")
    for n in [int(x) for x in a.clients.split(",") if x]:
        m0 = metrics(a.base)
        results = [None] * n

        def run(i):
            results[i] = post(a.base + "/v1/completions",
                              {"prompt": "Write a long story about %s." % topics[i % len(topics)],
                               "max_tokens": a.tokens, "temperature": 0, "ignore_eos": True})
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        m1 = metrics(a.base)
        gen = sum(r["usage"]["completion_tokens"] for r in results)
        dgen = m1["tokens_predicted_total"] - m0["tokens_predicted_total"]
        # The server splits each pass's time between prompt and generation rows; use the
        # requests' own predicted_ms (all concurrent) for the decode rate.
        pred_ms = max(r["timings"]["predicted_ms"] for r in results)
        print("| %d | %d | %.2f | %.2f | %.2f | %d |" % (n, gen, wall, gen / wall, dgen / (pred_ms / 1000),
                                                          m1["forward_passes_total"] - m0["forward_passes_total"]))
    # A fresh nonce first, so no slot holds any of this conversation yet (a cold start).
    history = [{"role": "user", "content": "Run %d. Here is a text to remember. " % int(time.time()) + " ".join(
        "Sentence number %d says something about item %d." % (i, i * 7) for i in range(a.history))},
               {"role": "assistant", "content": "I will remember it."},
               {"role": "user", "content": "What does sentence 12 say?"}]
    cold, c0, p0 = ttft(a.base, history)
    warm_hist = history + [{"role": "assistant", "content": "It talks about item 84."},
                           {"role": "user", "content": "And sentence 13?"}]
    ttft(a.base, history)  # make sure the history sits in a slot
    warm, c1, p1 = ttft(a.base, warm_hist)
    print()
    print("| time to first token | prompt tokens evaluated | tokens reused | seconds |")
    print("|---|---|---|---|")
    print("| cold (no reuse) | %d | %d | %.3f |" % (p0, c0, cold))
    print("| follow-up turn (prefix reused) | %d | %d | %.3f |" % (p1, c1, warm))


if __name__ == "__main__":
    main()
