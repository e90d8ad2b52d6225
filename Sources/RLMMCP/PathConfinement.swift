import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// Turns the `paths` of an `rlm_ask` call into a context, reading nothing outside the allowed roots.
///
/// A path is a file, a directory or a glob, relative to the working directory (or absolute). Every path is
/// resolved to its real location (symlinks and `..` followed) before it is checked, so neither a symlink nor
/// `..` nor a glob can reach outside. A path that points outside is refused; a symlink found while walking a
/// directory that points outside is left out, and the result's notes say so.
public struct PathConfinement: Sendable {
    /// The real path of the directory that relative paths start from; always an allowed root.
    public let workingDirectory: String
    /// The real paths of the directories whose files may be read, the working directory first.
    public let roots: [String]

    /// - Parameters:
    ///   - workingDirectory: where relative paths start; it is always allowed.
    ///   - allowedRoots: further directories (`--allow-root`) whose files may be read.
    public init(workingDirectory: String, allowedRoots: [String] = []) throws {
        guard let working = Self.realPath(workingDirectory) else {
            throw ToolFailure("the working directory \(workingDirectory) cannot be resolved.",
                              fix: "Start `rlm mcp` from an existing directory.")
        }
        var roots = [working]
        for root in allowedRoots {
            let absolute = root.hasPrefix("/") ? root : working + "/" + root
            var isDirectory: ObjCBool = false
            guard let real = Self.realPath(absolute),
                  FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ToolFailure("--allow-root \(root) is not an existing directory.",
                                  fix: "Pass a directory that exists to --allow-root.")
            }
            if !roots.contains(real) { roots.append(real) }
        }
        self.workingDirectory = working
        self.roots = roots
    }

    /// The context the paths name, and notes about what was left out.
    public func context(for paths: [String]) throws -> (context: RLMContext, notes: [String]) {
        guard !paths.isEmpty else {
            throw ToolFailure("`paths` is empty.", fix: "Name at least one file, directory or glob, or pass `text`.")
        }
        var files: [String] = []
        var notes: [String] = []
        for path in paths {
            let found = try resolve(path)
            if paths.count == 1, found.isDirectory {
                let listed = try listFiles(under: found.realPath)
                notes += listed.notes
                guard !listed.files.isEmpty else {
                    throw ToolFailure("the directory \(path) holds no readable file.", fix: "Name a directory with files in it.")
                }
                return (.files(listed.files.map(URL.init(fileURLWithPath:)), root: URL(fileURLWithPath: found.realPath)), notes)
            }
            if found.isDirectory {
                let listed = try listFiles(under: found.realPath)
                files += listed.files
                notes += listed.notes
            } else {
                files += found.files
                notes += found.notes
            }
        }
        var seen = Set<String>()
        files = files.filter { seen.insert($0).inserted }
        guard !files.isEmpty else {
            throw ToolFailure("the paths \(paths.joined(separator: ", ")) name no readable file.", fix: "Name files, or directories with files in them.")
        }
        if paths.count == 1, files.count == 1, !paths[0].contains(where: Glob.isPatternCharacter) {
            return (.file(URL(fileURLWithPath: files[0])), notes)
        }
        return (.files(files.map(URL.init(fileURLWithPath:)), root: URL(fileURLWithPath: workingDirectory)), notes)
    }

    // MARK: - Resolving one path

    private struct Found {
        var realPath: String
        var isDirectory: Bool
        /// The files a glob matched, or the one file named.
        var files: [String]
        /// What a glob matched but left out.
        var notes: [String] = []
    }

    private func resolve(_ path: String) throws -> Found {
        guard !path.isEmpty, !path.contains("\0") else {
            throw ToolFailure("a path in `paths` is empty.", fix: "Give each path as a non-empty string.")
        }
        let absolute = path.hasPrefix("/") ? path : workingDirectory + "/" + path
        if let real = Self.realPath(absolute) {
            try requireInsideRoots(real, named: path)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory)
            if !isDirectory.boolValue, !FileManager.default.isReadableFile(atPath: real) {
                throw ToolFailure("the file \(path) cannot be read (permission denied).", fix: "Check its permissions.")
            }
            return Found(realPath: real, isDirectory: isDirectory.boolValue, files: isDirectory.boolValue ? [] : [real])
        }
        guard path.contains(where: Glob.isPatternCharacter) else {
            throw ToolFailure("the path \(path) does not exist (relative paths start at \(workingDirectory)).",
                              fix: "Check the path, or pass the text itself in `text`.")
        }
        var files: [String] = []
        let matched = Glob.files(matching: absolute)
        for match in matched.files {
            guard let real = Self.realPath(match) else { continue }
            try requireInsideRoots(real, named: "\(match) (matched by \(path))")
            files.append(real)
        }
        guard !files.isEmpty else {
            let cause = matched.leftOut.isEmpty ? "matches no file" : "matches only files in folders that are never read (\(RLMContext.skippedDirectoryNames.sorted().joined(separator: ", ")))"
            throw ToolFailure("the pattern \(path) \(cause) (relative patterns start at \(workingDirectory)).",
                              fix: "Check the pattern.")
        }
        var notes: [String] = []
        if !matched.leftOut.isEmpty {
            notes.append("\(matched.leftOut.count) file(s) matched by \(path) lie in folders that are never read and were left out (for example \(matched.leftOut.prefix(3).joined(separator: ", ")))")
        }
        return Found(realPath: absolute, isDirectory: false, files: files, notes: notes)
    }

    private func requireInsideRoots(_ real: String, named name: String) throws {
        guard !isInsideRoots(real) else { return }
        let allowed = roots.joined(separator: ", ")
        throw ToolFailure("the path \(name) resolves to \(real), outside the allowed roots (\(allowed)).",
                          fix: "Name a path inside them, or start `rlm mcp` with --allow-root naming the directory that holds it.")
    }

    func isInsideRoots(_ real: String) -> Bool {
        Self.isInside(real, roots: roots)
    }

    static func isInside(_ real: String, roots: [String]) -> Bool {
        roots.contains { root in real == root || real.hasPrefix(root == "/" ? "/" : root + "/") }
    }

    // MARK: - Walking a directory

    /// Regular files below `directory` whose real paths stay inside the roots, sorted, without the folders every
    /// directory context leaves out; links are resolved and never followed into directories.
    private func listFiles(under directory: String) throws -> (files: [String], notes: [String]) {
        let roots = self.roots
        let listing: DirectoryListing
        do {
            listing = try DirectoryListing.walk(URL(fileURLWithPath: directory)) { Self.isInside($0, roots: roots) }
        } catch {
            throw ToolFailure("the directory \(directory) cannot be listed.", fix: "Check its permissions.")
        }
        var notes: [String] = []
        if !listing.linksOutside.isEmpty {
            notes.append("\(listing.linksOutside.count) symlink(s) pointing outside the allowed roots or into left-out folders left out (for example \(listing.linksOutside.prefix(3).joined(separator: ", ")))")
        }
        return (listing.files.map(\.path), notes)
    }

    // MARK: - File system helpers

    /// The canonical absolute path with every symlink and `..` resolved, or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
