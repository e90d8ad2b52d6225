import Foundation
import RLMBench
import Testing

/// `rlm bench merge`: shard folders joined into the whole run, refused when they are not shards of one run, and
/// what is missing or done twice reported.
struct MergeTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-merge-\(UUID().uuidString.prefix(8))")
    let sizes = [2_000, 8_000]

    func manifest(seed: UInt64 = 1, model: String = "m", shard: BenchShard? = nil) -> BenchManifest {
        BenchManifest(suite: "niah", seed: seed, sizes: sizes, tasks: 3, baseWindow: 4_000, methods: [.base, .rlm],
                      rootModel: model, subModel: "s", simulated: false,
                      taskIDs: BenchTaskSet.ids(suite: .niah, sizes: sizes, count: 3), shard: shard)
    }

    /// The whole run's records: one per task and method, scores and times varying.
    func wholeRun() throws -> [BenchRecord] {
        try BenchTaskSet.make(suite: .niah, seed: 1, sizes: sizes, count: 3, workDirectory: root).enumerated().flatMap { offset, task in
            [BenchMethod.base, .rlm].map { method in
                BenchRecord(task: task, method: method, score: Double((offset + (method == .rlm ? 1 : 0)) % 2), prediction: "p",
                            tokens: ["m": BenchTokens(input: 100 * offset, output: 5)], costUSD: 0.001 * Double(offset),
                            wallSeconds: Double(offset), turns: 2, subCalls: offset, status: offset == 4 ? "failed" : "answered")
            }
        }
    }

    /// Writes a folder as `rlm bench` would and reads it back.
    func folder(_ name: String, _ manifest: BenchManifest, _ records: [BenchRecord]) throws -> BenchMerge.Folder {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try manifest.write(to: url)
        try BenchResultsFile.write(records, to: url.appendingPathComponent("results.jsonl"))
        return try BenchMerge.Folder(url: url)
    }

    func shards(_ records: [BenchRecord], count: Int) throws -> [BenchMerge.Folder] {
        let ids = BenchTaskSet.ids(suite: .niah, sizes: sizes, count: 3)
        return try (1...count).map { index in
            let shard = try BenchShard(index: index, count: count)
            let mine = Set(shard.select(ids))
            return try folder("shard\(index)", manifest(shard: shard), records.filter { mine.contains($0.task) })
        }
    }

    @Test func fourShardsMergeIntoTheWholeRunAndItsSummary() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = try wholeRun()
        let merged = try BenchMerge(try shards(whole, count: 4).reversed())
        #expect(merged.problems.isEmpty, "\(merged.problems)")
        #expect(merged.records == whole, "the run's order, whatever the order of the folders")
        #expect(merged.manifest == manifest())
        #expect(BenchSummary.markdown(merged.records, title: merged.manifest.title) == BenchSummary.markdown(whole, title: manifest().title))
    }

    @Test func foldersOfDifferentRunsAreRefusedNamingTheDifference() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = try wholeRun()
        let good = try folder("a", manifest(shard: try .parse("1/2")), whole)
        func refusal(_ other: BenchManifest) throws -> String {
            let error = #expect(throws: BenchInputError.self) {
                _ = try BenchMerge([good, try folder("b", other, [])])
            }
            return error?.message ?? ""
        }
        let seed = try refusal(manifest(seed: 2, shard: try .parse("2/2")))
        #expect(seed.contains("seed 1 against 2") && seed.contains(good.url.path) && seed.contains("/b"), "\(seed)")
        #expect(try refusal(manifest(model: "other", shard: try .parse("2/2"))).contains("root model m against other"))
        var sizes = manifest(shard: try .parse("2/2"))
        sizes.sizes = [2_000]
        sizes.taskIDs = BenchTaskSet.ids(suite: .niah, sizes: [2_000], count: 3)
        #expect(try refusal(sizes).contains("sizes 2k,8k against 2k"))
        var suite = manifest(shard: try .parse("2/2"))
        suite.suite = "oolong"
        #expect(try refusal(suite).contains("suite niah against oolong"))
        // A folder that is no run at all says what to give instead.
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let missing = #expect(throws: BenchInputError.self) { _ = try BenchMerge.Folder(url: empty) }
        #expect(missing?.message.contains("run.json") == true)
    }

    @Test func missingShardsAndTasksDoneTwiceAreReported() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = try wholeRun()
        var folders = try shards(whole, count: 4)
        let lost = folders.remove(at: 2)
        let partial = try BenchMerge(folders)
        #expect(partial.missingShards == [3])
        #expect(Set(partial.missing) == Set(lost.records.map { BenchRunner.key(task: $0.task, method: $0.method) }))
        #expect(partial.problems.contains { $0.contains("--shard 3/4") }, "\(partial.problems)")
        #expect(partial.problems.contains { $0.contains("\(partial.missing.count) of 12 answers are missing") }, "\(partial.problems)")

        // The same task in two folders: reported, and the answered record wins over the failed one.
        let failed = whole.first { $0.status == "failed" }!
        var retried = failed
        retried.status = "answered"
        let again = try folder("again", manifest(shard: try .parse("1/1")), [retried])
        let twice = try BenchMerge(try shards(whole, count: 4) + [again])
        #expect(twice.duplicates.map(\.key) == [BenchRunner.key(task: failed.task, method: failed.method)])
        #expect(twice.records.first { $0.task == failed.task && $0.method == failed.method }?.status == "answered")
        #expect(twice.problems.contains { $0.contains("done twice") && $0.contains("/again") }, "\(twice.problems)")
        #expect(twice.missing.isEmpty)
    }
}
