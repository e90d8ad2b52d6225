#!/usr/bin/env python3
"""Peak RSS of `rlm serve` while many clients upload large chat requests slowly at once (loopback only).

Starts `rlm serve` on a free 127.0.0.1 port (its model endpoint is a closed loopback port, so an admitted run
fails at its first model call and nothing leaves the machine), opens CLIENTS connections, sends each request's
head at once and then its body of MIB MiB in small pieces spread over SECONDS. A client stops sending as soon as
the server answers (a 429 from the run gate, say). The peak RSS is the kernel's high-water mark (VmHWM) for the
server's process. Bounded: CLIENTS <= 256, MIB <= 64, and the whole measurement ends after --deadline seconds.

    scripts/serve-slow-uploads.py [--rlm .build/debug/rlm] [--clients 64] [--mib 8] [--seconds 20]
"""
import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory(pid):
    """(VmRSS, VmHWM) of `pid` in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def wait_until_listening(port, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"rlm serve exited with {process.returncode} before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"rlm serve did not answer /healthz on port {port} within {seconds} s")


def request_bytes(port, mib):
    """A head and a valid chat completion body whose `context` makes it `mib` MiB."""
    filler = mib << 20
    body = json.dumps({"model": "rlm", "messages": [{"role": "user", "content": "How long is the context?"}],
                       "context": "x" * filler}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head, body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rlm", default=os.path.join(os.path.dirname(__file__), "..", ".build", "debug", "rlm"))
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--mib", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20, help="how long each upload is spread over")
    parser.add_argument("--deadline", type=float, default=120, help="the whole measurement stops after this")
    parser.add_argument("--max-concurrent-runs", type=int, default=4)
    options = parser.parse_args()
    if not (1 <= options.clients <= 256 and 1 <= options.mib <= 64 and 0 < options.seconds <= 300):
        sys.exit("--clients must be 1-256, --mib 1-64 and --seconds at most 300")

    port, model_port = free_port(), free_port()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir(),
                   "XDG_CONFIG_HOME": os.path.join(tempfile.gettempdir(), "rlm-rss-no-config"),
                   "XDG_CACHE_HOME": os.path.join(tempfile.gettempdir(), "rlm-rss-cache"),
                   "RLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1", "RLM_MODEL": "root"}
    server = subprocess.Popen([options.rlm, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-log",
                               "--max-concurrent-runs", str(options.max_concurrent_runs), "--sandbox", "none"],
                              env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_listening(port, server)
        idle_rss, _ = memory(server.pid)
        head, body = request_bytes(port, options.mib)
        piece = max(4096, len(body) // max(1, int(options.seconds * 20)))  # about 20 pieces a second
        interval = options.seconds * piece / len(body)

        selector = selectors.DefaultSelector()
        clients = []
        for index in range(options.clients):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(head)
            sock.setblocking(False)
            client = {"sock": sock, "sent": 0, "reply": b"", "done": False}
            clients.append(client)
            selector.register(sock, selectors.EVENT_READ, client)

        started = time.monotonic()
        peak_rss = idle_rss
        next_send = started
        while time.monotonic() - started < options.deadline and not all(c["done"] for c in clients):
            now = time.monotonic()
            if now >= next_send:
                for client in clients:
                    if client["done"] or client["reply"] or client["sent"] >= len(body):
                        continue
                    chunk = body[client["sent"]:client["sent"] + piece]
                    try:
                        client["sent"] += client["sock"].send(chunk)
                    except BlockingIOError:
                        pass
                    except OSError:
                        client["done"] = True
                next_send = now + interval
            for key, _ in selector.select(timeout=min(0.05, interval)):
                client = key.data
                try:
                    data = client["sock"].recv(65536)
                except OSError:
                    data = b""
                if data:
                    client["reply"] += data
                if not data or b"\r\n\r\n" in client["reply"]:
                    client["done"] = True
                    selector.unregister(client["sock"])
                    client["sock"].close()
            peak_rss = max(peak_rss, memory(server.pid)[0])
        _, high_water = memory(server.pid)
        statuses = {}
        for client in clients:
            line = client["reply"].split(b"\r\n", 1)[0].decode(errors="replace")
            status = line.split(" ")[1] if line.startswith("HTTP/") else "no reply"
            statuses[status] = statuses.get(status, 0) + 1
            if not client["done"]:
                client["sock"].close()
        bytes_sent = sum(c["sent"] for c in clients)
        print(json.dumps({
            "clients": options.clients, "body_mib": options.mib, "upload_seconds": options.seconds,
            "idle_rss_mib": round(idle_rss / 1024, 1), "peak_rss_mib": round(max(peak_rss, high_water) / 1024, 1),
            "statuses": statuses, "body_mib_sent": round(bytes_sent / (1 << 20), 1),
            "elapsed_s": round(time.monotonic() - started, 1)}))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
