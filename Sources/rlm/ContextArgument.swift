import Foundation
import NIOPosix
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// The `--context` argument turned into an ``RLMContext``.
struct ContextArgument {
    var context: RLMContext
    /// A file this process made (the copy of stdin or of a pipe), removed after the run.
    var temporaryFile: URL?

    func cleanUp() {
        if let temporaryFile { try? FileManager.default.removeItem(at: temporaryFile) }
    }

    static func load(_ argument: String) async throws -> ContextArgument {
        if argument == "-" { return try await readStandardInput() }
        let url = URL(fileURLWithPath: argument)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return ContextArgument(context: .directory(url)) }
            if isStream(argument) { return try await copyOnce(argument) }
            return ContextArgument(context: .file(url))
        }
        if Glob.isPattern(argument) {
            return ContextArgument(context: try expandGlob(argument))
        }
        throw CLIFailure.configuration("the context path \(argument) does not exist. Pass a file, a directory, a glob (quoted) or - for stdin to --context.")
    }

    /// Copies stdin to a private temporary file, so the REPL loads it like any other file.
    static func readStandardInput() async throws -> ContextArgument {
        if isatty(STDIN_FILENO) == 1 {
            throw CLIFailure.configuration("--context - reads the input from stdin, but stdin is a terminal. Pipe the input in (… | rlm ask QUESTION --context -) or pass a path.")
        }
        return try await copyOnce(nil)
    }

    /// True for a path that can be read only once, and only by this process: a FIFO, a character device or a
    /// socket, or a descriptor of this process (`/dev/fd/N`, as `<(command)` gives, `/dev/stdin`, `/proc/self/fd/N`).
    /// The REPL (in its sandbox) could not open it again, so the host reads it once, like `-`.
    static func isStream(_ path: String) -> Bool {
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        if ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", "/proc/\(getpid())/fd/"].contains(where: standardized.hasPrefix)
            || standardized == "/dev/stdin" {
            return true
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// Reads stdin (`path` nil) or a pipe to its end into a private (0600) temporary file, on NIO's thread pool
    /// since the read blocks until the writer is done.
    static func copyOnce(_ path: String?) async throws -> ContextArgument {
        let name = path == nil ? "stdin" : "pipe"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-\(name)-\(UUID().uuidString.prefix(8)).txt")
        do {
            try await NIOThreadPool.singleton.runIfActive {
                let output = try PrivateFiles.createFile(url, exclusive: true)
                defer { try? output.close() }
                var input = FileHandle.standardInput
                if let path {
                    guard let opened = FileHandle(forReadingAtPath: path) else {
                        throw CLIFailure.configuration("cannot open \(path) for reading. Check the path given to --context.")
                    }
                    guard isatty(opened.fileDescriptor) == 0 else {
                        throw CLIFailure.configuration("\(path) is a terminal. Pass a file, a pipe or a directory to --context.")
                    }
                    input = opened
                }
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try output.write(contentsOf: chunk)
                }
            }
        } catch let failure as CLIFailure {
            try? FileManager.default.removeItem(at: url)
            throw failure
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw CLIFailure.run("cannot copy \(path ?? "stdin") into \(url.path): \(error)")
        }
        return ContextArgument(context: .file(url), temporaryFile: url)
    }

    /// The files a shell-style pattern matches, keyed relative to the pattern's fixed leading folder.
    static func expandGlob(_ pattern: String) throws -> RLMContext {
        let matched = Glob.files(matching: pattern)
        let urls = matched.files.map { URL(fileURLWithPath: $0) }
        let skipped = RLMContext.skippedDirectoryNames.sorted().joined(separator: ", ")
        if !matched.leftOut.isEmpty {
            Terminal.error("rlm: note: \(matched.leftOut.count) file(s) the pattern matched lie in folders a context leaves out (\(skipped)) and were not loaded, for example \(matched.leftOut.prefix(3).joined(separator: ", ")).")
        }
        guard !urls.isEmpty else {
            let cause = matched.leftOut.isEmpty ? "matches no files" : "matches only files in folders a context leaves out (\(skipped))"
            throw CLIFailure.configuration("the context pattern \(pattern) \(cause). Check the pattern (quote it so the shell does not expand it).")
        }
        return .files(urls, root: URL(fileURLWithPath: Glob.fixedFolder(of: pattern)))
    }
}
