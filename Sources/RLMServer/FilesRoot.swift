import Foundation
import RLMKit

/// The one folder whose files a request may name in `context_paths`. Every path is resolved with its symbolic
/// links followed and refused unless it stays inside the root, so nothing outside it is ever read; nor is
/// anything in the folders every directory context leaves out (`.git`, `.hg`, `.svn`, build folders).
struct FilesRoot: Sendable {
    /// The root with its own links resolved.
    let url: URL

    init(path: String) throws {
        guard let resolved = Self.realPath(path) else {
            throw ServerSetupError(message: "the --files-root folder \(path) does not exist. Create it or name another.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServerSetupError(message: "--files-root \(path) is not a folder. Name the folder whose files clients may use.")
        }
        url = URL(fileURLWithPath: resolved)
    }

    /// The files `paths` name (a directory stands for every file below it), each checked to lie inside the root;
    /// `isSingleFile` when `paths` names one file, which then keeps its own shape as a context.
    func files(for paths: [String]) throws(APIError) -> (files: [URL], isSingleFile: Bool) {
        guard !paths.isEmpty else { throw .invalidRequest("context_paths is empty; name at least one file or folder under the server's files root.", param: "context_paths") }
        var files: [URL] = []
        var sawDirectory = false
        for path in paths {
            let inside = try resolve(path)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: inside.path, isDirectory: &isDirectory)
            if isDirectory.boolValue { files += try filesBelow(inside) } else { files.append(inside) }
            sawDirectory = sawDirectory || isDirectory.boolValue
        }
        var seen = Set<String>()
        let unique = files.filter { seen.insert($0.path).inserted }
        guard !unique.isEmpty else {
            throw .notFound("context_paths names no file: the folders named hold none, besides the folders the server never reads (\(RLMContext.skippedDirectoryNames.sorted().joined(separator: ", "))).", code: "context_path_empty", param: "context_paths")
        }
        return (unique, unique.count == 1 && !sawDirectory)
    }

    /// `path` (relative to the root, or absolute inside it) with its links resolved, or a refusal.
    func resolve(_ path: String) throws(APIError) -> URL {
        let joined = path.hasPrefix("/") ? path : url.appendingPathComponent(path).path
        guard let resolved = Self.realPath(joined) else {
            throw .notFound("context_paths names \(path), which does not exist under the server's files root.", code: "context_path_not_found", param: "context_paths")
        }
        guard contains(resolved) else {
            throw APIError(status: .forbidden,
                           message: "context_paths names \(path), which lies outside the server's files root. Only files under it can be read.",
                           type: "invalid_request_error", code: "context_path_outside_root", param: "context_paths")
        }
        let below = resolved.dropFirst(url.path.count).split(separator: "/").map(String.init)
        if let folder = below.first(where: RLMContext.skippedDirectoryNames.contains) {
            throw APIError(status: .forbidden,
                           message: "context_paths names \(path), which lies in \(folder), a folder the server never reads (version-control and build folders may hold credentials). Name the project's own files.",
                           type: "invalid_request_error", code: "context_path_left_out", param: "context_paths")
        }
        return URL(fileURLWithPath: resolved)
    }

    private func contains(_ resolvedPath: String) -> Bool {
        Self.contains(resolvedPath, root: url.path)
    }

    private static func contains(_ resolvedPath: String, root: String) -> Bool {
        resolvedPath == root || resolvedPath.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// Regular files below `directory`, found by the walker every directory context uses, so the same folders
    /// (`.git`, `.hg`, `.svn`, build folders) are left out; a link leading out of the root is refused, not followed.
    private func filesBelow(_ directory: URL) throws(APIError) -> [URL] {
        let rootPath = url.path
        let listing: DirectoryListing
        do {
            listing = try DirectoryListing.walk(directory) { Self.contains($0, root: rootPath) }
        } catch {
            throw APIError(status: .forbidden, message: "the server cannot list \(directory.lastPathComponent) under its files root (permissions).",
                           type: "invalid_request_error", code: "context_path_unreadable", param: "context_paths")
        }
        guard listing.linksOutside.isEmpty else {
            throw APIError(status: .forbidden,
                           message: "a link under \(directory.lastPathComponent) leads outside the server's files root or into a left-out folder (\(RLMContext.skippedDirectoryNames.sorted().joined(separator: ", "))); the folder is refused.",
                           type: "invalid_request_error", code: "context_path_outside_root", param: "context_paths")
        }
        return listing.files
    }

    static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

/// A server setting that cannot work, with what to do about it.
public struct ServerSetupError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
