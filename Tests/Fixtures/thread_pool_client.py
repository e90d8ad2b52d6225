#!/usr/bin/env python3
"""A plain Python thread-pool client, the yardstick for swift-rlm's fan-out: N chat calls, C at a time.

  python3 thread_pool_client.py BASE_URL [--calls 200] [--concurrency 16] [--model fake-model]

BASE_URL ends in /v1. Prints the batch's wall time in seconds; exits 1 if any call failed (counted on stderr). Uses only the
standard library (urllib, a new connection per call), as a quick script would.
"""
import argparse
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def call(base_url, model, index):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "item %d" % index}]}).encode()
    request = urllib.request.Request(base_url + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["choices"][0]["message"]["content"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", default="fake-model")
    args = parser.parse_args()
    def attempt(index):
        try:
            return call(args.base_url, args.model, index)
        except Exception as error:  # a plain client: a failed call is counted, not retried
            return "failed: %r" % error

    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(attempt, range(args.calls)))
    elapsed = time.perf_counter() - started
    failed = [answer for index, answer in enumerate(answers) if answer != "echo: item %d" % index]
    print("%.3f" % elapsed)
    if failed:
        print("%d of %d calls failed, e.g. %s" % (len(failed), args.calls, failed[0]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
