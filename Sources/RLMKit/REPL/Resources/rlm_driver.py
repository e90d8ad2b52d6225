"""swift-rlm REPL driver.

Runs inside the REPL child process. It loads the context from a file, then executes the
cells the Swift host sends, one at a time, in a single persistent namespace.

Channel: the host passes a bootstrap JSON line on stdin (socket path, token, context file),
then stdin is closed. Every other message travels as newline-delimited JSON over the Unix
socket at that path. The process's stdout and stderr belong to user code; they never carry
protocol messages.

Sub-model calls made by user code (llm_query & co.) are sent to the host and block the
calling thread until the host answers, so any number of Python threads may call them at once.
Every sub-call belongs to the cell that was running when it was made: when that cell ends or
is interrupted, its unanswered sub-calls are failed here and cancelled on the host, so nothing
keeps spending after the code that wanted the answers is gone.
"""

import ast
import base64
import builtins
import io
import itertools
import json
import os
import queue
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import types

RESERVED = (
    "context", "llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched",
    "FINAL", "FINAL_VAR", "answer", "SHOW_VARS", "rlm_history", "answer_schema", "check_answer",
)

# Set by the main thread around the model's code; the SIGINT handler raises only while it is true, so an
# interrupt that arrives as a cell finishes can never kill the interpreter.
IN_USER_CODE = [False]


def on_interrupt(signum, frame):
    if IN_USER_CODE[0]:
        raise KeyboardInterrupt


def encode_message(message):
    """One protocol line. NaN, Infinity and objects JSON cannot carry raise ValueError/TypeError here, in the
    sender, instead of producing a line the other side cannot read."""
    # Lone surrogates (from odd decoding in user code) must not make the line invalid UTF-8.
    return (json.dumps(message, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8", "replace")


ID_PATTERN = re.compile(rb'"id"\s*:\s*(\d+)')

# The channel's bounds, from the bootstrap line: a longer message travels as base64 `part` lines of at most
# part_bytes each; the host refuses a message over max_message_bytes (and a line it cannot end) as hostile.
CHANNEL_LIMITS = {"part_bytes": 1 << 20, "max_message_bytes": 64 << 20}


class MessageTooLarge(ValueError):
    pass


def frame(data):
    """The lines that carry one encoded message: itself, or its parts when it is long."""
    part = CHANNEL_LIMITS["part_bytes"]
    if len(data) <= part:
        return [data]
    limit = CHANNEL_LIMITS["max_message_bytes"]
    if len(data) > limit:
        raise MessageTooLarge("the message is %d MB, over the %d MB the REPL channel carries; write large "
                              "results to a file or send less" % (len(data) >> 20, limit >> 20))
    pieces = []
    for start in range(0, len(data), part):
        last = "true" if start + part >= len(data) else "false"
        chunk = base64.b64encode(data[start:start + part]).decode("ascii")
        pieces.append(('{"type": "part", "data": "%s", "last": %s}\n' % (chunk, last)).encode("ascii"))
    return pieces


class Channel:
    """Newline-delimited JSON over the host socket; writes are serialised by a lock."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb", buffering=1 << 16)
        self.write_lock = threading.Lock()
        # Guards pending, current_cell and cancelled_cell.
        self.state_lock = threading.Lock()
        self.pending = {}
        self.ids = itertools.count(1)
        self.commands = queue.Queue()
        self.closed = False
        self.current_cell = None
        self.cancelled_cell = None
        # Cells stopped at their time limit: threads they started may make no more sub-calls, ever.
        self.cancelled_cells = set()

    def reconnect(self, path):
        """In a forked copy: a socket of its own to the host, and fresh locks and queues (the threads that held
        the parent's did not survive the fork). The parent's socket must have been detached already."""
        self.__init__(path)
        threading.Thread(target=self.read_forever, name="rlm-channel", daemon=True).start()

    def send(self, message):
        self.write(frame(encode_message(message)))

    def write(self, lines):
        """Sends the lines of one message together, so that the parts of a long one are never interleaved."""
        with self.write_lock:
            for line in lines:
                self.sock.sendall(line)

    def read_forever(self):
        """Reader thread: routes sub-call results to their waiters, commands to the main loop."""
        try:
            for line in self.reader:
                try:
                    message = json.loads(line)
                except ValueError as problem:
                    self.undecodable(line, problem)
                    continue
                kind = message.get("type")
                if kind == "interrupt":
                    self.interrupt(message.get("cell"))
                elif kind == "llm_result":
                    self.resolve(message.get("id"), results=message.get("results"))
                elif kind == "llm_error":
                    self.resolve(message.get("id"), error="Error: " + str(message.get("message")))
                elif kind == "tool_result":
                    self.resolve(message.get("id"), results=[{"value": message.get("result")}])
                elif kind == "tool_error":
                    self.resolve(message.get("id"), error=str(message.get("message")))
                else:
                    self.commands.put(message)
        except Exception:  # the host went away; nothing useful can be reported over the channel
            pass
        self.closed = True
        self.fail_pending("Error: the host closed the REPL channel")
        self.commands.put({"type": "shutdown"})

    def undecodable(self, line, problem):
        """A host line that is not JSON fails the call it answers; it is never dropped in silence."""
        found = ID_PATTERN.search(line)
        text = "Error: the host's answer could not be decoded (%s)" % problem
        if found:
            self.resolve(int(found.group(1)), error=text)
        else:
            sys.__stderr__.write("rlm driver: an undecodable host message was ignored: %s\n" % problem)

    def resolve(self, request_id, results=None, error=None):
        with self.state_lock:
            slot = self.pending.pop(request_id, None)
        if slot is None:
            return
        if error is not None or not isinstance(results, list) or len(results) != slot["count"]:
            text = error or "Error: the host sent %r for %d prompt(s)" % (type(results).__name__, slot["count"])
            results = [text] * slot["count"]
        slot["results"] = results
        slot["event"].set()

    def interrupt(self, cell):
        """The host stopped `cell` (its time limit): refuse its further sub-calls, fail the waiting ones, and
        raise KeyboardInterrupt in the main thread if that cell is still the one running."""
        with self.state_lock:
            if cell is not None and cell != self.current_cell:
                return
            self.cancelled_cell = self.current_cell
            if self.current_cell is not None:
                self.cancelled_cells.add(self.current_cell)
        self.fail_cell(self.cancelled_cell, "Error: cancelled: the cell was interrupted at its time limit", notify=False)
        os.kill(os.getpid(), signal.SIGINT)

    def begin_cell(self, cell):
        with self.state_lock:
            self.current_cell = cell
            self.cancelled_cell = None

    def end_cell(self, cell):
        """Fails and cancels the sub-calls the finished cell left unanswered (threads it did not wait for)."""
        with self.state_lock:
            self.current_cell = None
        return self.fail_cell(cell, "Error: cancelled: the cell that made this sub-call had ended", notify=True)

    def fail_cell(self, cell, text, notify):
        with self.state_lock:
            ids = [i for i, slot in self.pending.items() if slot["cell"] == cell]
            slots = [self.pending.pop(i) for i in ids]
        for slot in slots:
            slot["results"] = [text] * slot["count"]
            slot["event"].set()
        if ids and notify and not self.closed:
            try:
                self.send({"type": "cancel", "ids": ids})
            except OSError:
                pass
        return len(ids)

    def fail_pending(self, text):
        with self.state_lock:
            slots = list(self.pending.values())
            self.pending.clear()
        for slot in slots:
            slot["results"] = [text] * slot["count"]
            slot["event"].set()

    def call_tool(self, name, arguments):
        """Calls a host tool and waits: its JSON result, or HostToolError with the host's message."""
        result = self.request({"type": "tool_call", "name": name, "arguments": arguments}, 1,
                              "%s(): the arguments must be JSON data (str, int, float, bool, None, list, dict) "
                              "without NaN or Infinity" % name)[0]
        if isinstance(result, dict) and "value" in result:
            return result["value"]
        text = str(result)
        raise HostToolError("%s: %s" % (name, text[len("Error: "):] if text.startswith("Error: ") else text))

    def call(self, kind, prompts, model=None, contexts=None):
        """Sends one sub-call request and waits for its results (a list, in prompt order)."""
        message = {"type": "llm_request", "kind": kind, "prompts": prompts,
                   "model": None if model is None else str(model)}
        if contexts is not None:
            message["contexts"] = contexts
        return self.request(message, len(prompts),
                            "%s: a context must be JSON data (str, int, float, bool, None, list, dict) "
                            "without NaN or Infinity" % (kind + "_query"))

    def request(self, message, count, unencodable):
        """Sends a request on behalf of the running cell and waits for its `count` results."""
        origin = getattr(threading.current_thread(), "rlm_cell", None)
        with self.state_lock:
            cell = self.current_cell
            if self.closed:
                refusal = "Error: the host closed the REPL channel"
            elif cell is None:
                refusal = ("Error: a sub-call was made while no cell was running (from a thread that outlived "
                           "its cell); it was not sent. Wait for your threads inside the cell.")
            elif cell == self.cancelled_cell or (origin is not None and origin in self.cancelled_cells):
                refusal = "Error: cancelled: the cell was interrupted at its time limit"
            else:
                refusal = None
            request_id = next(self.ids)
        if refusal:
            return [refusal] * count
        message.update({"id": request_id, "cell": cell})
        try:
            data = encode_message(message)
        except (TypeError, ValueError) as problem:
            raise TypeError("%s; %s" % (unencodable, problem)) from None
        lines = frame(data)  # MessageTooLarge reaches the caller as it is
        slot = {"event": threading.Event(), "results": None, "count": count, "cell": cell}
        with self.state_lock:
            self.pending[request_id] = slot
        self.write(lines)
        slot["event"].wait()
        return slot["results"]


def tag_threads_with_their_cell(channel):
    """Every thread remembers the cell that started it, so that a thread left behind by an interrupted cell
    cannot spend on behalf of the cells that follow."""
    original_start = threading.Thread.start

    def start(thread):
        thread.rlm_cell = channel.current_cell
        return original_start(thread)

    threading.Thread.start = start


class BoundedText(io.TextIOBase):
    """A text sink that keeps the head and the tail of what is written and counts the rest."""

    def __init__(self, limit):
        self.limit = max(limit, 64)
        self.tail_limit = self.limit // 4
        self.head_limit = self.limit - self.tail_limit
        self.head = []
        self.head_len = 0
        self.tail = ""
        self.total = 0
        self.lock = threading.Lock()

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        with self.lock:
            self.total += len(text)
            room = self.head_limit - self.head_len
            if room > 0:
                piece = text[:room]
                self.head.append(piece)
                self.head_len += len(piece)
                text = text[room:]
            if text:
                self.tail = (self.tail + text)[-self.tail_limit:]
        return len(text)

    def flush(self):
        pass

    def summary(self):
        head = "".join(self.head)
        return {"head": head, "tail": self.tail, "total": self.total}


def describe(value, replaced_chars, source):
    """What the root model is told about the context: type, sizes and a hint of the shape."""
    info = {"source": source}
    if isinstance(value, str):
        info.update({
            "type": "str",
            "chars": len(value),
            "lines": value.count("\n") + (0 if value.endswith("\n") or not value else 1),
            "format_hint": guess_format(value[:4000]),
        })
    elif isinstance(value, dict):
        sizes = [(str(k), text_size(v)) for k, v in value.items()]
        info.update({
            "type": "dict",
            "items": len(sizes),
            "total_chars": sum(s for _, s in sizes),
            "first_items": [{"key": k, "chars": n} for k, n in sizes[:20]],
            "largest_items": [{"key": k, "chars": n} for k, n in sorted(sizes, key=lambda kv: -kv[1])[:5]],
        })
    elif isinstance(value, list):
        sizes = [text_size(v) for v in value]
        kinds = sorted({type(v).__name__ for v in value[:1000]})
        info.update({
            "type": "list",
            "items": len(value),
            "total_chars": sum(sizes),
            "item_types": kinds,
            "first_item_sizes": sizes[:20],
            "largest_item": max(sizes) if sizes else 0,
        })
        if value and isinstance(value[0], dict):
            info["first_item_keys"] = [str(k) for k in list(value[0].keys())[:20]]
    else:
        info.update({"type": type(value).__name__, "chars": text_size(value)})
    if replaced_chars:
        info["replaced_invalid_utf8"] = replaced_chars
    return info


def text_size(value):
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value, ensure_ascii=False))
    except Exception:
        return len(str(value))


def guess_format(sample):
    stripped = sample.lstrip()
    lines = [line for line in sample.splitlines()[:40] if line.strip()]
    if not stripped:
        return "empty"
    if stripped[0] in "[{":
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines[:-1]):
            return "JSON lines"
        return "JSON"
    if lines and sum(line.count(",") >= 2 for line in lines) >= 0.8 * len(lines):
        return "comma-separated rows"
    if lines and sum(line.count("\t") >= 1 for line in lines) >= 0.8 * len(lines):
        return "tab-separated rows"
    if any(line.startswith("#") for line in lines) and any(line.startswith(("- ", "* ", "## ")) for line in lines):
        return "Markdown"
    if any(line.startswith(("def ", "class ", "import ", "func ", "fn ", "package ", "#include")) for line in lines):
        return "source code"
    return "plain text"


def read_text(path):
    """Reads UTF-8 text; invalid bytes become U+FFFD and are counted, never silently dropped."""
    try:
        with open(path, "r", encoding="utf-8", errors="strict", newline="") as handle:
            return handle.read(), 0
    except UnicodeDecodeError:
        with open(path, "r", encoding="utf-8", errors="replace", newline="") as handle:
            text = handle.read()
        return text, text.count("\ufffd")


def load_context(spec):
    path, fmt = spec["path"], spec["format"]
    if fmt == "text":
        text, replaced = read_text(path)
        return text, replaced, "text", []
    if fmt in ("json", "auto_json"):
        text, replaced = read_text(path)
        try:
            return json.loads(text), replaced, "JSON", []
        except ValueError:
            if fmt == "json":
                raise
            return text, replaced, "text (not valid JSON)", []
    if fmt == "manifest":
        value, replaced, notes = load_manifest(path)
        return value, replaced, "directory", notes
    raise ValueError("unknown context format " + repr(fmt))


class HostToolError(Exception):
    """A host tool failed; the message is the host's."""


def make_host_tool(channel, name, doc):
    """A Python function that forwards its JSON arguments to the host tool `name`: keyword arguments become an
    object, a single positional argument is sent as it is, several become a list."""
    def tool(*args, **kwargs):
        if args and kwargs:
            raise TypeError("%s(): pass keyword arguments or positional ones, not both" % name)
        if kwargs:
            arguments = kwargs
        elif len(args) == 1:
            arguments = args[0]
        elif args:
            arguments = list(args)
        else:
            arguments = {}
        return channel.call_tool(name, arguments)
    tool.__name__ = name
    tool.__qualname__ = name
    tool.__doc__ = doc
    return tool


def read_file_bytes(path):
    """A file's bytes in as few system calls as its size allows; None when its first 8 KiB hold a NUL (binary)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > 65536:
            head = os.read(fd, 8192)
            if b"\0" in head:
                return None
            chunks = [head]
        else:
            chunks = []
        while True:
            chunk = os.read(fd, max(size + 1, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def load_manifest(path):
    """Reads the files a manifest lists into {relative path: text}, in its order.

    Binary files (a NUL byte in the first 8 KiB) and unreadable ones are left out and said in notes; invalid
    UTF-8 becomes U+FFFD and is counted. The same rules the host applies when it encodes a directory itself."""
    with open(path, "r", encoding="utf-8") as handle:
        manifest = json.load(handle)
    root = manifest["root"]
    files = {}
    binary, unreadable, replaced_files, replaced = [], [], 0, 0
    for key in manifest["files"]:
        try:
            data = read_file_bytes(os.path.join(root, key))
        except OSError:
            unreadable.append(key)
            continue
        if data is None or b"\0" in data[:8192]:
            binary.append(key)
            continue
        try:
            files[key] = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            files[key] = text
            replaced_files += 1
            replaced += text.count("\ufffd")
    notes = []
    if binary:
        notes.append("%d binary file(s) left out (for example %s)" % (len(binary), ", ".join(binary[:3])))
    if unreadable:
        notes.append("%d unreadable file(s) left out (for example %s)" % (len(unreadable), ", ".join(unreadable[:3])))
    if replaced_files:
        notes.append("%d file(s) had invalid UTF-8; the bad bytes became U+FFFD" % replaced_files)
    return files, replaced, notes


class Session:
    """The persistent namespace and the functions the model's code can call."""

    def __init__(self, channel, boot):
        self.channel = channel
        self.limit = int(boot.get("max_output_chars", 20000))
        self.final = None
        self.final_source = None
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.cell_number = 0
        # What the host was told about the context; a forked copy tells its host the same.
        self.description = {}
        self.capture_file = tempfile.TemporaryFile(mode="w+b", dir=boot.get("workdir"))
        self.originals = {}
        self.tools = list(boot.get("tools") or [])

    def install(self, context):
        answer = {"content": "", "ready": False}
        self.originals = {
            "context": context,
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
            "FINAL": self.FINAL,
            "FINAL_VAR": self.FINAL_VAR,
            "answer": answer,
            "SHOW_VARS": self.SHOW_VARS,
            "rlm_history": [],
            "HostToolError": HostToolError,
            # The run's answer schema (None for a text answer); the host sets it with set_var.
            "answer_schema": None,
            "check_answer": self.check_answer,
        }
        for spec in self.tools:
            self.originals[spec["name"]] = make_host_tool(self.channel, spec["name"], spec.get("doc", ""))
        self.namespace.update(self.originals)

    def set_variable(self, name, value):
        self.namespace[name] = value
        if name in self.originals:  # a reserved name the host keeps up to date, such as rlm_history
            self.originals[name] = value

    # --- functions visible to the model's code -------------------------------------------

    def llm_query(self, prompt, model=None):
        """One sub-model call. Failures come back as a string starting with 'Error:'."""
        return self.channel.call("llm", [str(prompt)], model)[0]

    def llm_query_batched(self, prompts, model=None):
        """Many sub-model calls, run concurrently by the host; results in input order."""
        prompts = [str(p) for p in prompts]
        if not prompts:
            return []
        return self.channel.call("llm", prompts, model)

    def rlm_query(self, prompt, context=None):
        """A child RLM over `context` (or over the prompt itself when no context is given)."""
        contexts = None if context is None else [context]
        return self.channel.call("rlm", [str(prompt)], None, contexts)[0]

    def rlm_query_batched(self, prompts, contexts=None):
        """Several child RLMs at once; results in input order."""
        prompts = [str(p) for p in prompts]
        if contexts is not None:
            contexts = list(contexts)
            if len(contexts) != len(prompts):
                raise ValueError("rlm_query_batched: prompts and contexts must have the same length")
        if not prompts:
            return []
        return self.channel.call("rlm", prompts, None, contexts)

    def FINAL(self, value):
        """Submits str(value) as the final answer (its JSON text when the run has an answer schema)."""
        self.final = self.submission(value, "FINAL")
        self.final_source = "FINAL"

    def FINAL_VAR(self, name_or_value):
        """Submits the variable with this name, or the value itself when it is not a name."""
        if isinstance(name_or_value, str):
            name = name_or_value.strip().strip("'\"")
            if name in self.namespace and name not in RESERVED and name not in self.originals:
                self.final = self.submission(self.namespace[name], "FINAL_VAR")
                self.final_source = "FINAL_VAR"
                return
            if name.isidentifier():
                sys.stderr.write(
                    "FINAL_VAR: there is no variable named %r, so nothing was submitted. "
                    "Assign it first, or pass the value itself.\n" % name)
                return
        self.final = self.submission(name_or_value, "FINAL_VAR")
        self.final_source = "FINAL_VAR"

    # --- typed answers ------------------------------------------------------------------------

    def submission(self, value, via):
        """What is submitted: str(value), or with an answer schema the value's JSON text. A value JSON cannot
        carry raises TypeError naming it, so nothing half-converted is ever submitted."""
        if self.originals.get("answer_schema") is None:
            return value if isinstance(value, str) else str(value)
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as problem:
            raise TypeError("%s: this run's answer must be JSON data (dict, list, str, int, float, bool, None; "
                            "no NaN or Infinity) so it can be checked against answer_schema, and this value is "
                            "not: %s. Convert it (for example a set to a list) and submit again." % (via, problem))

    def check_answer(self, value):
        """Checks a value against answer_schema; returns the problems as 'path: message' strings, [] when it fits."""
        if self.originals.get("answer_schema") is None:
            raise ValueError("check_answer: this run has no answer schema; submit text with FINAL or FINAL_VAR.")
        self.submission(value, "check_answer")
        return self.channel.call_tool("check_answer", {"value": value})

    def SHOW_VARS(self):
        """Prints the names, types and sizes of the variables the code has created."""
        rows = []
        for name, value in self.namespace.items():
            if name.startswith("__") or name in RESERVED or name in self.originals or type(value).__name__ == "module":
                continue
            rows.append("%s: %s (%s)" % (name, type(value).__name__, size_label(value)))
        print("\n".join(rows) if rows else "(no variables yet)")

    # --- saving a session -------------------------------------------------------------------

    def save_variables(self):
        """Pickles each variable the code made. Modules, functions and classes are code, not data, and a value
        that does not pickle is skipped: each skipped name is reported with the reason, never dropped in
        silence. The pickles travel to the host base64-encoded (the scratch folder may be a private tmpfs)."""
        import base64
        import pickle
        saved, skipped = {}, {}
        for key, value in list(self.namespace.items()):
            if key.startswith("__") or key in self.originals or key in RESERVED:
                continue
            if isinstance(value, types.ModuleType):
                skipped[key] = "a module: import it again"
            elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
                skipped[key] = "code (a function or class), not data: define it again"
            else:
                try:
                    saved[key] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as problem:
                    skipped[key] = "does not pickle (%s: %s)" % (type(problem).__name__, problem)
        data = base64.b64encode(pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")
        return {"done": sorted(saved), "skipped": skipped, "data": data}

    def load_variables(self, data):
        """Restores variables saved by save_variables; a reserved name or a value that no longer unpickles is
        reported and skipped."""
        import base64
        import pickle
        saved = pickle.loads(base64.b64decode(data))
        done, skipped = [], {}
        for key, blob in saved.items():
            if key in self.originals or key in RESERVED:
                skipped[key] = "a reserved name of the REPL"
                continue
            try:
                self.namespace[key] = pickle.loads(blob)
                done.append(key)
            except Exception as problem:
                skipped[key] = "does not unpickle (%s: %s)" % (type(problem).__name__, problem)
        return {"done": sorted(done), "skipped": skipped}

    def host_command(self, command):
        """Runs a host command that is not model code (saving or loading variables); the report is the JSON
        text of an exec_result's stdout."""
        started = time.monotonic()
        try:
            if command["type"] == "save_vars":
                report = self.save_variables()
            else:
                report = self.load_variables(command["data"])
            text, error = json.dumps(report), False
        except Exception as problem:
            text, error = "%s: %s" % (type(problem).__name__, problem), True
        empty = {"head": "", "tail": "", "total": 0}
        captured = {"head": text, "tail": "", "total": len(text)}
        return {"type": "exec_result", "id": command["id"], "stdout": empty if error else captured,
                "stderr": captured if error else empty, "error": error, "final": None, "restored": [],
                "seconds": time.monotonic() - started}

    # --- cells ----------------------------------------------------------------------------

    def run_cell(self, cell_id, code):
        self.cell_number += 1
        out, err = BoundedText(self.limit), BoundedText(self.limit)
        error = False
        error_type = None
        interrupted = False
        self.final, self.final_source = None, None
        saved = sys.stdout, sys.stderr
        sys.stdout.flush()
        sys.stderr.flush()
        saved_fds = os.dup(1), os.dup(2)
        self.capture_file.seek(0)
        self.capture_file.truncate()
        os.dup2(self.capture_file.fileno(), 1)
        os.dup2(self.capture_file.fileno(), 2)
        sys.stdout, sys.stderr = out, err
        self.channel.begin_cell(cell_id)
        started = time.monotonic()
        try:
            IN_USER_CODE[0] = True
            self.execute(code)
            IN_USER_CODE[0] = False
        except KeyboardInterrupt:
            IN_USER_CODE[0] = False
            interrupted = True
            error = True
            error_type = "KeyboardInterrupt"
            err.write("\n[interrupted: the cell ran past its time limit]\n")
        except SystemExit as exit_request:
            IN_USER_CODE[0] = False
            err.write("[SystemExit(%r) ignored: the REPL keeps running]\n" % (exit_request.code,))
        except BaseException as problem:
            IN_USER_CODE[0] = False
            error = True
            error_type = type(problem).__name__
            err.write(format_user_traceback())
        finally:
            IN_USER_CODE[0] = False
            seconds = time.monotonic() - started
            sys.stdout, sys.stderr = saved
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
        cancelled = self.channel.end_cell(cell_id)
        if cancelled and not interrupted:
            err.write("[%d sub-call request(s) still waiting when the cell ended were cancelled: wait for your "
                      "threads inside the cell]\n" % cancelled)
        self.append_process_output(out)
        if interrupted:
            stopped = stop_descendants()
            if stopped:
                err.write("[stopped %d process(es) the cell had started]\n" % stopped)
        reap_zombies()
        over = PROCESS_WATCH.take_report()
        if over:
            err.write(over)
        if error:
            self.withdraw_submission(err)
        restored = self.check_answer_and_restore(submit=not error, err=err)
        if restored:
            err.write("[note: reserved name(s) %s were overwritten and have been restored]\n" % ", ".join(restored))
        return {
            "stdout": out.summary(),
            "stderr": err.summary(),
            "error": error,
            "error_type": error_type,
            "interrupted": interrupted,
            "final": self.final,
            "final_source": self.final_source,
            "restored": restored,
            "seconds": seconds,
            "peak_rss_kb": peak_rss_kb(),
        }

    def withdraw_submission(self, err):
        """A cell that raised submits nothing, even if it called FINAL or set answer["ready"] before failing."""
        answer = self.namespace.get("answer")
        ready = isinstance(answer, dict) and answer.get("ready")
        if self.final is not None or ready:
            err.write("[note: this cell raised after submitting an answer, so nothing was submitted. "
                      "Fix the error and submit again.]\n")
        self.final, self.final_source = None, None
        if ready:
            answer["ready"] = False

    def execute(self, code):
        """Runs a cell like a notebook: the value of a trailing expression is printed."""
        tree = ast.parse(code, filename="<cell %d>" % self.cell_number, mode="exec")
        tail = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            tail = ast.Expression(tree.body.pop().value)
        name = "<cell %d>" % self.cell_number
        exec(compile(tree, name, "exec"), self.namespace)
        if tail is not None:
            value = eval(compile(tail, name, "eval"), self.namespace)
            if value is not None:
                print(repr(value))

    def append_process_output(self, out):
        """Adds what child processes or C code wrote straight to file descriptors 1 and 2."""
        size = self.capture_file.seek(0, os.SEEK_END)
        if size == 0:
            return
        self.capture_file.seek(0)
        data = self.capture_file.read(min(size, 4 * self.limit))
        text = data.decode("utf-8", "replace")
        out.write(text)
        if size > len(data):
            out.total += size - len(data)

    def check_answer_and_restore(self, submit=True, err=None):
        answer = self.namespace.get("answer")
        if submit and isinstance(answer, dict) and answer.get("ready") and self.final is None:
            try:
                self.final = self.submission(answer.get("content", ""), 'answer["content"]')
                self.final_source = "answer"
            except TypeError as problem:
                answer["ready"] = False
                if err is not None:
                    err.write("[nothing was submitted: %s]\n" % problem)
        restored = []
        for name, original in self.originals.items():
            if self.namespace.get(name) is not original:
                self.namespace[name] = original
                restored.append(name)
        return restored


def become_subreaper():
    """Orphaned grandchildren (double forks) are re-parented to this process, so they can be found and stopped."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def descendants(root):
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found |= frontier
    return found


def children_tree(root):
    """The processes below `root`, walked through /proc/PID/task/TID/children (cheap: no scan of all of /proc)."""
    found, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for task in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (pid, task)) as handle:
                    children = handle.read().split()
            except OSError:
                if pid == root:
                    return descendants(root)  # a kernel without the children files
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
    return found


def stop_descendants():
    """Kills every process below this one (a fork bomb's children keep forking, so repeat until none is left)."""
    if os.getpid() == 1 and not os.path.isdir("/proc/self"):
        return stop_namespace()
    if not os.path.isdir("/proc"):
        return 0
    stopped = set()
    for _ in range(50):
        pids = descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                stopped.add(pid)
            except OSError:
                pass
        reap_zombies()
        time.sleep(0.02)
    reap_zombies()
    return len(stopped)


def stop_namespace():
    """A forked copy is PID 1 of its own PID namespace, with no /proc to walk: it kills every other process of
    the namespace, which are all its descendants."""
    stopped = 0
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.02)
        stopped += reap_zombies()
    return stopped + reap_zombies()


def reap_zombies():
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def peak_rss_kb():
    """This interpreter's peak resident memory (the host cannot see it through a sandbox's process tree)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def size_label(value):
    try:
        return "len %d" % len(value)
    except TypeError:
        return repr(value)[:40]


def format_user_traceback():
    """The traceback of the model's code, without the driver's own frames."""
    kind, value, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    keep = [f for f in frames if f.filename.startswith("<cell")]
    lines = ["Traceback (most recent call last):\n"] if keep else []
    lines += traceback.format_list(keep)
    lines += traceback.format_exception_only(kind, value)
    return "".join(lines)


class ProcessWatch:
    """Keeps the REPL's own processes and threads under a cap where RLIMIT_NPROC cannot do it alone: that limit
    counts every process of the user (a desktop session has hundreds), so it is set with headroom above what
    the user already runs, and this watch enforces the cap on what this interpreter started."""

    def __init__(self):
        self.limit = 0
        self.lock = threading.Lock()
        self.stopped = 0
        self.peak = 0

    def start(self, limit):
        self.limit = limit
        threading.Thread(target=self.run, name="rlm-process-watch", daemon=True).start()

    def restart(self, limit):
        """In a forked copy, whose watch thread did not survive the fork: the copy's own cap."""
        self.__init__()
        if limit:
            self.start(int(limit))

    def count(self):
        try:
            threads = len(os.listdir("/proc/self/task"))
        except OSError:
            threads = threading.active_count()
        return threads + len(children_tree(os.getpid()))

    def run(self):
        while True:
            time.sleep(0.2)
            count = self.count()
            if count <= self.limit:
                continue
            stopped = stop_descendants()
            with self.lock:
                self.peak = max(self.peak, count)
                self.stopped += stopped

    def take_report(self):
        with self.lock:
            stopped, peak = self.stopped, self.peak
            self.stopped, self.peak = 0, 0
        if not peak:
            return ""
        return ("[the REPL ran %d processes and threads, over its cap of %d: stopped %d child process(es)]\n"
                % (peak, self.limit, stopped))


PROCESS_WATCH = ProcessWatch()


def apply_limits(limits):
    """Caps this process (soft and hard, so the code cannot raise them) before any user data is loaded."""
    import resource
    caps = (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_CPU", "cpu_seconds"),
            ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_NPROC", "processes"))
    for name, key in caps:
        value = limits.get(key)
        if not value or not hasattr(resource, name):
            continue
        which = getattr(resource, name)
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    # Writing past the file-size cap then fails with an OSError instead of killing the interpreter.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


# --- forked copies (the cache of `rlm serve`) -----------------------------------------------
#
# A pristine driver (loaded, never ran code) answers `fork` commands: each makes a copy-on-write child that
# becomes one request's REPL, with the context already loaded. Under strict isolation the child is walled off
# from its siblings before it runs any code: new user, mount, PID, network and IPC namespaces, fresh tmpfs over
# every place it can write, the system remounted read-only, no /proc of the parent's PID namespace, the channel
# directory hidden, no capabilities, not dumpable. A step that fails aborts the fork: the host then loads anew.

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS = 0x40000000, 0x08000000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
MOUNT_OPTION_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                      "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
                      "strictatime": MS_STRICTATIME}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
PR_SET_DUMPABLE, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 23, 24, 38


class IsolationFailed(Exception):
    pass


class Isolation:
    """The steps that wall a forked child off from its siblings (Linux, inside the bubblewrap sandbox)."""

    def __init__(self):
        import ctypes
        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    @classmethod
    def shared(cls):
        if not hasattr(cls, "instance"):
            cls.instance = cls()
        return cls.instance

    def check(self, result, step):
        if result != 0:
            errno = self.ctypes.get_errno()
            raise IsolationFailed("%s: %s" % (step, os.strerror(errno)))

    def mount(self, source, target, fstype, flags, data, step):
        encode = lambda text: None if text is None else text.encode()
        self.check(self.libc.mount(encode(source), encode(target), encode(fstype), self.ctypes.c_ulong(flags),
                                   encode(data)), step)

    def enter_namespaces(self):
        """New user, mount, PID, network and IPC namespaces; this process stays the same user (65534)."""
        uid, gid = os.getuid(), os.getgid()
        self.check(self.libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                                     | CLONE_NEWUTS), "unshare")
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                           ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
            with open(path, "w") as handle:
                handle.write(text)

    def wall_off_files(self, scratch, scratch_bytes, channel_directory):
        """Every writable mount becomes read-only, then fresh private tmpfs go over the scratch folder, /tmp and
        /dev/shm, and the channel directory (siblings' sockets) is hidden."""
        self.mount(None, "/", None, MS_REC | MS_PRIVATE, None, "make the mounts private")
        fresh = {scratch: "mode=0700,size=%d" % scratch_bytes, "/tmp": "mode=1777,size=%d" % scratch_bytes}
        if os.path.isdir("/dev/shm"):
            fresh["/dev/shm"] = "mode=1777,size=%d" % scratch_bytes
        with open("/proc/self/mountinfo") as handle:
            mounts = [line.split(" - ")[0].split() for line in handle]
        for fields in mounts:
            target = fields[4].encode().decode("unicode_escape")
            options = fields[5].split(",")
            if "ro" in options or target.startswith("/proc") or target in fresh:
                continue
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY
            for option in options:
                flags |= MOUNT_OPTION_FLAGS.get(option, 0)
            self.mount(None, target, None, flags, None, "remount %s read-only" % target)
        for target, data in fresh.items():
            self.mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, data, "a fresh tmpfs on %s" % target)
        if os.path.isdir(channel_directory):  # not already gone with /tmp
            self.mount("tmpfs", channel_directory, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                       "mode=0555,size=4096", "hide the channel directory")

    def hide_proc(self):
        """An empty /proc: the parent PID namespace's processes (siblings included) are out of sight. (A new procfs
        cannot be mounted: bubblewrap's /proc has locked mounts over parts of it.)"""
        self.mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=0555,size=4096",
                   "hide /proc")

    def drop_privileges(self):
        """No capabilities, in any set, for good; not dumpable, so nothing can ptrace it or read its memory."""
        ctypes = self.ctypes
        for capability in range(64):
            self.libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        number = SYS_CAPSET.get(os.uname().machine)
        if number is None:
            raise IsolationFailed("capset: unknown system call number on %s" % os.uname().machine)
        header, data = Header(0x20080522, 0), (Data * 2)()
        self.check(self.libc.syscall(number, ctypes.byref(header), ctypes.byref(data)), "capset")
        self.check(self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        self.check(self.libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")
        header, data = Header(0x20080522, 0), (Data * 2)()
        self.check(self.libc.syscall(number - 1, ctypes.byref(header), ctypes.byref(data)), "capget")
        left = [field for item in data for field in (item.effective, item.permitted, item.inheritable) if field]
        if left or self.libc.prctl(PR_CAPBSET_READ, 21, 0, 0, 0) != 0:
            raise IsolationFailed("capabilities are left after dropping them")


def report_fork(pipe_end, text):
    try:
        os.write(pipe_end, text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass
    os.close(pipe_end)


def fork_child(channel, session, command):
    """Answers `fork` in the pristine driver: makes the child, waits until it says it is set up (or why not),
    and answers like a host command."""
    import warnings
    started = time.monotonic()
    # ctypes is loaded here, in the pristine, once: each copy inherits it instead of importing it again.
    isolation = Isolation.shared() if command.get("isolate") else None
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking with threads: the child restarts its own
        pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            become_forked_child(channel, session, command, writer, isolation)
        except BaseException as problem:  # nothing of the child may run on in the parent's loop
            report_fork(writer, "%s: %s" % (type(problem).__name__, problem))
        os._exit(70)
    os.close(writer)
    chunks = []
    while True:
        chunk = os.read(reader, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    threading.Thread(target=reap_child, args=(pid,), name="rlm-fork-reaper", daemon=True).start()
    text = b"".join(chunks).decode("utf-8", "replace")
    if text != "ok":
        return refusal(command["id"], text or "the forked child ended before it was set up", started)
    empty = {"head": "", "tail": "", "total": 0}
    return {"type": "exec_result", "id": command["id"], "stdout": empty, "stderr": empty, "error": False,
            "final": None, "restored": [], "seconds": time.monotonic() - started}


def refusal(command_id, text, started=None):
    """A failed host command's answer: the reason in stderr."""
    empty = {"head": "", "tail": "", "total": 0}
    return {"type": "exec_result", "id": command_id, "stdout": empty,
            "stderr": {"head": text, "tail": "", "total": len(text)}, "error": True, "final": None, "restored": [],
            "seconds": 0 if started is None else time.monotonic() - started}


def reap_child(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def become_forked_child(channel, session, command, writer, isolation):
    """In the fork: isolate (strict), then become a REPL of its own, connected to the host on its own socket.

    The socket is reached through a descriptor of the channel directory opened before the directory is hidden,
    and connected from the process that will run the code, so the host's SO_PEERCRED names that process."""
    os.setsid()
    directory = os.open(command["channel_directory"], os.O_RDONLY | os.O_DIRECTORY)
    if isolation is not None:
        isolation.enter_namespaces()
        isolation.wall_off_files(command["workdir"], int(command["scratch_bytes"]), command["channel_directory"])
        # The next fork is PID 1 of the new PID namespace: when it ends, everything it started ends too.
        grandchild = os.fork()
        if grandchild != 0:
            os.closerange(3, 65536)  # nothing but the wait
            _, status = os.waitpid(grandchild, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        os.setsid()
        isolation.hide_proc()
        isolation.drop_privileges()
    channel.sock.detach()  # the pristine's channel: closed below, never used here
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.fchdir(directory)
    channel.reconnect(os.path.basename(command["socket"]))
    workdir = command["workdir"]
    os.chdir(workdir)
    # Only the standard streams, the new channel and the pipe to the pristine stay open: the pristine's channel,
    # its capture file and the host's stderr pipe go.
    keep = sorted({channel.sock.fileno(), writer})
    os.closerange(3, keep[0])
    os.closerange(keep[0] + 1, keep[1])
    os.closerange(keep[1] + 1, 65536)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    tempfile.tempdir = None
    session.capture_file = tempfile.TemporaryFile(mode="w+b", dir=workdir)
    if command.get("processes"):
        # Lowered from the pristine's, which covers all its copies (after the new user namespace was made, so
        # the copies together stay under the pristine's and each one under its own).
        apply_limits({"processes": command["processes"]})
    PROCESS_WATCH.restart(command.get("watch_processes"))
    report_fork(writer, "ok")
    channel.send({"type": "ready", "token": command["token"], "pid": os.getpid(),
                  "python": sys.version.split()[0], "load_seconds": 0, "peak_rss_kb": peak_rss_kb(),
                  "description": session.description})
    serve_commands(channel, session)


def main():
    boot = json.loads(sys.stdin.readline())
    CHANNEL_LIMITS.update(boot.get("channel") or {})
    workdir = boot.get("workdir")
    if workdir:
        os.chdir(workdir)
    limits = boot.get("limits") or {}
    apply_limits(limits)
    become_subreaper()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    channel = Channel(boot["socket"])
    threading.Thread(target=channel.read_forever, name="rlm-channel", daemon=True).start()
    tag_threads_with_their_cell(channel)
    # SIGINT interrupts a running cell (the host's cell timeout); the terminal's Ctrl-C goes to the host.
    signal.signal(signal.SIGINT, on_interrupt)
    if limits.get("watch_processes"):
        PROCESS_WATCH.start(int(limits["watch_processes"]))
    started = time.monotonic()
    try:
        value, replaced, source, notes = load_context(boot["context"])
    except MemoryError:
        size = os.path.getsize(boot["context"]["path"])
        channel.send({"type": "fatal", "token": boot["token"], "reason": "memory",
                      "message": "the context (%d MB on disk) does not fit under the REPL memory cap of %d MB. "
                                 "Raise it with --repl-memory-mb." % (size >> 20, (boot.get("limits") or {}).get("memory_bytes", 0) >> 20)})
        return 3
    except Exception as problem:
        channel.send({"type": "fatal", "token": boot["token"],
                      "message": "could not load the context: %s: %s" % (type(problem).__name__, problem)})
        return 3
    session = Session(channel, boot)
    session.install(value)
    session.description = dict(describe(value, replaced, source), **({"notes": notes} if notes else {}))
    channel.send({
        "type": "ready",
        "token": boot["token"],
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "load_seconds": time.monotonic() - started,
        "peak_rss_kb": peak_rss_kb(),
        "description": session.description,
    })
    del value
    serve_commands(channel, session)


def serve_commands(channel, session):
    """The command loop, until the host says shutdown (or goes away)."""
    while True:
        try:
            command = channel.commands.get()
        except KeyboardInterrupt:  # cannot happen with on_interrupt, kept as a guard
            continue
        kind = command.get("type")
        if kind == "shutdown":
            stop_descendants()  # nothing the code started outlives the REPL
            # Never wait for threads the code left running (a normal exit joins every non-daemon thread).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if kind == "set_var":
            session.set_variable(command["name"], command["value"])
            continue
        if kind == "fork":
            if session.cell_number or session.namespace.keys() - session.originals.keys() - {"__name__", "__builtins__"}:
                channel.send(refusal(command["id"], "only a REPL that ran no code can be forked"))
            else:
                channel.send(fork_child(channel, session, command))
            continue
        if kind in ("save_vars", "load_vars"):
            channel.send(session.host_command(command))
            continue
        if kind == "exec":
            try:
                result = session.run_cell(command["id"], command["code"])
            except KeyboardInterrupt:  # an interrupt inside the driver's own bookkeeping of a cell
                result = {"stdout": {"head": "", "tail": "", "total": 0},
                          "stderr": {"head": "[interrupted]", "tail": "", "total": 13},
                          "error": True, "error_type": "KeyboardInterrupt", "interrupted": True,
                          "final": None, "final_source": None, "restored": [], "seconds": 0}
            result.update({"type": "exec_result", "id": command["id"]})
            try:
                channel.send(result)
            except (TypeError, ValueError) as problem:
                channel.send({"type": "exec_result", "id": command["id"], "error": True,
                              "stdout": {"head": "", "tail": "", "total": 0},
                              "stderr": {"head": "[the cell's result could not be encoded: %s]" % problem,
                                         "tail": "", "total": 0},
                              "final": None, "restored": [], "seconds": result.get("seconds", 0)})


if __name__ == "__main__":
    sys.exit(main())
