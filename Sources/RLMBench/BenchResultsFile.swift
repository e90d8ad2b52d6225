import Foundation
import RLMKit

/// `results.jsonl`, appended one line at a time so that an interrupted run keeps what it finished.
public actor BenchResultsFile {
    public let url: URL
    private let handle: FileHandle

    /// Opens `url` for appending; without `resume` an existing file is started afresh.
    public init(url: URL, resume: Bool) throws {
        self.url = url
        if !resume || !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw BenchInputError("cannot create \(url.path). Check that the --out folder is writable.")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw BenchInputError("cannot open \(url.path) for writing. Check its permissions.")
        }
        self.handle = handle
        let end = try handle.seekToEnd()
        // A line torn by a killed run is closed, so the next record starts a line of its own.
        if end > 0, let reader = FileHandle(forReadingAtPath: url.path) {
            try reader.seek(toOffset: end - 1)
            if try reader.read(upToCount: 1) != Data([0x0a]) { try handle.write(contentsOf: Data([0x0a])) }
            try reader.close()
        }
    }

    public func append(_ record: BenchRecord) throws {
        var line = try Self.encoder.encode(record)
        line.append(0x0a)
        try handle.write(contentsOf: line)
    }

    public func close() throws { try handle.close() }

    /// The records of a results file; a torn last line (the run was killed mid-write) is skipped.
    public static func load(_ url: URL) -> [BenchRecord] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return data.split(separator: 0x0a).compactMap { try? JSONDecoder().decode(BenchRecord.self, from: $0) }
    }

    /// The last record of each (task, method), in the order each first appears: a retried task replaces its
    /// failed attempt.
    public static func latest(_ records: [BenchRecord]) -> [BenchRecord] {
        var seen: [String: Int] = [:]
        var kept: [BenchRecord] = []
        for record in records {
            let key = BenchRunner.key(task: record.task, method: record.method)
            if let index = seen[key] { kept[index] = record } else { seen[key] = kept.count; kept.append(record) }
        }
        return kept
    }

    /// Writes `records` as a results file (0600) in one go: written aside, then moved into place.
    public static func write(_ records: [BenchRecord], to url: URL) throws {
        var data = Data()
        for record in records {
            data.append(try encoder.encode(record))
            data.append(0x0a)
        }
        try PrivateFiles.write(data, to: url)
    }

    /// Rewrites the file with its lines in the run's order (`keys`, from ``BenchRunner/key(task:method:)``), so
    /// that a parallel run leaves the same file as a sequential one. Lines of one key keep their order; lines of
    /// no key in `keys` go last.
    public static func sort(_ url: URL, by keys: [String]) throws {
        let order = Dictionary(keys.enumerated().map { ($1, $0) }) { first, _ in first }
        let records = load(url).enumerated().sorted { a, b in
            let (x, y) = (order[BenchRunner.key(task: a.element.task, method: a.element.method)] ?? Int.max,
                          order[BenchRunner.key(task: b.element.task, method: b.element.method)] ?? Int.max)
            return (x, a.offset) < (y, b.offset)
        }.map(\.element)
        try write(records, to: url)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
