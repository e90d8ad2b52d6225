import AsyncHTTPClient
import Foundation
import ModelSimulator
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Two `rlm serve` processes on loopback behind Debian's nginx, configured as docs/server.md shows: affinity by
/// `X-RLM-Context-Key`, no request lost while one of them drains, streams passed through as they come. Each test
/// prints its figures (requests, share per replica, cache hits, requests lost).
@Suite(.serialized, .enabled(if: Nginx.available, "nginx is not installed (apt-get install nginx, as .ci/run does): rlm serve was not tested behind it"))
struct NginxReplicaTests {
    /// A value the tasks of a test share.
    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ initial: Value) { value = Mutex(initial) }
        var current: Value { value.withLock { $0 } }
        func set(_ new: Value) { value.withLock { $0 = new } }
        func add(_ change: @Sendable (inout Value) -> Void) { value.withLock { change(&$0) } }
    }

    /// Replica A is named with --instance-name; B keeps the default name (host name and port).
    static func withReplicas<T: Sendable>(_ arguments: [String], model: ModelSimulator, environment extra: [String: String] = [:],
                                          _ body: @escaping @Sendable (Serve.Handle, Serve.Handle) async throws -> T) async throws -> (value: T, a: CLI.Run, b: CLI.Run) {
        let environment = ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL].merging(extra) { $1 }
        let (inner, a) = try await Serve.with(arguments + ["--instance-name", "replica-a", "--no-log"], environment: environment) { a in
            try await Serve.with(arguments + ["--no-log"], environment: environment) { b in try await body(a, b) }
        }
        return (inner.value, a, inner.run)
    }

    /// A chat completion through nginx with a context key; returns the reply and the instance that answered.
    static func ask(_ front: Serve.Handle, key: String, context: String, question: String = "q") async throws -> (reply: Serve.Reply, instance: String) {
        let reply = try await Serve.request(front, "POST", "/v1/chat/completions", json: Serve.chat(question, context: context),
                                            headers: [("X-RLM-Context-Key", key)])
        return (reply, reply.headers.first(name: "X-RLM-Instance") ?? "?")
    }

    static func content(_ reply: Serve.Reply) -> String? {
        ((reply.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    static func cached(_ reply: Serve.Reply) -> Bool? { (reply.json["rlm"] as? [String: Any])?["context_cached"] as? Bool }

    static func metric(_ name: String, in text: String) -> Int {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
    }

    @Test(.timeLimit(.minutes(3))) func sameContextKeyStaysOnOneReplicaAndHitsItsCacheWhileKeysSpread() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL(f'{len(context)}')")) }
        defer { Task { await model.shutdown() } }
        let (outcome, a, b) = try await Self.withReplicas(["--cache-mb", "16"], model: model) { a, b in
            try await Nginx.with(upstreams: [a.port, b.port]) { front in
                let first = try await Self.ask(front, key: "docs-v1", context: "alpha context")
                let second = try await Self.ask(front, key: "docs-v1", context: "alpha context")
                // The key only steers the proxy: the server finds contexts by their content, never by the key.
                let other = try await Self.ask(front, key: "docs-v1", context: "beta")
                var spread: [(reply: Serve.Reply, instance: String)] = []
                for index in 0..<16 { spread.append(try await Self.ask(front, key: "user-\(index)", context: "context number \(index)")) }
                let owner = first.instance == "replica-a" ? a : b
                let metrics = try await Serve.request(owner, "GET", "/metrics").body
                return (first, second, other, spread.map { ($0.reply.status, $0.instance, Self.content($0.reply)) }, metrics, b.port)
            }.value
        }
        #expect(a.exitCode == 0 && b.exitCode == 0, "stderr: \(a.stderr)\n\(b.stderr)")
        let (first, second, other, spread, metrics, portB) = outcome
        let nameB = ProcessInfo.processInfo.hostName + ":\(portB)"
        #expect([first.reply, second.reply, other.reply].allSatisfy { $0.status == 200 }, "\(first.reply.body)")
        #expect(Set([first.instance, second.instance, other.instance]).count == 1, "one key went to several replicas")
        #expect(["replica-a", nameB].contains(first.instance), "X-RLM-Instance: \(first.instance)")
        #expect(Self.cached(first.reply) == false && Self.cached(second.reply) == true)
        #expect(Self.content(second.reply) == "13")
        #expect(Self.cached(other.reply) == false && Self.content(other.reply) == "4", "\(other.reply.body)")
        #expect(Self.metric("rlm_context_cache_hits_total", in: metrics) == 1, "\(metrics)")
        #expect(spread.allSatisfy { $0.0 == 200 })
        #expect(spread.enumerated().allSatisfy { $0.element.2 == "\("context number \($0.offset)".count)" })
        let share = Dictionary(grouping: spread, by: \.1).mapValues(\.count)
        #expect(share["replica-a", default: 0] > 0 && share[nameB, default: 0] > 0, "16 keys all went to one replica: \(share)")
        print("nginx affinity: 3 requests with one key -> \(first.instance) (cache hits there: \(Self.metric("rlm_context_cache_hits_total", in: metrics))); 16 keys -> \(share.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
    }

    @Test(.timeLimit(.minutes(4))) func replicaSentSIGTERMMidLoadLosesNoRequest() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL(f'{len(context)}')"), delay: .milliseconds(400))
        }
        defer { Task { await model.shutdown() } }
        let total = 64
        let (outcome, a, b) = try await Self.withReplicas(["--max-concurrent-runs", "16", "--drain-timeout", "60"], model: model) { a, b in
            try await Nginx.with(upstreams: [a.port, b.port]) { front in
                let done = Shared(0)
                let signalled = Shared<ContinuousClock.Instant?>(nil)
                let replies = try await withThrowingTaskGroup(of: [(Int, Int, String, String?, Bool)].self) { group in
                    // SIGTERM to replica A once the load is under way and A has runs going.
                    group.addTask {
                        for _ in 0..<600 {
                            let running = (try? await Serve.request(a, "GET", "/healthz"))?.json["running"] as? String
                            if done.current >= 8, let running, Int(running) ?? 0 > 0 { break }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        signalled.set(.now)
                        a.signal(SIGTERM)
                        return []
                    }
                    // 12 clients, each asking in turn; every request has a key of its own.
                    for worker in 0..<12 {
                        group.addTask {
                            var mine: [(Int, Int, String, String?, Bool)] = []
                            for index in stride(from: worker, to: total, by: 12) {
                                let context = String(repeating: "x", count: index + 1)
                                let (reply, instance) = try await Self.ask(front, key: "load-\(index)", context: context)
                                let afterSignal = signalled.current != nil
                                mine.append((index, reply.status, instance, Self.content(reply), afterSignal))
                                done.add { $0 += 1 }
                            }
                            return mine
                        }
                    }
                    var all: [(Int, Int, String, String?, Bool)] = []
                    for try await part in group { all += part }
                    return all
                }
                // Once A has exited, its port refuses connections: nginx sends everything to B.
                for _ in 0..<600 where !Serve.isGone(a.pid) { try await Task.sleep(for: .milliseconds(50)) }
                var after: [(Int, Int, String, String?, Bool)] = []
                for index in total..<(total + 8) {
                    let (reply, instance) = try await Self.ask(front, key: "load-\(index)", context: String(repeating: "x", count: index + 1))
                    after.append((index, reply.status, instance, Self.content(reply), true))
                }
                return (replies + after, Serve.isGone(a.pid), signalled.current != nil)
            }.value
        }
        let (replies, aExited, wasSignalled) = outcome
        #expect(wasSignalled && aExited, "replica A did not drain and exit")
        #expect(a.exitCode == 0, "stderr: \(a.stderr)")
        #expect(a.stderr.contains("draining"))
        #expect(b.exitCode == 0, "stderr: \(b.stderr)")
        let lost = replies.filter { $0.1 != 200 || $0.3 != "\($0.0 + 1)" }
        #expect(replies.count == total + 8)
        #expect(lost.isEmpty, "requests lost during the drain: \(lost.map { "#\($0.0) \($0.1) \($0.3 ?? "-")" })")
        let share = Dictionary(grouping: replies, by: \.2).mapValues(\.count)
        let aAfter = replies.filter { $0.2 == "replica-a" && $0.4 }.count
        #expect(share["replica-a", default: 0] > 0, "replica A answered nothing: \(share)")
        #expect(replies.suffix(8).allSatisfy { $0.2 != "replica-a" })
        print("nginx drain: \(replies.count) requests, share \(share.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); answered by A after its SIGTERM: \(aAfter); lost: \(lost.count)")
    }

    @Test(.timeLimit(.minutes(3))) func streamPassesThroughNginxAsItComesAndIntact() async throws {
        // The model holds its reply until the client has read the stream's first chunk through nginx: a proxy
        // that buffered the stream would show nothing before the end, and the answer would say so.
        let seenFirstChunk = Shared(false)
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            for _ in 0..<300 where !seenFirstChunk.current { try? await Task.sleep(for: .milliseconds(100)) }
            let answer = seenFirstChunk.current ? "streamed through nginx" : "buffered by the proxy"
            return SimulatedReply(text: replBlock("FINAL('\(answer)')"))
        }
        defer { Task { await model.shutdown() } }
        let (outcome, a, b) = try await Self.withReplicas([], model: model) { a, b in
            try await Nginx.with(upstreams: [a.port, b.port]) { front in
                var request = HTTPClientRequest(url: front.baseURL + "/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "X-RLM-Context-Key", value: "stream-key")
                request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: Serve.chat("q", context: "streamed", stream: true))))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
                var text = ""
                for try await piece in response.body {
                    text += String(buffer: piece)
                    if text.contains("\"role\":\"assistant\"") { seenFirstChunk.set(true) }
                }
                return (Int(response.status.code), response.headers.first(name: "Content-Type") ?? "",
                        response.headers.first(name: "X-RLM-Instance") ?? "", text)
            }.value
        }
        #expect(a.exitCode == 0 && b.exitCode == 0)
        let (status, type, instance, text) = outcome
        #expect(status == 200 && type.hasPrefix("text/event-stream"), "\(status) \(type): \(text.prefix(500))")
        #expect(!instance.isEmpty)
        let events = text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        #expect(events.last == "[DONE]", "\(text.suffix(500))")
        let chunks = events.dropLast().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(chunks.count == events.count - 1, "a chunk did not come through whole: \(text)")
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        let answer = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        #expect(answer == "streamed through nginx", "\(text)")
        #expect(choices.contains { $0["finish_reason"] as? String == "stop" })
        print("nginx stream: \(events.count) events through nginx from \(instance), answer \"\(answer)\"")
    }

    @Test(.timeLimit(.minutes(3))) func aStreamSentToADrainingReplicaIsRefusedBeforeItsFirstByteAndRetriedElsewhere() async throws {
        let release = Shared(false)
        let holding = Shared(false)
        let model = try await ModelSimulator.start(models: ["root"]) { request in
            if request.lastUserText.contains("hold") {
                holding.set(true)
                for _ in 0..<600 where !release.current { try? await Task.sleep(for: .milliseconds(100)) }
            }
            return SimulatedReply(text: replBlock("FINAL('answered')"))
        }
        defer { Task { await model.shutdown() } }
        let (outcome, a, b) = try await Self.withReplicas(["--drain-timeout", "60"], model: model) { a, b in
            try await Nginx.with(upstreams: [a.port, b.port]) { front in
                // A key nginx sends to replica A.
                var keyForA: String?
                for index in 0..<64 where keyForA == nil {
                    if try await Self.ask(front, key: "probe-\(index)", context: "c").instance == "replica-a" { keyForA = "probe-\(index)" }
                }
                guard let keyForA else { throw Serve.Failure(description: "no key of 64 went to replica A") }
                // A run held on A keeps it draining while the streams arrive.
                let held = Task { try await Serve.request(a, "POST", "/v1/chat/completions", json: Serve.chat("hold", context: "c")) }
                for _ in 0..<600 where !holding.current {
                    try await Task.sleep(for: .milliseconds(50))
                }
                a.signal(SIGTERM)
                var direct: Serve.Reply?
                for _ in 0..<200 {
                    let reply = try await Serve.request(a, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "c", stream: true))
                    if reply.status == 503 { direct = reply; break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let proxied = try await Serve.request(front, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "c", stream: true),
                                                      headers: [("X-RLM-Context-Key", keyForA)])
                release.set(true)
                return (direct, proxied, try await held.value)
            }.value
        }
        let (direct, proxied, held) = outcome
        #expect(direct?.status == 503, "the draining replica did not refuse the stream")
        #expect(direct?.headers.first(name: "Content-Type") == "application/json", "a refused stream must not have begun")
        #expect(direct?.headers.first(name: "Retry-After") != nil)
        #expect(direct?.errorObject["code"] as? String == "server_shutting_down")
        #expect(proxied.status == 200 && proxied.body.hasSuffix("data: [DONE]\n\n"), "\(proxied.body.prefix(400))")
        #expect(proxied.headers.first(name: "X-RLM-Instance") != "replica-a")
        #expect(proxied.body.contains("\"content\":\"answered\""))
        #expect(held.status == 200 && held.body.contains("answered"), "the run going on the draining replica was lost: \(held.body)")
        #expect(a.exitCode == 0 && b.exitCode == 0, "\(a.stderr)\n\(b.stderr)")
    }

    @Test(.timeLimit(.minutes(3))) func aConversationGoesOnOnTheOtherReplicaWhenItsOwnDrains() async throws {
        let world = try SharedSessionServeTests.World()
        let model = try await SharedSessionServeTests.model(holding: Shared(false), release: Shared(false))
        defer { Task { await model.shutdown() } }
        let arguments = ["--session-dir", world.sessions.path, "--session-key-env", "RLM_SESSION_KEY", "--auth-token-env", "SERVE_TOKEN"]
        let (outcome, a, b) = try await Self.withReplicas(arguments, model: model, environment: world.environment(model)) { a, b in
            try await Nginx.with(upstreams: [a.port, b.port]) { front in
                func ask(_ question: String, context: String? = nil, session: String? = nil) async throws -> Serve.Reply {
                    var body = Serve.chat(question, context: context)
                    if let session { body["session"] = session }
                    return try await Serve.request(front, "POST", "/v1/chat/completions", json: body, token: "token-of-alice",
                                                   headers: [("X-RLM-Context-Key", "report-2025")])
                }
                let first = try await ask("How long is it?", context: "hello world")
                let session = (first.json["rlm"] as? [String: Any])?["session"] as? String ?? ""
                let owner = first.headers.first(name: "X-RLM-Instance") == "replica-a" ? a : b
                owner.signal(SIGTERM)
                for _ in 0..<600 where !Serve.isGone(owner.pid) { try await Task.sleep(for: .milliseconds(50)) }
                let next = try await ask("Triple it?", session: session)
                return (first, next)
            }.value
        }
        let (first, next) = outcome
        #expect(a.exitCode == 0 && b.exitCode == 0, "\(a.stderr)\n\(b.stderr)")
        #expect(first.status == 200 && Self.content(first) == "11", "\(first.body)")
        #expect(next.status == 200 && Self.content(next) == "33", "the conversation was lost with its replica: \(next.body)")
        #expect(next.headers.first(name: "X-RLM-Instance") != first.headers.first(name: "X-RLM-Instance"))
        print("nginx shared session: started on \(first.headers.first(name: "X-RLM-Instance") ?? "?"), which drained; continued on \(next.headers.first(name: "X-RLM-Instance") ?? "?") with its variables")
    }
}
