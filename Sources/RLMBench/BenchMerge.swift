import Foundation

/// `rlm bench merge`: the folders of a run's shards joined into one run, with what is missing or done twice.
public struct BenchMerge: Sendable {
    /// One folder written by `rlm bench SUITE`: its manifest and its records (the last of each task and method).
    public struct Folder: Sendable {
        public var url: URL
        public var manifest: BenchManifest
        public var records: [BenchRecord]

        public init(url: URL, manifest: BenchManifest, records: [BenchRecord]) {
            self.url = url
            self.manifest = manifest
            self.records = BenchResultsFile.latest(records)
        }

        /// Reads `run.json` and `results.jsonl` of `url`.
        public init(url: URL) throws {
            self.init(url: url, manifest: try BenchManifest.load(from: url),
                      records: BenchResultsFile.load(url.appendingPathComponent("results.jsonl")))
        }
    }

    /// A (task, method) answered in more than one folder; the merge keeps one answer.
    public struct Duplicate: Sendable, Equatable {
        public var key: String
        public var folders: [URL]
    }

    /// The run the folders make together, shard left out.
    public var manifest: BenchManifest
    /// One record per (task, method), in the run's task order; a record from each folder's own file.
    public var records: [BenchRecord]
    /// The folder each record came from, by ``BenchRunner/key(task:method:)``.
    public var sources: [String: URL]
    /// (task, method) keys of the run that no folder answered.
    public var missing: [String]
    public var duplicates: [Duplicate]
    /// The shard count every folder names; nil when they name different ones.
    public var shardCount: Int?
    /// Shards of the partition no folder holds (when every folder names the same shard count).
    public var missingShards: [Int]

    /// Joins `folders`; throws, naming the two folders and what differs, when they are not shards of one run.
    public init(_ folders: [Folder]) throws {
        guard let first = folders.first else { throw BenchInputError("rlm bench merge needs at least one folder.") }
        for folder in folders.dropFirst() {
            let differences = first.manifest.differences(from: folder.manifest)
            if !differences.isEmpty {
                throw BenchInputError("\(first.url.path) and \(folder.url.path) are not shards of one run: "
                    + differences.joined(separator: "; ") + ". Merge only folders run with the same flags.")
            }
        }
        manifest = first.manifest
        manifest.shard = nil
        var chosen: [String: (record: BenchRecord, folder: URL)] = [:]
        var seenIn: [String: [URL]] = [:]
        for folder in folders {
            for record in folder.records {
                let key = BenchRunner.key(task: record.task, method: record.method)
                seenIn[key, default: []].append(folder.url)
                // Of two answers, a finished one wins over a failure; otherwise the first folder's stays.
                if let kept = chosen[key], kept.record.status != "failed" || record.status == "failed" { continue }
                chosen[key] = (record, folder.url)
            }
        }
        let expected = manifest.expectedKeys
        let order = Dictionary(expected.enumerated().map { ($1, $0) }) { first, _ in first }
        let keys = chosen.keys.sorted { (order[$0] ?? Int.max, $0) < (order[$1] ?? Int.max, $1) }
        records = keys.map { chosen[$0]!.record }
        sources = chosen.mapValues(\.folder)
        missing = expected.filter { chosen[$0] == nil }
        duplicates = keys.compactMap { key in seenIn[key].flatMap { $0.count > 1 ? Duplicate(key: key, folders: $0) : nil } }
        let counts = Set(folders.map { $0.manifest.shard?.count ?? 1 })
        shardCount = counts.count == 1 ? counts.first : nil
        if let shardCount {
            let present = Set(folders.map { $0.manifest.shard?.index ?? 1 })
            missingShards = (1...shardCount).filter { !present.contains($0) }
        } else {
            missingShards = []
        }
    }

    /// What a user must know before trusting the merged summary: missing and twice-done tasks, absent shards.
    public var problems: [String] {
        var lines: [String] = []
        if let shardCount, !missingShards.isEmpty {
            lines.append("\(missingShards.count) of \(shardCount) shards are not among the folders: "
                         + missingShards.map { "--shard \($0)/\(shardCount)" }.joined(separator: ", ") + ".")
        }
        if !missing.isEmpty {
            lines.append("\(missing.count) of \(manifest.expectedKeys.count) answers are missing: "
                         + Self.list(missing.map(Self.readable)) + ". Run their shard (with --resume) and merge again.")
        }
        for duplicate in duplicates {
            lines.append("\(Self.readable(duplicate.key)) was done twice, in " + duplicate.folders.map(\.path).joined(separator: " and ")
                         + "; the merge keeps the one from \(sources[duplicate.key]?.path ?? "?").")
        }
        return lines
    }


    /// `niah-8000-3|rlm` as `niah-8000-3 (rlm)`.
    static func readable(_ key: String) -> String {
        let parts = key.split(separator: "|")
        return parts.count == 2 ? "\(parts[0]) (\(parts[1]))" : key
    }

    /// The first ten items and how many more.
    static func list(_ items: [String]) -> String {
        items.prefix(10).joined(separator: ", ") + (items.count > 10 ? " and \(items.count - 10) more" : "")
    }
}
