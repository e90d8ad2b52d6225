import Foundation
import NIOPosix

/// The context as the direct route sends it: measured without being loaded, then read whole into the prompt.
extension RLMContext {
    /// Bytes of text behind the context, found without loading it (file sizes, a directory's walk, the first
    /// 8 KiB of each of its files to leave binary ones out, as the REPL's loader does): what the route and
    /// `rlm ask --estimate` judge its size by. Runs on SwiftNIO's blocking-work pool.
    func measure() async throws -> ContextMeasure {
        try await NIOThreadPool.singleton.runIfActive { try measureNow() }
    }

    func measuredBytes() async throws -> Int {
        try await measure().bytes
    }

    /// The context as prompt text: a file's text as it is; files as `<file path="…">` blocks, binary ones left
    /// out (said in `notes`). Runs on SwiftNIO's blocking-work pool.
    func promptText() async throws -> (text: String, notes: [String]) {
        try await NIOThreadPool.singleton.runIfActive { try readPromptText() }
    }

    private func measureNow() throws -> ContextMeasure {
        switch self {
        case .text(let text): return ContextMeasure(bytes: text.utf8.count, files: 1)
        case .json(let data): return ContextMeasure(bytes: data.count, files: 1)
        case .file(let url):
            try ContextPreparer.checkReadableFile(url)
            return ContextMeasure(bytes: Self.size(of: url), files: 1)
        case .directory(let root):
            return Self.measure(files: try ContextPreparer.listTree(under: root).files)
        case .files(let urls, _): return Self.measure(files: urls)
        case .snapshot(let snapshot): return ContextMeasure(bytes: snapshot.contentBytes, files: 1)
        }
    }

    private static func measure(files: [URL]) -> ContextMeasure {
        var measure = ContextMeasure()
        for url in files {
            guard let handle = FileHandle(forReadingAtPath: url.path) else { measure.leftOut += 1; continue }
            let head = (try? handle.read(upToCount: 8192)) ?? Data()
            try? handle.close()
            if head.contains(0) {
                measure.leftOut += 1
            } else {
                measure.files += 1
                measure.bytes += size(of: url)
            }
        }
        return measure
    }

    private func readPromptText() throws -> (text: String, notes: [String]) {
        switch self {
        case .text(let text): return (text, [])
        case .json(let data): return (String(decoding: data, as: UTF8.self), [])
        case .file(let url):
            try ContextPreparer.checkReadableFile(url)
            return (try Self.read(url), [])
        case .directory(let root):
            let listing = try ContextPreparer.listTree(under: root)
            return try Self.render(files: listing.files, root: URL(fileURLWithPath: listing.root))
        case .files(let urls, let root):
            return try Self.render(files: urls, root: root)
        case .snapshot(let snapshot):
            let url = URL(fileURLWithPath: snapshot.prepared.path)
            guard snapshot.prepared.format == .json else { return (try Self.read(url), []) }
            // A snapshot of several files holds them as {relative path: text}.
            let files = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url))
            return (files.keys.sorted().map { Self.fileBlock(path: $0, text: files[$0] ?? "") }.joined(separator: "\n"), [])
        }
    }

    private static func size(of url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    private static func read(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ContextError(message: "the context file \(url.path) cannot be read (permission denied?). Check its permissions.")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Each file as a block headed by its path relative to `root`; binary files (a NUL in their first 8 KiB, as
    /// the REPL's loader judges them) and unreadable ones are left out and counted in the notes.
    private static func render(files: [URL], root: URL) throws -> (text: String, notes: [String]) {
        guard !files.isEmpty else {
            throw ContextError(message: "no files matched the context pattern. Check the glob given to --context.")
        }
        let rootPath = root.standardizedFileURL.path
        var blocks: [String] = []
        var skipped: [String] = []
        for url in files {
            let path = url.standardizedFileURL.path
            let key = path.hasPrefix(rootPath + "/") ? String(path.dropFirst(rootPath.count + 1)) : path
            guard let data = FileManager.default.contents(atPath: url.path), !data.prefix(8192).contains(0) else {
                skipped.append(key)
                continue
            }
            blocks.append(fileBlock(path: key, text: String(decoding: data, as: UTF8.self)))
        }
        let notes = skipped.isEmpty ? [] : ["\(skipped.count) binary or unreadable file(s) left out (for example \(skipped.prefix(3).joined(separator: ", ")))"]
        return (blocks.joined(separator: "\n"), notes)
    }

    private static func fileBlock(path: String, text: String) -> String {
        "<file path=\"\(path)\">\n\(text)\n</file>"
    }
}

/// The size of a context's text, measured without loading it.
public struct ContextMeasure: Sendable, Equatable {
    /// Bytes of text (binary and unreadable files left out).
    public var bytes = 0
    /// Files counted; 1 for a text or a single file.
    public var files = 0
    /// Binary or unreadable files left out, which a run leaves out too.
    public var leftOut = 0
}
