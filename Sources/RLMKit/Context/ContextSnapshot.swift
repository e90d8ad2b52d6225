import Crypto
import Foundation

/// Files read once into a private prepared file, with the SHA-256 of exactly the bytes read.
///
/// A server that caches loaded contexts by their content must key them by what is loaded: hashing the files and
/// reading them again to load them lets a file that changes in between be cached under the old content's key.
/// A snapshot reads each file once, hashes those bytes and writes them into its own file (in a 0700 folder),
/// which the REPL then loads as ``RLMContext/snapshot(_:)``, whatever the originals have become. The file is
/// removed when the last reference to the snapshot goes.
public final class ContextSnapshot: Sendable {
    /// Hex SHA-256 of the shape, the keys and the bytes read: equal digests mean equal contexts.
    public let digest: String
    /// Bytes read from the files.
    public let contentBytes: Int
    /// The prepared file the REPL loads.
    let prepared: PreparedContext
    private let folder: URL

    private init(digest: String, contentBytes: Int, prepared: PreparedContext, folder: URL) {
        self.digest = digest
        self.contentBytes = contentBytes
        self.prepared = prepared
        self.folder = folder
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    /// One file, which keeps its own shape as a context (a `.json` file is parsed when it is JSON, as for
    /// ``RLMContext/file(_:)``).
    /// - Parameters:
    ///   - file: the file to read.
    ///   - scratch: where the snapshot's private folder is made.
    public static func take(file: URL, scratch: URL = FileManager.default.temporaryDirectory) throws -> ContextSnapshot {
        let folder = try makeFolder(in: scratch)
        do {
            var hasher = Hasher(shape: "file")
            let copy = folder.appendingPathComponent(file.lastPathComponent.isEmpty ? "context.txt" : file.lastPathComponent)
            guard let input = FileHandle(forReadingAtPath: file.path) else { throw unreadable(file.lastPathComponent) }
            defer { try? input.close() }
            let output: FileHandle
            do {
                output = try PrivateFiles.createFile(copy, exclusive: true)
            } catch {
                throw ContextError(message: "cannot write the context snapshot to \(copy.path) (\(error)). Check the free space and permissions of \(scratch.path).")
            }
            defer { try? output.close() }
            hasher.beginFile(key: file.lastPathComponent)
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.add(chunk)
                try output.write(contentsOf: chunk)
            }
            hasher.endFile()
            let format: PreparedContext.Format = file.pathExtension.lowercased() == "json" ? .autoJSON : .text
            let prepared = PreparedContext(path: copy.path, format: format, notes: [], isTemporary: false)
            return ContextSnapshot(digest: hasher.digest, contentBytes: hasher.bytes, prepared: prepared, folder: folder)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    /// Several files as `{path relative to root: text}`, as for ``RLMContext/files(_:root:)``.
    /// - Parameters:
    ///   - files: the files to read, in order.
    ///   - root: the folder the keys are relative to.
    ///   - scratch: where the snapshot's private folder is made.
    public static func take(files: [URL], root: URL, scratch: URL = FileManager.default.temporaryDirectory) throws -> ContextSnapshot {
        let folder = try makeFolder(in: scratch)
        do {
            var hasher = Hasher(shape: "files")
            let prepared = try ContextPreparer.writeDictionary(of: files, root: root, scratch: folder) { url, key in
                // Read once: these bytes are both hashed and written, so the digest names what is loaded.
                guard let data = FileManager.default.contents(atPath: url.path) else { throw unreadable(key) }
                hasher.beginFile(key: key)
                hasher.add(data)
                hasher.endFile()
                return data
            }
            var kept = prepared
            kept.isTemporary = false
            return ContextSnapshot(digest: hasher.digest, contentBytes: hasher.bytes, prepared: kept, folder: folder)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    private static func makeFolder(in scratch: URL) throws -> URL {
        let folder = scratch.appendingPathComponent("rlm-snapshot-\(UUID().uuidString.prefix(12).lowercased())")
        do {
            try PrivateFiles.createDirectory(folder)
        } catch {
            throw ContextError(message: "cannot create the context snapshot folder \(folder.path) (\(error.localizedDescription)). Check the free space and permissions of \(scratch.path).")
        }
        return folder
    }

    private static func unreadable(_ key: String) -> ContextError {
        var error = ContextError(message: "the file \(key) cannot be read (permissions?). Check its permissions.")
        error.unreadablePath = key
        return error
    }

    /// SHA-256 over the shape and, for each file, its key, its bytes and then their count: read from the end,
    /// the count and the key (which holds no NUL) mark where each file's bytes start, so no two lists of files
    /// hash alike.
    private struct Hasher {
        private var sha = SHA256()
        private var fileBytes = 0
        private(set) var bytes = 0

        init(shape: String) {
            sha.update(data: Data(shape.utf8))
        }

        mutating func beginFile(key: String) {
            sha.update(data: Data("\u{0}\(key)\u{0}".utf8))
            fileBytes = 0
        }

        mutating func add(_ data: Data) {
            sha.update(data: data)
            fileBytes += data.count
            bytes += data.count
        }

        mutating func endFile() {
            sha.update(data: Data("\u{0}\(fileBytes)\u{0}".utf8))
        }

        var digest: String {
            HexEncoding.string(sha.finalize())
        }
    }
}
