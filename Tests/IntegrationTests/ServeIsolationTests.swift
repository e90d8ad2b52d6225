import AsyncHTTPClient
import Foundation
import ModelSimulator
import NIOCore
import Synchronization
import Testing

/// Clients of one `rlm serve` never see each other: a cached context is reused only as loaded input, and a
/// conversation goes on only for the client that names its session id.
@Suite struct ServeIsolationTests {
    static let environment = ["RLM_MODEL": "root"]

    /// What the first client's code leaves behind, in every place Python keeps state.
    static let plantCode = """
        import sys, types, threading, time, tempfile, os, builtins
        planted_variable = 'first client'
        sys.modules['planted_module'] = types.ModuleType('planted_module')
        builtins.planted_builtin = True
        context['planted'] = True
        threading.Thread(target=time.sleep, args=(30,), name='planted_thread', daemon=True).start()
        open(os.path.join(tempfile.gettempdir(), 'planted_file'), 'w').write('first client')
        FINAL('planted')
        """

    /// What the second client's code looks for.
    static let probeCode = """
        import sys, threading, tempfile, os, builtins
        seen = []
        if 'planted_variable' in globals(): seen.append('variable')
        if 'planted_module' in sys.modules: seen.append('module')
        if hasattr(builtins, 'planted_builtin'): seen.append('builtin')
        if 'planted' in context: seen.append('context')
        if any(t.name == 'planted_thread' for t in threading.enumerate()): seen.append('thread')
        if os.path.exists(os.path.join(tempfile.gettempdir(), 'planted_file')): seen.append('file')
        FINAL('seen:' + ','.join(seen))
        """

    @Test(.timeLimit(.minutes(3)))
    func secondClientWithTheSameContextSeesNothingOfTheFirst() async throws {
        let marker = "PLANT-\(Int.random(in: 10_000...99_999))"
        let leaked = Mutex(false)
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            if request.lastUserText.contains("PROBE") {
                if request.messages.contains(where: { $0.content.contains(marker) }) { leaked.withLock { $0 = true } }
                return SimulatedReply(text: replBlock(Self.probeCode))
            }
            return SimulatedReply(text: replBlock(Self.plantCode))
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--no-log"], environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            let context: [String: Any] = ["doc": "one shared input"]
            let first = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("\(marker) leave traces", context: context))
            let second = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("PROBE what is there?", context: context))
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            return (first, second, metrics)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(Self.answer(replies.0) == "planted", "\(replies.0.body)")
        #expect(Self.answer(replies.1) == "seen:", "the second client saw the first one's state: \(replies.1.body)")
        #expect(!leaked.withLock { $0 }, "the second client's conversation held the first client's question")
        // The second request still got the context already loaded, in a process no client's code ran in.
        #expect(Self.summary(replies.1)["context_cached"] as? Bool == true, "\(replies.1.body)")
        #expect(replies.2.body.contains("rlm_context_cache_hits_total 1"), "\(replies.2.body)")
        let sessions = [replies.0, replies.1].map { Self.summary($0)["session"] as? String }
        #expect(sessions[0] != nil && sessions[1] != nil && sessions[0] != sessions[1], "\(sessions)")
    }

    @Test(.timeLimit(.minutes(3)))
    func sessionIDContinuesTheConversationOnlyForItsOwner() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            // A follow-up's prompt recalls the earlier questions; the question asked now comes last.
            let text = request.lastUserText
            let asked = ["Q-SET", "Q-SLOW", "Q-GET"].max { (text.range(of: $0, options: .backwards)?.lowerBound ?? text.startIndex) < (text.range(of: $1, options: .backwards)?.lowerBound ?? text.startIndex) }
            switch asked {
            case "Q-SET": return SimulatedReply(text: replBlock("remembered = 41\nFINAL('set')"))
            case "Q-SLOW": return SimulatedReply(text: replBlock("FINAL('slow')"), delay: .seconds(4))
            default: return SimulatedReply(text: replBlock("FINAL(f'{remembered + 1} {len(context)}')"))
            }
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--no-log"], environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            let started = try await Serve.request(handle, "POST", "/v1/chat/completions",
                                                  json: Serve.chat("Q-SET remember a number", context: "sixteen characters"), token: "alpha")
            let id = Self.summary(started)["session"] as? String ?? "none"
            // The context is not sent again: the session's REPL holds it.
            var follow = Serve.chat("Q-GET what did you remember?")
            follow["session"] = id
            let continued = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow, token: "alpha")
            let otherToken = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow, token: "beta")
            let noToken = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow)
            var unknown = follow
            unknown["session"] = SessionLike.random
            let made = try await Serve.request(handle, "POST", "/v1/chat/completions", json: unknown, token: "alpha")
            // The header works too, streamed; and a second request while one runs in the session is refused.
            var slow = Serve.chat("Q-SLOW take your time", stream: true)
            slow["session"] = id
            let before = model.requestCount
            let running = Task { try await Serve.request(handle, "POST", "/v1/chat/completions", json: slow, token: "alpha") }
            for _ in 0..<1_200 where model.requestCount == before { try await Task.sleep(for: .milliseconds(50)) }
            let busy = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow, token: "alpha")
            let streamed = try await running.value
            let byHeader = try await Self.post(handle, json: Serve.chat("Q-GET again"), token: "alpha", session: id)
            return (started, continued, otherToken, noToken, made, busy, streamed, byHeader, id)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(replies.8.hasPrefix("sess_") && replies.8.count == 37, "\(replies.0.body)")
        #expect(Self.answer(replies.1) == "42 18", "\(replies.1.body)")
        #expect(Self.summary(replies.1)["session"] as? String == replies.8)
        for refused in [replies.2, replies.3, replies.4] {
            #expect(refused.status == 404, "\(refused.body)")
            #expect(refused.errorObject["code"] as? String == "session_not_found")
            #expect((refused.errorObject["message"] as? String ?? "").contains("without `session`"))
        }
        #expect(replies.5.status == 409, "\(replies.5.body)")
        #expect(replies.5.headers.first(name: "Retry-After") != nil)
        #expect(replies.6.status == 200 && replies.6.body.contains("\"session\":\"\(replies.8)\""), "\(replies.6.body)")
        #expect(Self.answer(replies.7) == "42 18", "\(replies.7.body)")
    }

    @Test(.timeLimit(.minutes(2)))
    func expiredSessionIsRefused() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            SimulatedReply(text: replBlock(request.lastUserText.contains("Q-SET") ? "kept = 1\nFINAL('set')" : "FINAL(str(kept))"))
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--no-log", "--session-ttl", "1"], environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            let started = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("Q-SET", context: "c"))
            var follow = Serve.chat("Q-GET")
            follow["session"] = Self.summary(started)["session"] as? String ?? "none"
            try await Task.sleep(for: .seconds(3))
            let late = try await Serve.request(handle, "POST", "/v1/chat/completions", json: follow)
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            return (late, metrics)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(replies.0.status == 404, "\(replies.0.body)")
        #expect((replies.0.errorObject["message"] as? String ?? "").contains("--session-ttl"))
        // The sweep ended the idle session's REPL.
        #expect(replies.1.body.contains("rlm_sessions 0"), "\(replies.1.body)")
    }

    /// A chat completion that names its session in the `X-RLM-Session` header.
    static func post(_ handle: Serve.Handle, json: [String: Any], token: String, session: String) async throws -> Serve.Reply {
        var request = HTTPClientRequest(url: handle.baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "X-RLM-Session", value: session)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Serve.Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    static func summary(_ reply: Serve.Reply) -> [String: Any] { reply.json["rlm"] as? [String: Any] ?? [:] }

    static func answer(_ reply: Serve.Reply) -> String? {
        ((reply.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    enum SessionLike {
        static var random: String { "sess_" + (0..<32).map { _ in String("0123456789abcdef".randomElement()!) }.joined() }
    }
}
