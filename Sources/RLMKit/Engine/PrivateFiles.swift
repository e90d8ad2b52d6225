import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that hold run data (trajectory logs, saved sessions, copies of the input) are readable by their owner
/// only: folders this creates are 0700 and files 0600, whatever the umask. Folders that already exist are left
/// as they are.
public enum PrivateFiles {
    /// The user's cache folder for rlm: `$XDG_CACHE_HOME/rlm`, else `$HOME/.cache/rlm` (else the account's home). An
    /// empty or relative `XDG_CACHE_HOME` is ignored, as the XDG spec says. Trajectory logs and the sub-call cache
    /// live below it.
    public static func cacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : nil }
            ?? URL(fileURLWithPath: home).appendingPathComponent(".cache")
        return cache.appendingPathComponent("rlm", isDirectory: true)
    }

    /// Creates `directory` and each missing parent, every new one 0700.
    public static func createDirectory(_ directory: URL) throws {
        var missing: [String] = []
        var path = directory.standardizedFileURL.path
        while !path.isEmpty, path != "/", !FileManager.default.fileExists(atPath: path) {
            missing.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        for folder in missing.reversed() {
            // Another process may create the same folder meanwhile; that one keeps its own mode.
            if mkdir(folder, 0o700) != 0 {
                guard errno == EEXIST else { throw failure("create the folder", folder) }
                continue
            }
            // mkdir's mode is filtered by the umask; a strict umask must not lock the owner out either.
            chmod(folder, 0o700)
        }
    }

    /// Creates `file` (or empties an existing one) as 0600, its missing folders 0700, and opens it for writing.
    /// - Parameters:
    ///   - exclusive: the file must be new and is never opened through a link: for temporary files in shared
    ///     folders such as /tmp, where someone else could plant a link at the name first.
    public static func createFile(_ file: URL, exclusive: Bool = false) throws -> FileHandle {
        try createDirectory(file.deletingLastPathComponent())
        let flags = exclusive ? O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
        let descriptor = open(file.path, flags, 0o600)
        guard descriptor >= 0 else { throw failure("create the file", file.path) }
        // An existing file keeps its old mode through open(2): narrow it too.
        fchmod(descriptor, 0o600)
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Writes `data` to `file` as 0600 in one step: a private temporary file beside it (new, never a link) is
    /// renamed over it, so the file is never half-written or readable by others.
    public static func write(_ data: Data, to file: URL) throws {
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString.prefix(8))")
        let handle = try createFile(temporary, exclusive: true)
        do {
            try handle.write(contentsOf: data)
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        guard rename(temporary.path, file.path) == 0 else {
            let error = failure("replace", file.path)
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    private static func failure(_ action: String, _ path: String) -> PrivateFileError {
        PrivateFileError(description: "cannot \(action) \(path): \(String(cString: strerror(errno))). Check the permissions of its folder.")
    }
}

/// A private file or folder could not be made; says which and why.
public struct PrivateFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
