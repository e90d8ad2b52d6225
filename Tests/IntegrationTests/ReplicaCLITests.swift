import Foundation
import RLMTesting
import Testing

/// `rlm ask` with several sub-model replicas, from the flag, the environment and the user's config file.
@Suite struct ReplicaCLITests {
    /// A root server whose code fans out 12 sub-calls, and three sub replicas.
    static func servers() async throws -> (root: ModelSimulator, subs: [ModelSimulator]) {
        let root = try await ModelSimulator.start(models: ["root-model"]) { request in
            request.assistantTurns == 0
                ? SimulatedReply(text: replBlock("a = llm_query_batched([str(i) for i in range(12)])\nprint(a)"))
                : SimulatedReply(text: replBlock("FINAL(len([x for x in a if x.startswith('sub')]))"))
        }
        var subs: [ModelSimulator] = []
        for _ in 0..<3 {
            subs.append(try await ModelSimulator.start(models: ["sub-model"]) { _ in
                SimulatedReply(text: "sub answer", delay: .milliseconds(50))
            })
        }
        return (root, subs)
    }

    @Test func aCommaSeparatedSubBaseURLSpreadsSubCallsOverEveryReplica() async throws {
        let (root, subs) = try await Self.servers()
        let world = try ConfigWorld()
        let run = try await world.ask(["--sub-model", "sub-model", "--sub-base-url", subs.map(\.baseURL).joined(separator: ","),
                                       "--sub-replica-concurrency", "2", "--json"],
                                      environment: ["RLM_BASE_URL": root.baseURL, "RLM_MODEL": "root-model"])
        for server in [root] + subs { await server.shutdown() }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(report["answer"] as? String == "12")
        #expect(subs.map(\.requestCount).reduce(0, +) == 12)
        #expect(subs.allSatisfy { $0.requestCount >= 1 && $0.peakInFlight <= 2 })
    }

    @Test func theUsersConfigFileListsReplicas() async throws {
        let (root, subs) = try await Self.servers()
        let world = try ConfigWorld()
        let list = subs.map { "\"\($0.baseURL)\"" }.joined(separator: ", ")
        try world.writeUserFile("sub_model = \"sub-model\"\nsub_base_url = [\(list)]\nsub_replica_concurrency = 1\n")
        let run = try await world.ask(environment: ["RLM_BASE_URL": root.baseURL, "RLM_MODEL": "root-model"])
        for server in [root] + subs { await server.shutdown() }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "12")
        #expect(subs.allSatisfy { $0.requestCount >= 1 && $0.peakInFlight == 1 })
    }

    @Test func aListWithAnEmptyOrRepeatedEntryIsAUsageError() async throws {
        let world = try ConfigWorld()
        let empty = try await world.ask(["--sub-base-url", "http://127.0.0.1:9/v1,,http://127.0.0.1:10/v1"],
                                        environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(empty.exitCode == 2)
        #expect(empty.stderr.contains("has an empty entry"))
        let twice = try await world.ask([], environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m",
                                                          "RLM_SUB_BASE_URL": "http://127.0.0.1:9,http://127.0.0.1:9/v1"])
        #expect(twice.exitCode == 2)
        #expect(twice.stderr.contains("lists http://127.0.0.1:9/v1 more than once"))
    }
}
