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
        let hidden = listing.skippedDirectories.filter {
            hiddenDirectories.contains(String($0[$0.index(after: $0.lastIndex(of: "/") ?? $0.startIndex)...]))
        }
        guard hidden.count <= maxHiddenFolders else { return nil }
        let output = scratch.appendingPathComponent("context-manifest.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        try encoder.encode(Manifest(root: listing.root, files: listing.relativePaths)).write(to: output)
        var prepared = PreparedContext(path: output.path, format: .manifest, notes: [], isTemporary: true)
        prepared.extraReadablePaths = [listing.root]
        prepared.hiddenPaths = hidden
        prepared.contentBytes = listing.totalBytes
        return prepared
    }

    /// The manifest file's shape; the driver reads it (`load_manifest` in rlm_driver.py).
    struct Manifest: Encodable {
        var root: String
        var files: [String]
    }
}
