import Foundation
import ModelSimulator
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// New conversations over a cached context run in forks of one pristine REPL: copy-on-write copies, each walled
/// off from the others under strict. Attacked through the real `rlm serve`: one client's code plants files, a
/// thread and a process, and another client's code, running while the first one's REPL is alive, looks for
/// them, signals and traces them.
@Suite(.serialized) struct ServeForkIsolationTests {
    /// Where the first client leaves a file: every place its code can write.
    static let places = "['/tmp', tempfile.gettempdir(), os.getcwd(), '/dev/shm']"

    static func plantCode(marker: String) -> String {
        """
        import os, sys, subprocess, tempfile, threading, time, types, builtins
        for d in \(places):
            open(os.path.join(d, 'planted_by_a'), 'w').write('secret of a')
        planted_variable = 'a'
        sys.modules['planted_module'] = types.ModuleType('planted_module')
        builtins.planted_builtin = True
        context['planted'] = True
        threading.Thread(target=time.sleep, args=(300,), name='planted_thread').start()
        worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '\(marker)'])
        FINAL('planted')
        """
    }

    /// The second client: looks for every trace of the first, then signals and traces the first one's process
    /// by the number the host sees and by every number it can name.
    static func probeCode(marker: String, hostPID: Int32) -> String {
        """
        import os, sys, signal, threading, tempfile, builtins, ctypes
        seen = []
        for d in \(places):
            if os.path.exists(os.path.join(d, 'planted_by_a')): seen.append('file:' + d)
        if 'planted_variable' in globals(): seen.append('variable')
        if 'planted_module' in sys.modules: seen.append('module')
        if hasattr(builtins, 'planted_builtin'): seen.append('builtin')
        if 'planted' in context: seen.append('context')
        if any(t.name == 'planted_thread' for t in threading.enumerate()): seen.append('thread')
        for entry in (os.listdir('/proc') if os.path.isdir('/proc') else []):
            try:
                if b'\(marker)' in open('/proc/%s/cmdline' % entry, 'rb').read():
                    seen.append('proc:' + entry)
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
        own = {os.getpid()} | {t.native_id for t in threading.enumerate()}
        for pid in set(range(1, 4096)) - own:
            try:
                os.kill(pid, 0)
                seen.append('pid:%d' % pid)
            except OSError:
                pass
        try:
            os.kill(\(hostPID), signal.SIGKILL)
            seen.append('killed')
        except OSError:
            pass
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, \(hostPID), None, None) == 0: seen.append('ptraced')
        FINAL('seen:' + ','.join(seen))
        """
    }

    /// The first client again, in its own session: everything it planted is still there.
    static let checkCode = """
        import os, tempfile, threading
        files = all(os.path.exists(os.path.join(d, 'planted_by_a')) for d in \(places))
        thread = any(t.name == 'planted_thread' for t in threading.enumerate())
        FINAL('files=%s thread=%s worker=%s variable=%s' % (files, thread, worker.poll() is None, planted_variable == 'a'))
        """

    @Test(.timeLimit(.minutes(3)))
    func forkedClientsOfOneContextCannotSeeSignalOrTraceEachOther() async throws {
        let marker = "FORKMARK\(Int.random(in: 100_000...999_999))"
        let victim = Mutex<Int32>(0)
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            let text = request.lastUserText
            // A follow-up's prompt recalls the earlier questions: CHECK is looked for first.
            if text.contains("CHECK") { return SimulatedReply(text: replBlock(Self.checkCode)) }
            if text.contains("WARM") { return SimulatedReply(text: replBlock("FINAL('warm')")) }
            if text.contains("PLANT") { return SimulatedReply(text: replBlock(Self.plantCode(marker: marker))) }
            if text.contains("PROBE") {
                return SimulatedReply(text: replBlock(Self.probeCode(marker: marker, hostPID: victim.withLock { $0 })))
            }
            return SimulatedReply(text: replBlock("FINAL('unexpected question')"))
        }
        defer { Task { await model.shutdown() } }
        let stopped = Mutex<ContinuousClock.Instant?>(nil)
        let (replies, run) = try await Serve.with(
            ["--no-log"], environment: ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL]
        ) { handle in
            let context = ["doc": "one shared input"]
            // The first conversation loads the context; the cache then keeps a pristine copy to fork from.
            let warm = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("WARM", context: context))
            let plant = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("PLANT", context: context))
            let pid = try await Self.waitForProcess(marker)
            victim.withLock { $0 = pid }
            let probe = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("PROBE", context: context))
            let victimAlive = kill(pid, 0) == 0
            var follow = Serve.chat("CHECK")
            follow["session"] = ServeIsolationTests.summary(plant)["session"] as? String ?? "none"
            let check = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow)
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            stopped.withLock { $0 = .now }
            return (warm, plant, probe, check, metrics, victimAlive)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(ServeIsolationTests.answer(replies.0) == "warm", "\(replies.0.body)")
        #expect(ServeIsolationTests.answer(replies.1) == "planted", "\(replies.1.body)")
        #expect(ServeIsolationTests.answer(replies.2) == "seen:", "the second client reached the first: \(replies.2.body)")
        #expect(replies.5, "the first client's process survived the second client's signals")
        #expect(ServeIsolationTests.answer(replies.3) == "files=True thread=True worker=True variable=True",
                "the first client's REPL kept what it planted: \(replies.3.body)")
        // Both conversations were forks of the cached pristine, none a fall-back load.
        for reply in [replies.1, replies.2] {
            #expect(ServeIsolationTests.summary(reply)["context_cached"] as? Bool == true, "\(reply.body)")
        }
        #expect(replies.4.body.contains("rlm_context_cache_hits_total 2"), "\(replies.4.body)")
        #expect(replies.4.body.contains("rlm_context_cache_fork_fallbacks_total 0"), "\(replies.4.body)")
        // Shutdown: the forked REPL with its non-daemon sleeping thread and child process is gone within 2 s.
        let deadline = ContinuousClock.now + .seconds(2)
        while !CLI.processes(matching: marker).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(CLI.processes(matching: marker).isEmpty, "a forked REPL's process outlived the server")
        if let stopped = stopped.withLock({ $0 }) {
            #expect(ContinuousClock.now - stopped < .seconds(15), "the server stopped without waiting on the thread")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func underBasicNewConversationsAreForksThatStartClean() async throws {
        // `basic` gives no isolation from the host, so none between copies either; but a copy is still a process
        // of its own, started from the pristine: no state of another conversation is in it.
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            let text = request.lastUserText
            if text.contains("WARM") { return SimulatedReply(text: replBlock("FINAL('warm')")) }
            if text.contains("PLANT") { return SimulatedReply(text: replBlock(ServeIsolationTests.plantCode)) }
            return SimulatedReply(text: replBlock(ServeIsolationTests.probeCode))
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--no-log", "--sandbox", "basic"], environment: ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL]
        ) { handle in
            let context = ["doc": "one shared input"]
            _ = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("WARM", context: context))
            let plant = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("PLANT", context: context))
            let probe = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("PROBE", context: context))
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            return (plant, probe, metrics)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(ServeIsolationTests.answer(replies.0) == "planted", "\(replies.0.body)")
        #expect(ServeIsolationTests.answer(replies.1) == "seen:", "\(replies.1.body)")
        #expect(replies.2.body.contains("rlm_context_cache_fork_fallbacks_total 0"), "\(replies.2.body)")
        #expect(ServeIsolationTests.summary(replies.1)["context_cached"] as? Bool == true, "\(replies.1.body)")
    }

    @Test(.timeLimit(.minutes(3)))
    func moreLiveCopiesThanOneREPLsProcessCapAllStayForks() async throws {
        // 32 kept sessions and 40 runs at once, two processes each, pass the 128 one REPL may run: the pristine's
        // cap covers its copies, each copy caps itself, and none is refused or killed by its pristine's watch.
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL('ok')")) }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--no-log", "--max-concurrent-runs", "40"], environment: ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL]
        ) { handle in
            let context = ["doc": "one shared input"]
            _ = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("WARM", context: context))
            let answers = try await withThrowingTaskGroup(of: Serve.Reply.self) { group in
                for index in 0..<80 {
                    if index >= 40 { _ = try await group.next() }
                    group.addTask { try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("Q", context: context)) }
                }
                var last: [Serve.Reply] = []
                for try await reply in group { last.append(reply) }
                return last
            }
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            return (answers, metrics)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(replies.0.allSatisfy { ServeIsolationTests.answer($0) == "ok" }, "\(replies.0.map(\.body))")
        #expect(replies.1.body.contains("rlm_context_cache_fork_fallbacks_total 0"), "\(replies.1.body)")
        #expect(replies.1.body.contains("rlm_context_cache_hits_total 80"), "\(replies.1.body)")
        #expect(!run.stderr.contains("could not be forked"), "\(run.stderr)")
    }

    /// The host's process id of the process whose command line holds `marker`, once it runs.
    static func waitForProcess(_ marker: String) async throws -> Int32 {
        for _ in 0..<200 {
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
            for pid in pids {
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                if String(decoding: data, as: UTF8.self).contains(marker) { return pid }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Serve.Failure(description: "no process with \(marker) appeared")
    }
}
