import Foundation

extension SubcallCache {
    /// One cached reply as it lies on disk (`<folder>/<2 digits>/<digest>.json`).
    struct Entry: Codable, Sendable {
        var format = 1
        var model: String
        var text: String
        var finishReason: FinishReason
        var usage: TokenUsage
        var createdAt: Date

        init(_ response: ModelResponse) {
            model = response.model
            text = response.text
            finishReason = response.finishReason
            usage = response.usage
            createdAt = Date()
        }

        var response: ModelResponse {
            ModelResponse(text: text, finishReason: finishReason, usage: usage, model: model)
        }

        enum CodingKeys: String, CodingKey {
            case format, model, text, usage
            case finishReason = "finish_reason"
            case createdAt = "created_at"
        }
    }

    /// The cache's folder and the blocking file work on it. Every method blocks: the cache calls them on
    /// `NIOThreadPool.singleton`, never on a cooperative thread or inside the actor.
    struct Store: Sendable {
        let directory: URL

        /// One entry file: its size and when it was last written or read.
        struct File {
            var url: URL
            var bytes: Int
            var lastUsed: Date
        }

        func url(for key: Key) -> URL {
            directory.appendingPathComponent(String(key.digest.prefix(2)), isDirectory: true)
                .appendingPathComponent(key.digest + ".json")
        }

        /// The entry for `key`, marked as just used (its modification time is the least-recently-used clock);
        /// nil when there is none. An entry that cannot be read back is removed, so it cannot fail twice.
        func read(_ key: Key) -> Entry? {
            let file = url(for: key)
            guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
            guard let entry = try? Self.decoder.decode(Entry.self, from: data), entry.format == 1 else {
                try? FileManager.default.removeItem(at: file)
                return nil
            }
            try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: file.path)
            return entry
        }

        /// Writes `entry` for `key` atomically (a private temporary file renamed over it), 0600 in 0700 folders.
        /// Returns the bytes written, or nil when the entry alone would take more than `limit`.
        func write(_ entry: Entry, for key: Key, atMost limit: Int) throws -> Int? {
            let data = try Self.encoder.encode(entry)
            guard data.count <= limit else { return nil }
            try PrivateFiles.write(data, to: url(for: key))
            return data.count
        }

        /// Every entry file (temporary files of writes under way are left out).
        func files() -> [File] {
            let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey, .isRegularFileKey]
            guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: keys,
                                                                  options: [.skipsHiddenFiles]) else { return [] }
            var files: [File] = []
            for case let url as URL in enumerator where url.pathExtension == "json" {
                guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else { continue }
                files.append(File(url: url, bytes: values.fileSize ?? 0, lastUsed: values.contentModificationDate ?? .distantPast))
            }
            return files
        }

        /// Removes the least recently used entries until the rest take at most `bytes`. Returns what is left.
        func evict(downTo bytes: Int) -> (entries: Int, bytes: Int) {
            var files = files().sorted { $0.lastUsed < $1.lastUsed }
            var total = files.reduce(0) { $0 + $1.bytes }
            var removed = 0
            while total > bytes, removed < files.count {
                // Another process may have removed it already; either way it no longer counts.
                try? FileManager.default.removeItem(at: files[removed].url)
                total -= files[removed].bytes
                removed += 1
            }
            files.removeFirst(removed)
            return (files.count, total)
        }

        /// Removes every entry; returns how many there were and their size.
        func clear() -> (entries: Int, bytes: Int) {
            let files = files()
            for file in files { try? FileManager.default.removeItem(at: file.url) }
            return (files.count, files.reduce(0) { $0 + $1.bytes })
        }

        private static let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            return encoder
        }()

        private static let decoder: JSONDecoder = {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return decoder
        }()
    }
}
