import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The regular files below a folder: the one directory walker behind `--context DIR`, `rlm_ask`'s paths and
/// `rlm serve --files-root`, so all three leave out the same folders (``RLMContext/skippedDirectoryNames``:
/// version-control internals, which may hold credentials, and build folders).
///
/// It uses `readdir` and `lstat` (tens of thousands of files a second faster than `FileManager`'s enumerator on
/// Linux). A link to a folder is never followed. A link to a file counts as that file, unless its target lies
/// in a left-out folder, or outside the confinement the caller gives (then it is named in ``linksOutside``).
public struct DirectoryListing: Sendable {
    /// One file: its key and where it is read.
    struct Entry: Sendable {
        var relativePath: String
        var readPath: String
    }

    /// The folder, standardised; every key is relative to it.
    public var root: String
    var entries: [Entry] = []
    /// Bytes in the listed files.
    public var totalBytes = 0
    /// Left-out folders (absolute paths), each once: their contents are not walked.
    public var skippedDirectories: [String] = []
    /// Links (relative paths) whose target lies outside the confinement, or inside a left-out folder: not listed.
    public var linksOutside: [String] = []

    /// Paths relative to `root`, sorted.
    public var relativePaths: [String] { entries.map(\.relativePath) }

    /// The files to read, sorted, each once: `root/relative path`, or for a link in a confined walk the real path
    /// of its target (so what was checked is what is read).
    public var files: [URL] {
        var seen = Set<String>()
        return entries.map(\.readPath).filter { seen.insert($0).inserted }.sorted().map { URL(fileURLWithPath: $0) }
    }

    /// Walks `root`; an unreadable subfolder is passed over.
    /// - Parameters:
    ///   - root: the folder; give its real path when `inside` is set.
    ///   - skipped: folder names never walked into.
    ///   - inside: when set, a link counts only if the real path of its target passes this test.
    public static func walk(_ root: URL, skipping skipped: Set<String> = RLMContext.skippedDirectoryNames,
                            confinedTo inside: (@Sendable (String) -> Bool)? = nil) throws -> DirectoryListing {
        let rootPath = root.standardizedFileURL.path
        guard let top = opendir(rootPath) else {
            throw ContextError(message: "the directory \(rootPath) cannot be listed. Check its permissions.")
        }
        let walker = Walker(skipped: skipped, inside: inside, rootComponents: rootPath.split(separator: "/").map(String.init))
        var listing = DirectoryListing(root: rootPath)
        walker.walk(top, absolute: rootPath, relative: "", into: &listing)
        listing.entries.sort { $0.relativePath < $1.relativePath }
        listing.linksOutside.sort()
        return listing
    }

    private struct Walker {
        let skipped: Set<String>
        let inside: (@Sendable (String) -> Bool)?
        let rootComponents: [String]

        func walk(_ directory: OpaquePointer, absolute: String, relative: String, into listing: inout DirectoryListing) {
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                let path = absolute + "/" + name
                let key = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    if skipped.contains(name) {
                        listing.skippedDirectories.append(path)
                    } else if let child = opendir(path) {
                        walk(child, absolute: path, relative: key, into: &listing)
                    }
                case S_IFREG:
                    listing.entries.append(Entry(relativePath: key, readPath: path))
                    listing.totalBytes += Int(info.st_size)
                case S_IFLNK:
                    link(path, key: key, into: &listing)
                default:
                    continue
                }
            }
        }

        /// A link to a file counts as that file; a link to a folder is not followed.
        private func link(_ path: String, key: String, into listing: inout DirectoryListing) {
            guard let pointer = realpath(path, nil) else { return }
            let target = String(cString: pointer)
            free(pointer)
            if let inside, !inside(target) {
                listing.linksOutside.append(key)
                return
            }
            if DirectoryListing.entersSkippedFolder(target, below: rootComponents, skipping: skipped) {
                listing.linksOutside.append(key)
                return
            }
            var info = stat()
            guard stat(target, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
            listing.entries.append(Entry(relativePath: key, readPath: inside == nil ? path : target))
            listing.totalBytes += Int(info.st_size)
        }
    }

    /// Whether `target` (a real path) lies in a left-out folder (`notes.txt -> .git/config`), counting only the
    /// folders below what it shares with `root`, so a root that itself lies in such a folder still works.
    static func entersSkippedFolder(_ target: String, below root: [String], skipping skipped: Set<String>) -> Bool {
        let components = target.split(separator: "/").map(String.init)
        var shared = 0
        while shared < min(components.count, root.count), components[shared] == root[shared] { shared += 1 }
        return components.dropFirst(shared).dropLast().contains { skipped.contains($0) }
    }
}
