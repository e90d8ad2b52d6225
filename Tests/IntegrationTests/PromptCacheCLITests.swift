import Foundation
import RLMTesting
import Synchronization
import Testing

/// The real `rlm` binary against simulated providers that cache prompt prefixes as OpenAI and Anthropic do: root
/// requests only append, Anthropic gets breakpoints, cached tokens are counted and priced, and `--max-cost` admits
/// turns at the discounted price.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PromptCacheCLITests {
    /// A root model that explores for `turns - 1` turns, then submits.
    static func tenTurnReplies(turns: Int = 10) -> @Sendable (SimulatedRequest) -> SimulatedReply {
        { request in
            let turn = request.assistantTurns + 1
            let code = turn < turns ? "print('turn \(turn)', len(context))" : "FINAL('done after \(turn) turns')"
            return SimulatedReply(text: "Turn \(turn).\n" + replBlock(code))
        }
    }

    /// A question long enough (about 1,200 tokens) that every root prompt passes the providers' 1,024-token minimum.
    static let question = "Summarise the input. " + String(repeating: "Mind every detail of it. ", count: 190)

    struct Outcome {
        var run: CLI.Run
        var json: [String: Any]
        var requests: [SimulatedRequest]
    }

    /// `rlm ask --json` against a simulator playing the providers' caches (or none), recording each root request.
    func ask(anthropic: Bool, model: String, caching: SimulatedPromptCaching = .providers, extra: [String] = [],
             world: ConfigWorld? = nil) async throws -> Outcome {
        let seen = Mutex<[SimulatedRequest]>([])
        let replies = Self.tenTurnReplies()
        let server = try await ModelSimulator.start(models: [model], promptCaching: caching) { request in
            seen.withLock { $0.append(request) }
            return replies(request)
        }
        defer { Task { await server.shutdown() } }
        let input = try TemporaryFile(contents: String(repeating: "a line of the input\n", count: 200))
        var environment = ["RLM_MODEL": model]
        if anthropic {
            environment["RLM_PROVIDER"] = "anthropic"
            environment["RLM_BASE_URL"] = "http://127.0.0.1:\(server.port)"
            environment["ANTHROPIC_API_KEY"] = "sk-ant-test"
        } else {
            environment["RLM_BASE_URL"] = server.baseURL
        }
        let arguments = ["ask", Self.question, "--context", input.path, "--no-log", "--json"] + extra
        let run: CLI.Run
        if let world {
            run = try await world.rlm(arguments, environment: environment)
        } else {
            run = try await CLI.run(arguments, environment: environment)
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
        return Outcome(run: run, json: json, requests: seen.withLock { $0 })
    }

    /// Each root request begins with the one before it, message by message: same role, same text.
    func expectAppendOnly(_ requests: [SimulatedRequest], sourceLocation: SourceLocation = #_sourceLocation) {
        for (earlier, later) in zip(requests, requests.dropFirst()) {
            #expect(later.messages.count > earlier.messages.count, sourceLocation: sourceLocation)
            for (index, message) in earlier.messages.enumerated() where index < later.messages.count {
                #expect(later.messages[index].role == message.role, sourceLocation: sourceLocation)
                #expect(later.messages[index].content == message.content,
                        "request \(later.messages.count) rewrote message \(index)", sourceLocation: sourceLocation)
            }
        }
    }

    func usage(_ json: [String: Any], model: String) -> [String: Any] {
        ((json["usage"] as? [String: Any])?[model] as? [String: Any]) ?? [:]
    }

    @Test func tenOpenAITurnsOnlyAppendAndTheirCachedTokensArePricedLower() async throws {
        let outcome = try await ask(anthropic: false, model: "gpt-5")
        #expect(outcome.run.exitCode == 0, "\(outcome.run.stderr)")
        #expect(outcome.requests.count == 10)
        expectAppendOnly(outcome.requests)

        let used = usage(outcome.json, model: "gpt-5")
        let input = try #require(used["input_tokens"] as? Int)
        let cached = try #require(used["cache_read_tokens"] as? Int)
        let output = try #require(used["output_tokens"] as? Int)
        // Every turn after the first reads the one before it from the cache.
        #expect(cached > input / 2)
        #expect((outcome.json["total_usage"] as? [String: Any])?["cache_read_tokens"] as? Int == cached)
        let cost = try #require(outcome.json["cost_usd"] as? Double)
        let expected = (Double(input - cached) * 1.25 + Double(cached) * 0.125 + Double(output) * 10) / 1_000_000
        #expect(abs(cost - expected) < 1e-9)
        #expect(abs((used["cost_usd"] as? Double ?? 0) - expected) < 1e-9)
    }

    @Test func tenAnthropicTurnsMarkBreakpointsAndReadTheLastTurn() async throws {
        let outcome = try await ask(anthropic: true, model: "claude-sonnet-4-5")
        #expect(outcome.run.exitCode == 0, "\(outcome.run.stderr)")
        #expect(outcome.requests.count == 10)
        expectAppendOnly(outcome.requests)
        for request in outcome.requests {
            #expect((1...4).contains(request.cacheBreakpoints))
            // The system prompt gets its own breakpoint when it alone passes Claude Sonnet's 1,024-token minimum.
            let system = try #require(request.messages.first)
            #expect(system.role == "system" && system.cacheTTL == (system.content.count / 4 >= 1_024 ? "5m" : nil))
            #expect(request.messages.last?.cacheTTL == "5m")
        }
        let used = usage(outcome.json, model: "claude-sonnet-4-5")
        let input = try #require(used["input_tokens"] as? Int)
        let read = try #require(used["cache_read_tokens"] as? Int)
        let written = try #require(used["cache_write_tokens"] as? Int)
        let output = try #require(used["output_tokens"] as? Int)
        #expect(read > input / 2)
        #expect(written > 0 && read + written <= input)
        let cost = try #require(outcome.json["cost_usd"] as? Double)
        let expected = (Double(input - read - written) * 3 + Double(read) * 0.3 + Double(written) * 3.75
                        + Double(output) * 15) / 1_000_000
        #expect(abs(cost - expected) < 1e-9)
    }

    @Test func anthropicCacheTTLOfAnHourIsSentAndPricedAtTwiceTheInput() async throws {
        let world = try ConfigWorld()
        try world.writeUserFile("anthropic_cache_ttl = \"1h\"\n")
        let outcome = try await ask(anthropic: true, model: "claude-sonnet-4-5", world: world)
        #expect(outcome.run.exitCode == 0, "\(outcome.run.stderr)")
        #expect(outcome.requests.allSatisfy { $0.messages.last?.cacheTTL == "1h" })
        let used = usage(outcome.json, model: "claude-sonnet-4-5")
        let written = try #require(used["cache_write_tokens"] as? Int)
        #expect(written > 0 && used["cache_write_1h_tokens"] as? Int == written)
        let (input, read, output) = (used["input_tokens"] as? Int ?? 0, used["cache_read_tokens"] as? Int ?? 0, used["output_tokens"] as? Int ?? 0)
        let expected = (Double(input - read - written) * 3 + Double(read) * 0.3 + Double(written) * 6 + Double(output) * 15) / 1_000_000
        #expect(abs((outcome.json["cost_usd"] as? Double ?? 0) - expected) < 1e-9)

        try world.writeUserFile("anthropic_cache_ttl = \"2h\"\n")
        let refused = try await world.ask(environment: ["RLM_MODEL": "m", "RLM_BASE_URL": "http://127.0.0.1:9/v1"])
        #expect(refused.exitCode == 2)
        #expect(refused.stderr.contains("anthropic_cache_ttl must be \"5m\" or \"1h\""))
    }

    @Test func configPricesTakeCachedInputAndCacheWrite() async throws {
        let world = try ConfigWorld()
        try world.writeUserFile("""
            [prices."house-model"]
            input = 2.0
            output = 4.0
            cached_input = 0.5
            """)
        let outcome = try await ask(anthropic: false, model: "house-model", world: world)
        #expect(outcome.run.exitCode == 0, "\(outcome.run.stderr)")
        let used = usage(outcome.json, model: "house-model")
        let (input, cached, output) = (used["input_tokens"] as? Int ?? 0, used["cache_read_tokens"] as? Int ?? 0, used["output_tokens"] as? Int ?? 0)
        #expect(cached > 0)
        let expected = (Double(input - cached) * 2 + Double(cached) * 0.5 + Double(output) * 4) / 1_000_000
        #expect(abs((outcome.json["cost_usd"] as? Double ?? 0) - expected) < 1e-9)
    }

    /// The same ten turns cost about three times less with the cache; a budget between the two prices lets the
    /// cached run finish and stops the uncached one.
    @Test func maxCostAdmitsTurnsAtTheDiscountedPrice() async throws {
        let cached = try await ask(anthropic: false, model: "gpt-5")
        let uncached = try await ask(anthropic: false, model: "gpt-5", caching: .off)
        let cachedCost = try #require(cached.json["cost_usd"] as? Double)
        let fullCost = try #require(uncached.json["cost_usd"] as? Double)
        #expect(fullCost > 2 * cachedCost, "cached $\(cachedCost), uncached $\(fullCost)")
        let budget = String(format: "%.6f", (cachedCost + fullCost) / 2)

        let discounted = try await ask(anthropic: false, model: "gpt-5", extra: ["--max-cost", budget])
        #expect(discounted.run.exitCode == 0, "\(discounted.run.stderr)")
        #expect(discounted.json["status"] as? String == "answered")
        #expect((discounted.json["cost_usd"] as? Double ?? .infinity) <= Double(budget)!)

        // Admission prices each root turn at the cache prices it will be billed at: a budget barely above the
        // discounted cost still lets the run finish (priced at the full input price, the last turns would not fit).
        let tight = String(format: "%.6f", cachedCost * 1.2)
        let barely = try await ask(anthropic: false, model: "gpt-5", extra: ["--max-cost", tight])
        #expect(barely.json["status"] as? String == "answered", "\(barely.run.stderr)")

        let undiscounted = try await ask(anthropic: false, model: "gpt-5", caching: .off, extra: ["--max-cost", budget])
        #expect(undiscounted.run.exitCode == 1)
        #expect(undiscounted.json["stop_reason"] as? String == "max_cost")
        #expect((undiscounted.json["cost_usd"] as? Double ?? .infinity) <= Double(budget)!)
    }
}

extension PromptCacheCLITests {
    /// `rlm bench engine --sections promptcache`: 20 root turns at GPT-5's and Claude Sonnet 4.5's prices cost at
    /// least three times less with the providers' prompt caches.
    @Test func twentyTurnsCostAtLeastThreeTimesLessWithTheCache() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-it-promptcache-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: work) }
        let run = try await CLI.run(["bench", "engine", "--sections", "promptcache", "--json", "--work-dir", work.path])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        let ratios = figures.filter { ($0["measure"] as? String)?.hasSuffix("times cheaper with the cache") == true }
        #expect(ratios.count == 2)
        for ratio in ratios {
            #expect((ratio["value"] as? Double ?? 0) >= 3, "\(ratio)")
        }
    }
}

extension PromptCacheCLITests {
    /// `rlm serve` reports the tree's cached prompt tokens as OpenAI does, in `usage.prompt_tokens_details`.
    @Test func serveReportsCachedTokensInItsUsage() async throws {
        let replies = Self.tenTurnReplies(turns: 3)
        let model = try await ModelSimulator.start(models: ["gpt-5"], promptCaching: .providers) { replies($0) }
        defer { Task { await model.shutdown() } }
        let (reply, run) = try await Serve.with(["--no-log"], environment: ["RLM_MODEL": "gpt-5", "RLM_BASE_URL": model.baseURL]) { handle in
            try await Serve.request(handle, "POST", "/v1/chat/completions",
                                    json: Serve.chat(Self.question, context: "a line of the input\n"))
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let usage = try #require(reply.json["usage"] as? [String: Any], "\(reply.body)")
        let cached = try #require((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int)
        // Turns 2 and 3 read the turn before from the cache, in OpenAI's 128-token steps.
        #expect(cached >= 2 * 1_024 && cached % 128 == 0, "\(usage)")
        #expect(cached < usage["prompt_tokens"] as? Int ?? 0)
    }
}
