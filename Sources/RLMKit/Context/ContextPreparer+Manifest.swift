import Foundation

extension ContextPreparer {
    /// Folders that may hold credentials (remote URLs with tokens, hooks): hidden from the strict sandbox when
    /// the REPL reads a directory context in place.
    static let hiddenDirectories: Set<String> = [".git", ".hg", ".svn"]

    /// More hidden folders than this and the directory is encoded as JSON instead: each one is a mount.
    static let maxHiddenFolders = 64

    /// Writes the list of files under `root` for the driver to read in place, through a read-only view of `root`.
    ///
    /// The host then never reads the files: the driver opens them itself, which is bound by the disk and by
    /// UTF-8 decoding rather than by re-encoding every file as JSON. Returns nil when the tree has too many
    /// folders to hide; the caller then encodes the files as JSON.
    static func writeManifest(of listing: DirectoryListing, root: URL, scratch: URL) throws -> PreparedContext? {
        let hidden = listing.skippedDirectories.filter { hiddenDirectories.contains($0.lastPathComponent) }
        guard hidden.count <= maxHiddenFolders else { return nil }
        let rootPath = root.standardizedFileURL.path
        let keys = listing.files.map { url -> String in
            let path = url.standardizedFileURL.path
            return path.hasPrefix(rootPath + "/") ? String(path.dropFirst(rootPath.count + 1)) : path
        }
        let output = scratch.appendingPathComponent("context-manifest.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        try encoder.encode(Manifest(root: rootPath, files: keys)).write(to: output)
        var prepared = PreparedContext(path: output.path, format: .manifest, notes: [], isTemporary: true)
        prepared.extraReadablePaths = [rootPath]
        prepared.hiddenPaths = hidden.map { $0.standardizedFileURL.path }
        prepared.contentBytes = listing.totalBytes
        return prepared
    }

    /// The manifest file's shape; the driver reads it (`load_manifest` in rlm_driver.py).
    struct Manifest: Encodable {
        var root: String
        var files: [String]
    }
}
