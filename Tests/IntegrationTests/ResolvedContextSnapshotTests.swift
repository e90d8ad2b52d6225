import Foundation
@testable import RLMKit
@testable import RLMServer
import Testing

/// What `rlm serve` hashes to key its context cache is what it loads: the files are read once, into a snapshot
/// that is both hashed and loaded, so a file that changes in between cannot be cached under the old key.
@Suite struct ResolvedContextSnapshotTests {
    final class Folder {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-snapshot-test-\(UUID().uuidString.prefix(8))")
                .resolvingSymlinksInPath()
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func write(_ name: String, _ text: String) throws -> URL {
            let file = url.appendingPathComponent(name)
            try text.write(to: file, atomically: false, encoding: .utf8)
            return file
        }
    }

    /// The text the REPL would load for `context`.
    static func loaded(_ context: RLMContext, in folder: Folder) throws -> String {
        let scratch = folder.url.appendingPathComponent("scratch-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let prepared = try ContextPreparer.prepare(context, scratch: scratch)
        return try String(contentsOfFile: prepared.path, encoding: .utf8)
    }

    @Test func filesChangedAfterHashingAreLoadedAsHashed() throws {
        let folder = try Folder()
        let a = try folder.write("a.txt", "first version")
        let b = try folder.write("b.txt", "unchanged")
        let first = try ResolvedContext.files([a, b], root: folder.url, single: false)
        _ = try folder.write("a.txt", "second version, longer")

        let loaded = try Self.loaded(first.context, in: folder)
        #expect(loaded.contains("first version") && !loaded.contains("second version"), "loaded: \(loaded)")
        #expect(first.bytes == "first version".utf8.count + "unchanged".utf8.count)

        let second = try ResolvedContext.files([a, b], root: folder.url, single: false)
        #expect(second.key != first.key)
        #expect(try Self.loaded(second.context, in: folder).contains("second version, longer"))
        // The first content again gives the first key: a key names exactly the bytes loaded under it.
        _ = try folder.write("a.txt", "first version")
        #expect(try ResolvedContext.files([a, b], root: folder.url, single: false).key == first.key)
    }

    @Test func oneFileChangedAfterHashingIsLoadedAsHashed() throws {
        let folder = try Folder()
        let notes = try folder.write("notes.json", #"{"v": 1}"#)
        let first = try ResolvedContext.files([notes], root: folder.url, single: true)
        _ = try folder.write("notes.json", #"{"v": 2}"#)
        #expect(try Self.loaded(first.context, in: folder) == #"{"v": 1}"#)
        guard case .snapshot(let snapshot) = first.context else {
            Issue.record("expected a snapshot, got \(first.context)")
            return
        }
        // A .json file keeps its shape: parsed when it is JSON.
        #expect(snapshot.prepared.format == .autoJSON)
        #expect(try ResolvedContext.files([notes], root: folder.url, single: true).key != first.key)
    }

    @Test func theSnapshotIsPrivateAndGoesWithItsLastReference() throws {
        let folder = try Folder()
        let a = try folder.write("a.txt", "text")
        var path = ""
        do {
            let resolved = try ResolvedContext.files([a], root: folder.url, single: false)
            guard case .snapshot(let snapshot) = resolved.context else {
                Issue.record("expected a snapshot")
                return
            }
            path = snapshot.prepared.path
            let folderMode = try FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)[.posixPermissions] as? Int
            #expect(folderMode == 0o700)
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(!path.isEmpty && !FileManager.default.fileExists(atPath: path))
    }
}
