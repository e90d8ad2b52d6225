#!/usr/bin/env python3
"""An OpenAI-wire fake model server built on Python's own http.server, with its defaults.

It stands for the small servers swift-rlm meets in the wild: ThreadingHTTPServer, HTTP/1.0 (one connection
per request, closed by the server), a listen backlog of 5 (socketserver's request_queue_size), headers and
body written separately, Nagle's algorithm left on. Nothing here is tuned for the client.

  python3 fake_openai_server.py [--port 0] [--latency-ms 100] [--backlog 5] [--http11] [--nodelay] [--model fake-model]
                                [--break-streams N] [--break-streams-after-text N] [--exit-with-stdin]

--http11 answers HTTP/1.1 and keeps connections open (as cpp-httplib, llama.cpp's server, does);
--nodelay turns Nagle's algorithm off (http.server leaves it on and writes headers and body separately);
--break-streams N cuts the first N streamed replies off after their head, before any text;
--break-streams-after-text N cuts them off after the first piece of text.

Prints the port on stdout once it listens. Routes:
  POST /v1/chat/completions  a chat completion ("echo: <last user message>") after --latency-ms;
                             with "stream": true, the same reply as server-sent events
  GET  /v1/models            the model list
  GET  /stats                {"requests", "in_flight", "peak_in_flight", "connections", "errors"} as JSON
  POST /stats/reset          sets the counters to zero
Only ever binds 127.0.0.1.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stats:
    """Counters shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        self.errors = 0

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight,
                    "connections": self.connections, "errors": self.errors}


class Handler(BaseHTTPRequestHandler):
    # BaseHTTPRequestHandler's defaults are kept on purpose (protocol_version "HTTP/1.0").
    server_version = "FakeOpenAI/1.0"

    def setup(self):
        super().setup()
        with self.server.stats.lock:
            self.server.stats.connections += 1

    def log_message(self, format, *args):
        pass

    def send_json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})
        elif self.path == "/stats":
            self.send_json(200, self.server.stats.snapshot())
        else:
            self.send_json(404, {"error": {"message": "no route for GET %s" % self.path}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/stats/reset":
            with self.server.stats.lock:
                self.server.stats.reset()
            self.send_json(200, {"reset": True})
            return
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no route for POST %s" % self.path}})
            return
        try:
            request = json.loads(raw)
            prompt = request["messages"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            with self.server.stats.lock:
                self.server.stats.errors += 1
            self.send_json(400, {"error": {"message": "request body is not a chat request"}})
            return
        stats = self.server.stats
        with stats.lock:
            stats.requests += 1
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            time.sleep(self.server.latency)
        finally:
            with stats.lock:
                stats.in_flight -= 1
        text = "echo: %s" % prompt
        model = request.get("model") or self.server.model
        usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(text) // 4)}
        if request.get("stream"):
            self.send_stream(model, text, usage)
            return
        self.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": dict(usage, total_tokens=usage["prompt_tokens"] + usage["completion_tokens"]),
        })

    def send_stream(self, model, text, usage):
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                  {"choices": [{"index": 0, "delta": {"content": text}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"choices": [], "usage": usage}]
        events = []
        for chunk in chunks:
            chunk.update({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model})
            events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        body = b"".join(events)
        with self.server.stats.lock:
            breaks = self.server.break_streams
            cut_after_text = breaks == 0 and self.server.break_streams_after_text > 0
            if breaks:
                self.server.break_streams -= 1
            elif cut_after_text:
                self.server.break_streams_after_text -= 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        # A Content-Length even on a stream, so that a cut-off body is an error the client sees, not an end.
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if breaks or cut_after_text:
            # The role-only chunk carries no text; the cut comes before (or just after) the first piece of text.
            self.wfile.write(b"".join(events[:2] if cut_after_text else events[:1]))
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--backlog", type=int, default=None,
                        help="listen backlog (default: socketserver's request_queue_size, 5)")
    parser.add_argument("--http11", action="store_true",
                        help="answer HTTP/1.1 and keep connections open (the default is http.server's HTTP/1.0)")
    parser.add_argument("--nodelay", action="store_true",
                        help="set TCP_NODELAY on accepted sockets (the default leaves Nagle's algorithm on)")
    parser.add_argument("--break-streams", type=int, default=0)
    parser.add_argument("--break-streams-after-text", type=int, default=0)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when standard input closes (so a test that dies takes the server with it)")
    args = parser.parse_args()

    server_class = ThreadingHTTPServer
    if args.backlog is not None:
        server_class = type("BacklogServer", (ThreadingHTTPServer,), {"request_queue_size": args.backlog})
    handler_class = Handler
    if args.http11:
        handler_class = type("KeepAliveHandler", (handler_class,), {"protocol_version": "HTTP/1.1"})
    if args.nodelay:
        handler_class = type("NoDelayHandler", (handler_class,), {"disable_nagle_algorithm": True})
    server = server_class(("127.0.0.1", args.port), handler_class)
    server.break_streams = args.break_streams
    server.break_streams_after_text = args.break_streams_after_text
    server.latency = args.latency_ms / 1000.0
    server.model = args.model
    server.stats = Stats()
    print(server.server_address[1], flush=True)
    if args.exit_with_stdin:
        def watch_stdin():
            sys.stdin.buffer.read()
            os._exit(0)
        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
