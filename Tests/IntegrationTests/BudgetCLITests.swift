import Foundation
import ModelSimulator
import Synchronization
import Testing

/// Budgets through the real `rlm ask`, where the root model, not a sub-call, would cross the limit: the limit is
/// never passed, the stop reason names it, and every request carries the output cap the budget leaves (none
/// when no limit is set).
@Suite(.serialized) struct BudgetCLITests {
    /// The chat requests a simulated model received, in order.
    final class SeenRequests: Sendable {
        private let requests = Mutex<[SimulatedRequest]>([])
        func append(_ request: SimulatedRequest) { requests.withLock { $0.append(request) } }
        func removeAll() { requests.withLock { $0.removeAll() } }
        var all: [SimulatedRequest] { requests.withLock { $0 } }
    }

    /// What the simulated root model writes each turn: code first, then a long tail of notes, 2,000 tokens in
    /// all, so that one uncapped reply takes the run past the limits below.
    static let longReply = "Looking at the input.\n" + replBlock("print(len(context))") + "\nNotes: "
        + String(repeating: "the input holds lines of text; ", count: 260)
    static let replyTokens = 2_000

    /// A simulator whose root model never submits: it explores with long replies until the run is stopped.
    static func endlessRoot(models: [String] = ["root-model"],
                            seen: SeenRequests) async throws -> ModelSimulator {
        try await ModelSimulator.start(models: models) { request in
            seen.append(request)
            return SimulatedReply(text: longReply, completionTokens: replyTokens)
        }
    }

    /// Tokens the engine reserves for a prompt before it is sent (one per three characters, plus 16).
    static func estimatedTokens(_ request: SimulatedRequest) -> Int {
        request.messages.reduce(0) { $0 + $1.content.count } / 3 + 16
    }

    static func run(_ extra: [String], server: ModelSimulator, model: String = "root-model",
                    environment: [String: String] = [:]) async throws -> (run: CLI.Run, json: [String: Any]) {
        let context = try TemporaryFile(contents: "line one\nline two\n")
        let run = try await CLI.run(["ask", "What does the file say?", "--context", context.path, "--json", "--no-log"] + extra,
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": model].merging(environment) { $1 })
        let json = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
        return (run, json)
    }

    static func totalTokens(_ json: [String: Any]) -> Int {
        let usage = json["total_usage"] as? [String: Any] ?? [:]
        return (usage["input_tokens"] as? Int ?? 0) + (usage["output_tokens"] as? Int ?? 0)
    }

    /// The first root prompt, measured by a run with no limit, whose requests must carry no cap.
    static func firstPromptWithNoLimit() async throws -> SimulatedRequest {
        let seen = SeenRequests()
        let server = try await endlessRoot(seen: seen)
        defer { Task { await server.shutdown() } }
        let (result, json) = try await Self.run(["--max-iterations", "2"], server: server)
        #expect(json["stop_reason"] as? String == "max_iterations", "stderr: \(result.stderr)")
        let requests = seen.all
        #expect(requests.count == 3, "two turns and the last chance")
        for request in requests {
            #expect(request.maxTokens == nil && request.maxCompletionTokens == nil, "no limit, no cap")
        }
        return try #require(requests.first)
    }

    @Test(.timeLimit(.minutes(2))) func maxTokensHoldsWhenTheRootWouldCrossIt() async throws {
        let first = try await Self.firstPromptWithNoLimit()
        // Room for the first prompt and 1,200 tokens of reply: one uncapped reply (2,000) would pass the limit.
        let limit = Self.estimatedTokens(first) + 1_200
        let seen = SeenRequests()
        let server = try await Self.endlessRoot(seen: seen)
        defer { Task { await server.shutdown() } }
        let (result, json) = try await Self.run(["--max-tokens", String(limit), "--max-iterations", "30"], server: server)
        #expect(result.exitCode == 1, "stderr: \(result.stderr)")
        #expect(json["stop_reason"] as? String == "max_tokens")
        #expect(Self.totalTokens(json) <= limit, "\(Self.totalTokens(json)) tokens against --max-tokens \(limit)")
        let requests = seen.all
        #expect(!requests.isEmpty)
        var spent = 0
        for request in requests {
            let cap = try #require(request.maxTokens, "a root request without max_tokens under --max-tokens")
            #expect(request.maxCompletionTokens == nil, "max_completion_tokens is for OpenAI's own API")
            #expect(spent + Self.estimatedTokens(request) + cap <= limit, "the cap is what the budget leaves")
            spent += request.messages.reduce(0) { $0 + $1.content.count / 4 } + min(cap, Self.replyTokens)
        }
        #expect(requests[0].maxTokens ?? .max < Self.replyTokens, "the first reply is cut at the cap")
    }

    @Test(.timeLimit(.minutes(2))) func maxCostHoldsWhenTheRootWouldCrossIt() async throws {
        let first = try await Self.firstPromptWithNoLimit()
        let prices = try TemporaryFile(named: "prices.toml", contents: """
            [prices."root-model"]
            input = 1.0
            output = 10.0
            """)
        // $1 per million input tokens, $10 per million output: room for the first prompt and 1,200 output tokens.
        let limit = Double(Self.estimatedTokens(first)) / 1e6 + 1_200 * 10 / 1e6
        let seen = SeenRequests()
        let server = try await Self.endlessRoot(seen: seen)
        defer { Task { await server.shutdown() } }
        let (result, json) = try await Self.run(["--max-cost", String(format: "%.6f", limit), "--max-iterations", "30"],
                                             server: server, environment: ["RLM_CONFIG": prices.path])
        #expect(result.exitCode == 1, "stderr: \(result.stderr)")
        #expect(json["stop_reason"] as? String == "max_cost")
        let cost = try #require(json["cost_usd"] as? Double)
        #expect(cost <= limit + 1e-9, "$\(cost) against --max-cost \(limit)")
        let requests = seen.all
        #expect(!requests.isEmpty)
        for request in requests {
            let cap = try #require(request.maxTokens, "a root request without max_tokens under --max-cost")
            #expect(cap <= 1_200)
        }
    }

    @Test(.timeLimit(.minutes(2))) func anthropicRequestsCarryTheBudgetsCap() async throws {
        let seen = SeenRequests()
        let server = try await Self.endlessRoot(models: ["claude-test"], seen: seen)
        defer { Task { await server.shutdown() } }
        let baseURL = "http://127.0.0.1:\(server.port)"
        let environment = ["RLM_PROVIDER": "anthropic", "RLM_BASE_URL": baseURL, "RLM_API_KEY": "sk-ant-test"]
        let (free, _) = try await Self.run(["--max-iterations", "1"], server: server, model: "claude-test", environment: environment)
        let unlimited = seen.all
        #expect(!unlimited.isEmpty, "stderr: \(free.stderr)")
        // With no limit, Anthropic's required max_tokens is the default, as before.
        #expect(unlimited.allSatisfy { $0.isAnthropic && $0.maxTokens == 8_192 })

        seen.removeAll()
        let limit = Self.estimatedTokens(unlimited[0]) + 1_200
        let (result, json) = try await Self.run(["--max-tokens", String(limit)], server: server, model: "claude-test",
                                             environment: environment)
        #expect(json["stop_reason"] as? String == "max_tokens", "stderr: \(result.stderr)")
        #expect(Self.totalTokens(json) <= limit)
        let capped = seen.all
        #expect(!capped.isEmpty)
        #expect(capped.allSatisfy { ($0.maxTokens ?? .max) <= 1_200 })
    }

    @Test(.timeLimit(.minutes(2))) func maxSubcallsEndsAfterOneLastTurn() async throws {
        let rootRequests = SeenRequests()
        let subRequests = Mutex(0)
        let server = try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" {
                subRequests.withLock { $0 += 1 }
                return SimulatedReply(text: "a note", promptTokens: 20, completionTokens: 3)
            }
            rootRequests.append(request)
            // Never submits: asks three sub-calls every turn.
            return SimulatedReply(text: "Reading in pieces.\n" + replBlock("print(llm_query_batched(['a', 'b', 'c']))"),
                                  promptTokens: 500, completionTokens: 30)
        }
        defer { Task { await server.shutdown() } }
        let (result, json) = try await Self.run(["--sub-model", "sub-model", "--max-subcalls", "2", "--max-iterations", "30"],
                                             server: server)
        #expect(result.exitCode == 1, "stderr: \(result.stderr)")
        #expect(json["stop_reason"] as? String == "max_subcalls")
        #expect(json["sub_calls"] as? Int == 2)
        #expect(subRequests.withLock { $0 } == 2)
        let turns = rootRequests.all
        #expect(turns.count == 2, "the turn that used the sub-calls, then one last turn")
        let lastPrompt = turns.last?.lastUserText ?? ""
        #expect(lastPrompt.contains("All 2 sub-calls of --max-subcalls are used"))
        #expect(lastPrompt.contains("You are out of turns"))
    }
}
