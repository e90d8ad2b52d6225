import Foundation
import RLMTesting
@testable import RLMKit
import Synchronization
import Testing

/// Wide sub-call fan-out through the real OpenAI client and the engine's `ConcurrencyLimiter`, against servers
/// not written for this client: Python's `http.server` with its defaults (HTTP/1.0, listen backlog 5) and a
/// keep-alive server with a backlog of 5, plus the project's simulator. Correctness only, never wall time:
/// every call answered with its own reply, none failed, the server saw exactly the calls made and the full
/// concurrency. Speed is measured by `rlm bench engine` (BENCHMARKS.md).
@Suite(.serialized) struct FanOutTests {
    /// Runs `calls` chat calls, `concurrency` at a time, and returns the answers in call order.
    static func fanOut(model: OpenAICompatibleModel, calls: Int, limiter: ConcurrencyLimiter) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<calls {
                group.addTask {
                    let reply = try await limiter.run {
                        try await model.complete(ModelRequest(messages: [.user("item \(index)")]))
                    }
                    return (index, reply.text)
                }
            }
            var answers = [String](repeating: "", count: calls)
            for try await (index, text) in group { answers[index] = text }
            return answers
        }
    }

    /// Every call answered once and none failed; `fullConcurrency` also asks that the server saw every slot busy at
    /// once. That is sure only when the latency is long beside the pacer's spread and the machine's load, so a
    /// burst is tried up to three times (other suites load the machine meanwhile). A client whose connections
    /// wait on the kernel's SYN retransmission misses full concurrency every time, so the check can still fail.
    static func expectFanOut(against server: PythonModelServer, calls: Int, concurrency: Int,
                             fullConcurrency: Bool = true) async throws {
        var peaks: [Int] = []
        for _ in 0..<(fullConcurrency ? 3 : 1) {
            try server.resetStats()
            let limiter = ConcurrencyLimiter(limit: concurrency)
            let model = OpenAICompatibleModel(name: "fake-model", baseURL: server.baseURL)
            let answers = try await fanOut(model: model, calls: calls, limiter: limiter)
            #expect(answers == (0..<calls).map { "echo: item \($0)" })
            let stats = try server.stats()
            #expect(stats.requests == calls, "the server answered \(stats.requests) chat requests for \(calls) calls")
            #expect(stats.errors == 0)
            #expect(stats.peakInFlight <= concurrency)
            #expect(await limiter.peak == concurrency)
            peaks.append(stats.peakInFlight)
            if stats.peakInFlight == concurrency { break }
        }
        if fullConcurrency { #expect(peaks.contains(concurrency), "peaks in flight per attempt: \(peaks)") }
    }

    @Test func pythonServerWithItsDefaultsAnswersEveryCall() async throws {
        // Ten waves of 16 new connections (HTTP/1.0 closes each) into a listen queue of 5. At 100 ms a wave, a
        // busy machine may let some calls end before the last of a wave starts: only the bursts below check
        // full concurrency.
        let server = try await PythonModelServer(latencyMS: 100)
        defer { server.stop() }
        try await Self.expectFanOut(against: server, calls: 160, concurrency: 16, fullConcurrency: false)
    }

    @Test func burstOfNewConnectionsIntoPythonsDefaultQueueAllGetIn() async throws {
        // One wave of 16 connection attempts at once into http.server's listen queue of 5: all must be in flight
        // together, which a SYN left to the kernel's 1 s retransmission misses.
        let server = try await PythonModelServer(latencyMS: 1000)
        defer { server.stop() }
        try await Self.expectFanOut(against: server, calls: 16, concurrency: 16)
    }

    @Test func burstWiderThanABacklogOfFiveIsAbsorbed() async throws {
        // 64 connections opened at once against a listen queue of 5 (cpp-httplib's and Python's default).
        // One wave: all 64 must be in flight together, which a SYN left to the kernel's 1 s retransmission
        // misses; 1 s leaves the pacer (at most 8 ms a connection when slowed down) room to open them all even
        // on a loaded machine.
        let server = try await PythonModelServer(latencyMS: 1000, arguments: ["--http11", "--backlog", "5"])
        defer { server.stop() }
        try await Self.expectFanOut(against: server, calls: 64, concurrency: 64)
    }

    @Test func simulatorFanOutReachesFullConcurrency() async throws {
        // 500 ms a call, so that a loaded machine still starts all 16 of a wave before the first ends.
        let simulator = try await ModelSimulator.start(models: ["sub"]) { request in
            SimulatedReply(text: "echo: \(request.lastUserText)", delay: .milliseconds(500))
        }
        let limiter = ConcurrencyLimiter(limit: 16)
        let model = OpenAICompatibleModel(name: "sub", baseURL: simulator.baseURL)
        let answers = try await Self.fanOut(model: model, calls: 64, limiter: limiter)
        #expect(answers == (0..<64).map { "echo: item \($0)" })
        #expect(simulator.requestCount == 64)
        #expect(simulator.peakInFlight == 16)
        await simulator.shutdown()
    }

    final class Deltas: Sendable {
        let list = Mutex<[String]>([])
        func append(_ piece: String) { list.withLock { $0.append(piece) } }
        var all: [String] { list.withLock { $0 } }
    }

    @Test func streamCutOffBeforeAnyTextIsRetried() async throws {
        let server = try await PythonModelServer(latencyMS: 0, arguments: ["--break-streams", "1"])
        defer { server.stop() }
        let model = OpenAICompatibleModel(name: "fake-model", baseURL: server.baseURL,
                                          retry: RetryPolicy(baseDelay: .milliseconds(10)))
        let deltas = Deltas()
        let reply = try await model.complete(ModelRequest(messages: [.user("hi")])) { deltas.append($0) }
        #expect(reply.text == "echo: hi")
        #expect(deltas.all == ["echo: hi"])
        #expect(try server.stats().requests == 2)
    }

    @Test func streamCutOffAfterTextIsNotRetried() async throws {
        let server = try await PythonModelServer(latencyMS: 0, arguments: ["--break-streams-after-text", "1"])
        defer { server.stop() }
        let model = OpenAICompatibleModel(name: "fake-model", baseURL: server.baseURL,
                                          retry: RetryPolicy(baseDelay: .milliseconds(10)))
        let deltas = Deltas()
        await #expect(throws: ModelError.self) {
            _ = try await model.complete(ModelRequest(messages: [.user("hi")])) { deltas.append($0) }
        }
        // The caller saw the text once; a retry would have sent it again.
        #expect(deltas.all == ["echo: hi"])
        #expect(try server.stats().requests == 1)
    }
}
