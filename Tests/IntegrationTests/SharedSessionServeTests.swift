import Foundation
import ModelSimulator
import Synchronization
import Testing

/// Two `rlm serve` processes sharing `--session-dir` and `--session-key-env`: a conversation answered by one is
/// continued by the other, a session in use is locked for both, and a saved session is resumed only when its
/// signature holds and only by the token that started it.
@Suite struct SharedSessionServeTests {
    typealias Shared = NginxReplicaTests.Shared

    /// A shared folder and the environment both replicas run with.
    final class World: Sendable {
        let base: URL
        var sessions: URL { base.appendingPathComponent("sessions") }
        var marker: URL { base.appendingPathComponent("pwned") }
        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-shared-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: base) }

        func environment(_ model: ModelSimulator) -> [String: String] {
            ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL, "SERVE_TOKEN": "token-of-alice",
             "RLM_SESSION_KEY": "7f3c0d5e9a1b2c4d6e8f0a1b3c5d7e9f"]
        }

        func arguments(_ extra: [String] = []) -> [String] {
            ["--session-dir", sessions.path, "--session-key-env", "RLM_SESSION_KEY", "--auth-token-env", "SERVE_TOKEN", "--no-log"] + extra
        }

        /// The saved sessions' folders.
        var saved: [URL] {
            ((try? FileManager.default.contentsOfDirectory(at: sessions, includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.hasDirectoryPath }
        }
    }

    /// Answers by the question; "Wait?" holds its reply until `release` is set.
    static func model(holding: Shared<Bool>, release: Shared<Bool>) async throws -> ModelSimulator {
        let code = ["How long is it?": "n = len(context)\nFINAL(str(n))", "Triple it?": "n = n * 3\nFINAL(str(n))",
                    "Add one?": "FINAL(str(n + 1))", "Wait?": "FINAL('waited')"]
        return try await ModelSimulator.start(models: ["root"]) { request in
            if request.systemText.hasPrefix("You condense") { return SimulatedReply(text: "Summary of the earlier work.") }
            for (question, answer) in code where request.lastUserText.contains("The question to answer:\n\(question)") {
                if question == "Wait?" {
                    holding.set(true)
                    for _ in 0..<600 where !release.current { try? await Task.sleep(for: .milliseconds(100)) }
                }
                return SimulatedReply(text: replBlock(answer))
            }
            return SimulatedReply(text: replBlock("FINAL('unscripted')"))
        }
    }

    static func ask(_ handle: Serve.Handle, _ question: String, context: String? = nil, session: String? = nil,
                    token: String = "token-of-alice") async throws -> Serve.Reply {
        var body = Serve.chat(question, context: context)
        if let session { body["session"] = session }
        return try await Serve.request(handle, "POST", "/v1/chat/completions", json: body, token: token)
    }

    static func answer(_ reply: Serve.Reply) -> String? { NginxReplicaTests.content(reply) }

    @Test(.timeLimit(.minutes(4))) func aConversationAnsweredByOneReplicaIsContinuedByTheOtherAndLockedWhileInUse() async throws {
        let world = try World()
        let (holding, release) = (Shared(false), Shared(false))
        let model = try await Self.model(holding: holding, release: release)
        defer { Task { await model.shutdown() } }
        let environment = world.environment(model)
        let ((outcome, runB), runA) = try await Serve.with(world.arguments(["--instance-name", "replica-a"]), environment: environment) { a in
            try await Serve.with(world.arguments(["--instance-name", "replica-b"]), environment: environment) { b in
                let first = try await Self.ask(a, "How long is it?", context: "hello world")
                let session = (first.json["rlm"] as? [String: Any])?["session"] as? String ?? ""
                let onB = try await Self.ask(b, "Triple it?", session: session)
                // A's copy is older than B's answer: A resumes the saved one.
                let backOnA = try await Self.ask(a, "Add one?", session: session)
                // A request in the session on A locks it for B.
                let waiting = Task { try await Self.ask(a, "Wait?", session: session) }
                for _ in 0..<600 where !holding.current { try await Task.sleep(for: .milliseconds(50)) }
                let locked = try await Self.ask(b, "Add one?", session: session)
                release.set(true)
                let waited = try await waiting.value
                let afterLock = try await Self.ask(b, "Add one?", session: session)
                // A made-up id leaves nothing on the shared storage (no lock file).
                let madeUp = try await Self.ask(b, "Add one?", session: "sess_" + String(repeating: "0", count: 32))
                #expect(madeUp.status == 404, "\(madeUp.body)")
                return (first, session, onB, backOnA, locked, waited, afterLock)
            }
        }
        #expect(runA.exitCode == 0 && runB.exitCode == 0, "\(runA.stderr)\n\(runB.stderr)")
        let (first, session, onB, backOnA, locked, waited, afterLock) = outcome
        #expect(first.status == 200 && Self.answer(first) == "11", "\(first.body)")
        #expect(session.hasPrefix("sess_"))
        #expect(first.headers.first(name: "X-RLM-Session") == session)
        #expect(onB.status == 200 && Self.answer(onB) == "33", "the other replica did not resume the session: \(onB.body)")
        #expect(onB.headers.first(name: "X-RLM-Instance") == "replica-b")
        #expect(backOnA.status == 200 && Self.answer(backOnA) == "34", "replica A answered from its stale copy: \(backOnA.body)")
        #expect(locked.status == 409, "\(locked.body)")
        #expect(locked.headers.first(name: "Retry-After") != nil)
        #expect((locked.errorObject["message"] as? String ?? "").contains("replica-a"), "\(locked.body)")
        #expect(waited.status == 200 && Self.answer(waited) == "waited")
        #expect(afterLock.status == 200 && Self.answer(afterLock) == "34", "\(afterLock.body)")
        // One folder, named by a digest of the id (never the id), private.
        let folders = world.saved
        #expect(folders.count == 1 && !folders.contains { $0.lastPathComponent.contains(session) })
        let locks = ((try? FileManager.default.contentsOfDirectory(atPath: world.sessions.path)) ?? []).filter { $0.hasSuffix(".lock") }
        #expect(locks.count == 1, "\(locks)")
        for file in (try? FileManager.default.contentsOfDirectory(at: folders.first ?? world.base, includingPropertiesForKeys: nil)) ?? [] {
            #expect(SignedSessionTests.mode(file) == 0o600, "\(file.lastPathComponent)")
        }
    }

    @Test(.timeLimit(.minutes(3))) func aSharedSessionIsResumedOnlyByItsTokenAndOnlyUnchanged() async throws {
        let world = try World()
        let model = try await Self.model(holding: Shared(false), release: Shared(false))
        defer { Task { await model.shutdown() } }
        let environment = world.environment(model)
        // A third replica shares the folder and the key but serves another token.
        let bob = environment.merging(["SERVE_TOKEN": "token-of-bob"]) { $1 }
        // The context comes from files under a files root every replica sees; no sandbox, so that a pickle that
        // ran would leave its marker.
        let files = world.base.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        try "hello world".write(to: files.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
        let arguments = world.arguments(["--sandbox", "none", "--files-root", files.path])
        let (((outcome, runC), runB), runA) = try await Serve.with(arguments, environment: environment) { a in
            try await Serve.with(arguments, environment: environment) { b in
                try await Serve.with(arguments, environment: bob) { c in
                    var body = Serve.chat("How long is it?", paths: ["input.txt"])
                    body["model"] = "rlm"
                    let first = try await Serve.request(a, "POST", "/v1/chat/completions", json: body, token: "token-of-alice")
                    let session = (first.json["rlm"] as? [String: Any])?["session"] as? String ?? ""
                    let otherToken = try await Self.ask(c, "Triple it?", session: session, token: "token-of-bob")
                    let onB = try await Self.ask(b, "Triple it?", session: session)
                    // Someone who can write the folder but has no key swaps the variables for a pickle that runs code;
                    // A's copy is older than B's answer, so A must resume the saved one.
                    let folder = world.saved.first ?? world.base
                    try Data("cbuiltins\nopen\n(S'\(world.marker.path)'\nS'w'\ntR.".utf8)
                        .write(to: folder.appendingPathComponent("variables.pickle"))
                    let refused = try await Self.ask(a, "Add one?", session: session)
                    return (first, otherToken, onB, refused)
                }
            }
        }
        #expect(runA.exitCode == 0 && runB.exitCode == 0 && runC.exitCode == 0, "\(runA.stderr)\n\(runB.stderr)\n\(runC.stderr)")
        let (first, otherToken, onB, refused) = outcome
        #expect(first.status == 200 && Self.answer(first) == "11", "\(first.body)")
        #expect(otherToken.status == 404 && otherToken.errorObject["code"] as? String == "session_not_found", "\(otherToken.body)")
        #expect(onB.status == 200 && Self.answer(onB) == "33", "the session over context_paths was not resumed: \(onB.body)")
        #expect(refused.status == 500 && refused.errorObject["code"] as? String == "session_unresumable", "\(refused.body)")
        #expect((runA.stdout + runA.stderr).contains("does not match its signature"), "the refusal was not for the signature: \(runA.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.marker.path), "the changed pickle was loaded")
    }

    @Test func aSessionKeyWithoutASessionFolderOrTooShortIsRefusedAtStart() async throws {
        let alone = try await CLI.run(["serve", "--session-key-env", "RLM_SESSION_KEY"], environment: ["RLM_SESSION_KEY": String(repeating: "k", count: 32)])
        #expect(alone.exitCode == 2 && alone.stderr.contains("--session-dir"), "\(alone.stderr)")
        let world = try World()
        let short = try await CLI.run(["serve", "--port", "0", "--session-dir", world.sessions.path, "--session-key-env", "RLM_SESSION_KEY"],
                                      environment: ["RLM_SESSION_KEY": "short", "RLM_MODEL": "root", "RLM_BASE_URL": "http://127.0.0.1:9/v1"])
        #expect(short.exitCode == 2 && short.stderr.contains("fewer than 16 bytes"), "\(short.stderr)")
    }

    /// The lock is the kernel's (flock): a replica killed while it answers in a session leaves no lock behind.
    @Test(.timeLimit(.minutes(3))) func aReplicaKilledWhileItHoldsASessionLocksItNoLonger() async throws {
        let world = try World()
        let (holding, release) = (Shared(false), Shared(false))
        let model = try await Self.model(holding: holding, release: release)
        defer { Task { await model.shutdown() } }
        let environment = world.environment(model)
        let ((outcome, runB), _) = try await Serve.with(world.arguments(["--instance-name", "replica-a"]), environment: environment) { a in
            try await Serve.with(world.arguments(["--instance-name", "replica-b"]), environment: environment) { b in
                let first = try await Self.ask(a, "How long is it?", context: "hello world")
                let session = (first.json["rlm"] as? [String: Any])?["session"] as? String ?? ""
                let waiting = Task { try? await Self.ask(a, "Wait?", session: session) }
                for _ in 0..<600 where !holding.current { try await Task.sleep(for: .milliseconds(50)) }
                let locked = try await Self.ask(b, "Triple it?", session: session)
                a.signal(SIGKILL)
                for _ in 0..<600 where !Serve.isGone(a.pid) { try await Task.sleep(for: .milliseconds(50)) }
                _ = await waiting.value
                let afterCrash = try await Self.ask(b, "Triple it?", session: session)
                release.set(true)
                return (locked, afterCrash)
            }
        }
        #expect(runB.exitCode == 0, "\(runB.stderr)")
        let (locked, afterCrash) = outcome
        #expect(locked.status == 409, "\(locked.body)")
        #expect(afterCrash.status == 200 && Self.answer(afterCrash) == "33", "the dead replica's lock still holds: \(afterCrash.body)")
    }
}
