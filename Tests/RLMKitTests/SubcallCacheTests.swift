import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// The sub-call cache: what counts as identical, single flight, what is never stored, eviction under the cap and
/// the files' modes. Runs use the real REPL with scripted models that count their calls.
@Suite(.serialized) struct SubcallCacheTests {
    /// A fresh cache folder under the temporary folder, removed by the caller.
    static func freshDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("rlm-subcalls-\(UUID().uuidString.prefix(8))")
    }

    static func makeRLM(root: ScriptedModel, sub: any LanguageModel, cache: SubcallCache?, budget: RLMBudget = .init()) -> RLM {
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 3, maxConcurrency: 16),
            repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)), budget: budget,
            subcallCache: cache)
    }

    static func entries(in directory: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "json" }
    }

    static func mode(_ url: URL) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    // MARK: Keys

    @Test func keysAreEqualOnlyForTheSameEndpointModelMessagesAndParameters() {
        let request = ModelRequest(messages: [.system("be brief"), .user("what is 2+2?")])
        let key = SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: request)
        #expect(key == SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: request))
        #expect(key.digest.count == 64 && key.digest.allSatisfy(\.isHexDigit))

        var otherText = request
        otherText.messages[1].content = "what is 2+3?"
        var otherRole = request
        otherRole.messages[0].role = .user
        var split = request
        split.messages = [.system("be brief what is 2+2?")]
        var temperature = request
        temperature.temperature = 0.7
        var cap = request
        cap.maxOutputTokens = 100
        let others = [
            SubcallCache.Key(endpoint: "http://127.0.0.1:8081/v1", model: "m", request: request),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m2", request: request),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: otherText),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: otherRole),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: split),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: temperature),
            SubcallCache.Key(endpoint: "http://127.0.0.1:8080/v1", model: "m", request: cap),
        ]
        #expect(Set(others + [key]).count == others.count + 1)
    }

    // MARK: Runs

    @Test func aSecondIdenticalRunMakesNoSubCallAndSpendsNothing() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sub = FunctionModel { "upper: " + $0.uppercased() }
        let root = ScriptedModel(replies: [repl("a = llm_query('first')\nb = llm_query('second')\nFINAL(a + ' | ' + b)")])
        let first = try await Self.makeRLM(root: root, sub: sub, cache: SubcallCache(directory: directory))
            .complete(query: "q", context: .text("c"))
        #expect(first.answer == "upper: FIRST | upper: SECOND")
        #expect(sub.calls == 2)
        #expect(first.subcallCache == SubcallCacheTally(hits: 0, misses: 2, tokensSaved: 0))

        // A new cache over the same folder: what a second process sees. A limit of no sub-calls at all: hits
        // count against no budget, and the run spends only its root turn.
        let second = try await Self.makeRLM(root: root, sub: sub, cache: SubcallCache(directory: directory),
                                            budget: RLMBudget(maxSubCalls: 0))
            .complete(query: "q", context: .text("c"))
        #expect(second.answer == first.answer)
        #expect(sub.calls == 2, "the second run sent \(sub.calls - 2) sub-calls")
        #expect(second.subCalls == 0)
        #expect(second.usageByModel[sub.name] == nil)
        #expect(second.subcallCache?.hits == 2)
        #expect(second.subcallCache?.misses == 0)
        #expect(second.subcallCache?.tokensSaved == 20)
        let hits = second.trajectory.filter { $0.event == .subCallFinished && $0.details?["cache"] == .string("hit") }
        #expect(hits.count == 2 && hits.allSatisfy { $0.usage == nil && $0.details?["cache_source"] == .string("disk") })

        // Without the cache, the same run sends again: the cache is opt-in.
        _ = try await Self.makeRLM(root: root, sub: sub, cache: nil).complete(query: "q", context: .text("c"))
        #expect(sub.calls == 4)
    }

    @Test(.timeLimit(.minutes(1))) func identicalCallsInFlightAreSentOnce() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sub = CountingModel(delay: .milliseconds(300))
        let root = ScriptedModel(replies: [repl("r = llm_query_batched(['same prompt'] * 16 + ['other prompt'])\nFINAL(str(len(r)) + ' ' + ','.join(sorted(set(r))))")])
        let result = try await Self.makeRLM(root: root, sub: sub, cache: SubcallCache(directory: directory))
            .complete(query: "q", context: .text("c"))
        #expect(result.answer == "17 ok")
        #expect(sub.started == 2, "16 identical prompts and one other reached the model \(sub.started) times")
        #expect(result.subcallCache?.misses == 2)
        #expect(result.subcallCache?.hits == 15)
        #expect(result.trajectory.filter { $0.details?["cache_source"] == .string("in_flight") }.count == 15)
        #expect(Self.entries(in: directory).count == 2)
    }

    @Test func errorsAreNeverCached() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The first call fails as a provider error would; later ones answer.
        let sub = ScriptedModel(name: "flaky-sub") { _, index in
            if index == 0 { throw ModelError.serverError(endpoint: "local", status: 500, detail: "overloaded") }
            return ModelResponse(text: "fine", usage: TokenUsage(inputTokens: 5, outputTokens: 1), model: "flaky-sub")
        }
        let root = ScriptedModel(replies: [repl("FINAL(llm_query('ask'))")])
        let cache = SubcallCache(directory: directory)
        let failed = try await Self.makeRLM(root: root, sub: sub, cache: cache).complete(query: "q", context: .text("c"))
        #expect(failed.answer.hasPrefix("Error:"))
        #expect(Self.entries(in: directory).isEmpty)

        let answered = try await Self.makeRLM(root: root, sub: sub, cache: cache).complete(query: "q", context: .text("c"))
        #expect(answered.answer == "fine")
        #expect(sub.requests.count == 2)
        let cached = try await Self.makeRLM(root: root, sub: sub, cache: cache).complete(query: "q", context: .text("c"))
        #expect(cached.answer == "fine")
        #expect(sub.requests.count == 2)
    }

    @Test func childRLMsAreNeverCached() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = ScriptedModel { request, _ in
            let question = request.messages.count > 1 ? request.messages[1].content : ""
            if question.contains("CHILD QUESTION") { return ModelResponse(text: repl("FINAL('child answer')"), model: "r") }
            return ModelResponse(text: repl("a = rlm_query('CHILD QUESTION', context='x')\nb = rlm_query('CHILD QUESTION', context='x')\nFINAL(a + ' ' + b)"), model: "r")
        }
        var rlm = Self.makeRLM(root: root, sub: FunctionModel { $0 }, cache: SubcallCache(directory: directory))
        rlm.limits.maxDepth = 2
        let result = try await rlm.complete(query: "q", context: .text("c"))
        #expect(result.answer == "child answer child answer")
        // Each child ran its own turns: they run code, which a stored answer would skip.
        #expect(root.requests.filter { $0.messages.count > 1 && $0.messages[1].content.contains("CHILD QUESTION") }.count == 2)
        #expect(result.subcallCache == SubcallCacheTally())
        #expect(Self.entries(in: directory).isEmpty)
    }

    @Test func aReplyCutAtTheOutputLimitIsNotKept() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = SubcallCache(directory: directory)
        let key = SubcallCache.Key(endpoint: "e", model: "m", request: ModelRequest(messages: [.user("long story")]))
        guard case .lead = try await cache.lookup(key) else { Issue.record("an empty cache had a hit"); return }
        _ = await cache.settle(key, with: .answered(ModelResponse(text: "Once upon a", finishReason: .length, model: "m")))
        guard case .lead = try await cache.lookup(key) else { Issue.record("a cut reply was kept"); return }
        _ = await cache.settle(key, with: .notSent)
    }

    // MARK: Disk

    /// Stores `text` under a key of its own through the cache's public path (lookup, then settle).
    static func store(_ text: String, in cache: SubcallCache) async throws -> SubcallCache.Key {
        let key = SubcallCache.Key(endpoint: "e", model: "m", request: ModelRequest(messages: [.user(text)]))
        guard case .lead = try await cache.lookup(key) else { throw CancellationError() }
        let note = await cache.settle(key, with: .answered(ModelResponse(text: String(repeating: text, count: 40), model: "m")))
        #expect(note == nil)
        return key
    }

    static func isCached(_ key: SubcallCache.Key, in cache: SubcallCache) async throws -> Bool {
        switch try await cache.lookup(key) {
        case .hit: return true
        default:
            _ = await cache.settle(key, with: .notSent)
            return false
        }
    }

    @Test func theLeastRecentlyUsedEntriesGoWhenTheCapIsPassed() async throws {
        let directory = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let probe = SubcallCache(directory: Self.freshDirectory())
        let one = try await Self.store("entry-00", in: probe)
        let entryBytes = try #require(Self.entries(in: probe.directory).first.flatMap {
            try FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int
        })
        try? FileManager.default.removeItem(at: probe.directory)
        _ = one

        // Room for 10 entries; eviction goes down to 90% of the cap, so 9 stay after the 11th write.
        let cache = SubcallCache(directory: directory, maxBytes: entryBytes * 10 + entryBytes / 2)
        var keys: [SubcallCache.Key] = []
        for index in 0..<10 {
            keys.append(try await Self.store(String(format: "entry-%02d", index), in: cache))
            try await Task.sleep(for: .milliseconds(15))
        }
        #expect(Self.entries(in: directory).count == 10)
        // Entry 0 is read again, so entries 1 and 2 are now the least recently used.
        #expect(try await Self.isCached(keys[0], in: cache))
        try await Task.sleep(for: .milliseconds(15))
        keys.append(try await Self.store("entry-10", in: cache))

        let stats = try await cache.statistics()
        #expect(stats.bytes <= cache.maxBytes / 10 * 9)
        #expect(stats.entries == 9)
        #expect(try await !Self.isCached(keys[1], in: cache))
        #expect(try await !Self.isCached(keys[2], in: cache))
        for index in [0, 3, 4, 5, 6, 7, 8, 9, 10] {
            #expect(try await Self.isCached(keys[index], in: cache), "entry \(index) was evicted")
        }
    }

    @Test func entriesAre0600InFolders0700WrittenWithNoTemporaryFileLeft() async throws {
        let parent = Self.freshDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        let directory = parent.appendingPathComponent("rlm/subcalls")
        let previous = umask(0o022)
        defer { umask(previous) }
        let cache = SubcallCache(directory: directory)
        let key = try await Self.store("private", in: cache)
        let file = directory.appendingPathComponent(String(key.digest.prefix(2))).appendingPathComponent(key.digest + ".json")
        #expect(try Self.mode(file) == 0o600)
        #expect(try Self.mode(file.deletingLastPathComponent()) == 0o700)
        #expect(try Self.mode(directory) == 0o700)
        #expect(try Self.mode(parent) == 0o700)
        let everything = FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []
        #expect(everything.sorted() == [String(key.digest.prefix(2)), "\(key.digest.prefix(2))/\(key.digest).json"])

        let stats = try await cache.statistics()
        #expect(stats.entries == 1)
        let removed = try await cache.clear()
        #expect(removed == stats)
        #expect(try await cache.statistics().entries == 0)
    }
}
