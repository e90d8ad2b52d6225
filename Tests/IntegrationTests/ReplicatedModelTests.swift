import Foundation
import RLMKit
import RLMTesting
import Synchronization
import Testing

/// Sub-calls spread over three simulated replicas of one model, one of which shuts down midway: every call is
/// answered, the dead replica leaves the rotation, and the accounting counts each answered call once.
@Suite(.serialized) struct ReplicatedModelTests {
    /// Three replicas answering `"<replica>:<prompt>"` with fixed token counts; `shutDownAfter` requests, the
    /// third one stops listening and closes its connections.
    final class Replicas: Sendable {
        let servers: [ModelSimulator]
        init(latency: Duration, shutDownAfter: Int? = nil) async throws {
            let third = Mutex<ModelSimulator?>(nil)
            let seen = Mutex(0)
            var servers: [ModelSimulator] = []
            for index in 0..<3 {
                servers.append(try await ModelSimulator.start(models: ["sub-model"]) { request in
                    if index == 2, let limit = shutDownAfter, seen.withLock({ $0 += 1; return $0 }) == limit,
                       let server = third.withLock({ $0 }) {
                        Task { await server.shutdown() }
                    }
                    return SimulatedReply(text: "r\(index):\(request.lastUserText)", promptTokens: 5, completionTokens: 2,
                                          delay: latency)
                })
            }
            third.withLock { $0 = servers[2] }
            self.servers = servers
        }

        func model(perReplica: Int, rotation: ReplicatedModel.Rotation = .init()) -> ReplicatedModel {
            ReplicatedModel(replicas: servers.map {
                OpenAICompatibleModel(name: "sub-model", baseURL: $0.baseURL,
                                      retry: RetryPolicy(maxAttempts: 3, maxConnectionAttempts: 1, baseDelay: .milliseconds(50)))
            }, maxConcurrencyPerReplica: perReplica, rotation: rotation)
        }

        func shutdown() async { for server in servers { await server.shutdown() } }
    }

    @Test func aRunSpreadsSubCallsAndSurvivesAReplicaThatDies() async throws {
        let replicas = try await Replicas(latency: .milliseconds(100), shutDownAfter: 6)
        let sub = replicas.model(perReplica: 4, rotation: .init(firstPause: .seconds(600)))
        let root = ScriptedModel(replies: [
            repl("answers = llm_query_batched([f'p{i}' for i in range(90)])\nprint(sum(a.startswith('Error') for a in answers))"),
            repl("FINAL(answers)"),
        ])
        let rlm = RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 3, maxConcurrency: 12),
                      repl: .testing)
        let result = try await rlm.complete(query: "q", context: .text("c"))
        await replicas.shutdown()

        // Every prompt answered by some replica, in order; none came back as an error.
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(result.answer.replacingOccurrences(of: "'", with: "\"").utf8)) as? [String])
        #expect(answers.count == 90)
        #expect(answers.enumerated().allSatisfy { index, answer in answer.hasSuffix(":p\(index)") && answer.hasPrefix("r") })
        let statistics = await sub.replicaStatistics
        // The dead replica answered a few, failed at least once and left the rotation; the others took the rest.
        #expect(statistics[2].failures >= 1)
        #expect(!statistics[2].inRotation)
        #expect(statistics[0].inRotation && statistics[1].inRotation)
        #expect(statistics[0].calls > 20 && statistics[1].calls > 20)
        #expect(statistics.allSatisfy { $0.peakInFlight <= 4 })
        let answeredBy = (0..<3).map { replica in answers.filter { $0.hasPrefix("r\(replica):") }.count }
        // It goes down as its 6th request arrives; the calls already on it may still finish (more of them when a
        // loaded machine is slow to close it), but it answers well under its even share of 30.
        #expect(answeredBy[2] >= 1 && answeredBy[2] < 30, "answered per replica: \(answeredBy)")
        // Exact accounting: 90 answered calls of 5 + 2 tokens each; the failed attempts spent nothing.
        let usage = try #require(result.usageByModel["sub-model"])
        #expect(usage.calls == 90)
        #expect(usage.inputTokens == 450 && usage.outputTokens == 180)
        #expect(result.subCalls == 90)
    }

    @Test func requestsGoToTheLeastBusyReplicaWithinEachLimit() async throws {
        let replicas = try await Replicas(latency: .milliseconds(150))
        let sub = replicas.model(perReplica: 2)
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<30 {
                group.addTask { try await sub.complete(ModelRequest(messages: [.user("p\(index)")])).text }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        await replicas.shutdown()
        #expect(answers.count == 30)
        let statistics = await sub.replicaStatistics
        // Six slots in all: each replica ran its two at once and took an even share of the calls.
        #expect(statistics.map(\.peakInFlight) == [2, 2, 2])
        #expect(statistics.map(\.calls).reduce(0, +) == 30)
        #expect(statistics.allSatisfy { $0.calls >= 5 && $0.failures == 0 })
        #expect(replicas.servers.map(\.peakInFlight).allSatisfy { $0 <= 2 })
    }

    @Test func aFailedReplicaIsProbedAgainAfterItsPause() async throws {
        let failing = Mutex(true)
        let flaky = try await ModelSimulator.start(models: ["m"]) { _ in
            failing.withLock { $0 } ? .failure(status: 503, message: "overloaded") : SimulatedReply(text: "flaky")
        }
        let steady = try await ModelSimulator.start(models: ["m"]) { _ in SimulatedReply(text: "steady") }
        let model = ReplicatedModel(replicas: [flaky, steady].map {
            OpenAICompatibleModel(name: "m", baseURL: $0.baseURL, retry: .none)
        }, rotation: .init(firstPause: .seconds(2)))
        let request = ModelRequest(messages: [.user("x")])
        // The first request goes to the flaky replica (listed first), fails there, and is answered by the other.
        // (A pause of 2 s: a loaded machine may take a few hundred milliseconds between two requests.)
        #expect(try await model.complete(request).text == "steady")
        #expect(await model.replicaStatistics.map(\.inRotation) == [false, true])
        #expect(try await model.complete(request).text == "steady")
        #expect(flaky.requestCount == 1)
        // After its pause, the next request probes it; once it answers, it is back in rotation.
        failing.withLock { $0 = false }
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(try await model.complete(request).text == "flaky")
        #expect(await model.replicaStatistics.map(\.inRotation) == [true, true])
        await flaky.shutdown()
        await steady.shutdown()
    }

    @Test func aRequestErrorIsNotRetriedOnOtherReplicas() async throws {
        let servers = [try await ModelSimulator.start(models: ["m"]) { _ in .failure(status: 404, message: "model 'm' not found") },
                       try await ModelSimulator.start(models: ["m"]) { _ in SimulatedReply(text: "never") }]
        let model = ReplicatedModel(replicas: servers.map { OpenAICompatibleModel(name: "m", baseURL: $0.baseURL, retry: .none) })
        await #expect(throws: ModelError.self) { try await model.complete(ModelRequest(messages: [.user("x")])) }
        #expect(servers[1].requestCount == 0)
        #expect(await model.replicaStatistics.allSatisfy(\.inRotation))
        for server in servers { await server.shutdown() }
    }

    @Test func whenEveryReplicaIsDownTheErrorSaysWhenOneReturns() async throws {
        let server = try await ModelSimulator.start(models: ["m"]) { _ in SimulatedReply(text: "x") }
        let url = server.baseURL
        await server.shutdown()
        let model = ReplicatedModel(replicas: [OpenAICompatibleModel(name: "m", baseURL: url, retry: .none),
                                               OpenAICompatibleModel(name: "m", baseURL: url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), retry: .none)])
        let first = await #expect(throws: ModelError.self) { try await model.complete(ModelRequest(messages: [.user("x")])) }
        #expect(String(describing: first).contains("connection refused"))
        let second = await #expect(throws: ModelError.self) { try await model.complete(ModelRequest(messages: [.user("x")])) }
        #expect(String(describing: second).contains("every replica failed and is out of rotation"))
    }
}
