import Foundation
import NIOPosix

/// Turns an ``RLMContext`` into one file the driver can load without the host holding it in memory.
enum ContextPreparer {
    /// Directory names never loaded from a directory context: version-control and build internals.
    static let skippedDirectories: Set<String> = [".git", ".hg", ".svn", ".build", "node_modules", "__pycache__", ".venv"]

    /// `prepare` on a thread of SwiftNIO's blocking-work pool: a big context takes seconds of file I/O, and on a
    /// cooperative thread it would hold up every other run of the process (`rlm serve` runs several at once).
    static func prepareOffThread(_ context: RLMContext, scratch: URL, fileName: String? = nil) async throws -> PreparedContext {
        try await NIOThreadPool.singleton.runIfActive { try prepare(context, scratch: scratch, fileName: fileName) }
    }

    static func prepare(_ context: RLMContext, scratch: URL, fileName: String? = nil) throws -> PreparedContext {
        switch context {
        case .text(let text):
            let url = scratch.appendingPathComponent(fileName ?? "context.txt")
            try Data(text.utf8).write(to: url)
            return PreparedContext(path: url.path, format: .text, notes: [], isTemporary: true)
        case .json(let data):
            let url = scratch.appendingPathComponent(fileName ?? "context.json")
            try data.write(to: url)
            return PreparedContext(path: url.path, format: .json, notes: [], isTemporary: true)
        case .file(let url):
            try checkReadableFile(url)
            let format: PreparedContext.Format = url.pathExtension.lowercased() == "json" ? .autoJSON : .text
            return PreparedContext(path: url.path, format: format, notes: [], isTemporary: false)
        case .directory(let root):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ContextError(message: "the context directory \(root.path) does not exist. Check the path given to --context.")
            }
            let listing = try listTree(under: root)
            var prepared = try writeManifest(of: listing, root: root, scratch: scratch)
                ?? writeDictionary(of: listing.files, root: root, scratch: scratch)
            if !listing.linksOutside.isEmpty {
                prepared.notes.append("\(listing.linksOutside.count) link(s) into left-out folders (\(skippedDirectories.sorted().joined(separator: ", "))) left out (for example \(listing.linksOutside.prefix(3).joined(separator: ", ")))")
            }
            return prepared
        case .snapshot(let snapshot):
            var prepared = snapshot.prepared
            prepared.snapshot = snapshot
            return prepared
        case .files(let urls, let root):
            guard !urls.isEmpty else {
                throw ContextError(message: "no files matched the context pattern. Check the glob given to --context.")
            }
            return try writeDictionary(of: urls, root: root, scratch: scratch)
        }
    }

    static func checkReadableFile(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ContextError(message: "the context file \(url.path) does not exist. Check the path given to --context.")
        }
        guard !isDirectory.boolValue else { return }
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw ContextError(message: "the context file \(url.path) cannot be read (permission denied?). Check its permissions.")
        }
        try? handle.close()
    }

    /// Regular files below `root` (sorted, with their sizes), and the folders left out of it.
    static func listTree(under root: URL) throws -> DirectoryListing {
        do {
            return try DirectoryListing.walk(root, skipping: skippedDirectories)
        } catch {
            throw ContextError(message: "the context directory \(root.path) cannot be listed. Check its permissions.")
        }
    }

    /// Streams `{relative path: text}` as JSON into one file, one input file at a time.
    /// - Parameters:
    ///   - read: reads one file (its URL and key); nil leaves it out as unreadable. A snapshot hashes here.
    static func writeDictionary(of files: [URL], root: URL, scratch: URL,
                                read: (URL, String) throws -> Data? = { url, _ in FileManager.default.contents(atPath: url.path) }) throws -> PreparedContext {
        let output = scratch.appendingPathComponent("context.json")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: output.path) else {
            throw ContextError(message: "cannot write the prepared context to \(output.path).")
        }
        defer { try? handle.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let rootPath = root.standardizedFileURL.path
        var skippedBinary: [String] = []
        var unreadable: [String] = []
        var replaced = 0
        var first = true
        try handle.write(contentsOf: Data("{".utf8))
        for url in files {
            let path = url.standardizedFileURL.path
            let key = path.hasPrefix(rootPath + "/") ? String(path.dropFirst(rootPath.count + 1)) : path
            guard let data = try read(url, key) else {
                unreadable.append(key)
                continue
            }
            if data.prefix(8192).contains(0) {
                skippedBinary.append(key)
                continue
            }
            let text: String
            if let valid = String(data: data, encoding: .utf8) {
                text = valid
            } else {
                text = String(decoding: data, as: UTF8.self)
                replaced += 1
            }
            var entry = first ? Data() : Data(",".utf8)
            entry.append(try encoder.encode(key))
            entry.append(Data(":".utf8))
            entry.append(try encoder.encode(text))
            try handle.write(contentsOf: entry)
            first = false
        }
        try handle.write(contentsOf: Data("}".utf8))
        var notes: [String] = []
        if !skippedBinary.isEmpty {
            notes.append("\(skippedBinary.count) binary file(s) left out (for example \(skippedBinary.prefix(3).joined(separator: ", ")))")
        }
        if !unreadable.isEmpty {
            notes.append("\(unreadable.count) unreadable file(s) left out (for example \(unreadable.prefix(3).joined(separator: ", ")))")
        }
        if replaced > 0 {
            notes.append("\(replaced) file(s) had invalid UTF-8; the bad bytes became U+FFFD")
        }
        return PreparedContext(path: output.path, format: .json, notes: notes, isTemporary: true)
    }
}
