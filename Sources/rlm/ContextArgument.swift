import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// The `--context` argument turned into an ``RLMContext``.
struct ContextArgument {
    var context: RLMContext
    /// A file this process made (stdin's copy), removed after the run.
    var temporaryFile: URL?

    func cleanUp() {
        if let temporaryFile { try? FileManager.default.removeItem(at: temporaryFile) }
    }

    static func load(_ argument: String) throws -> ContextArgument {
        if argument == "-" { return try readStandardInput() }
        let url = URL(fileURLWithPath: argument)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            return ContextArgument(context: isDirectory.boolValue ? .directory(url) : .file(url))
        }
        if argument.contains(where: { "*?[".contains($0) }) {
            return ContextArgument(context: try expandGlob(argument))
        }
        throw CLIFailure.configuration("the context path \(argument) does not exist. Pass a file, a directory, a glob (quoted) or - for stdin to --context.")
    }

    /// Copies stdin to a private temporary file, so the REPL loads it like any other file.
    static func readStandardInput() throws -> ContextArgument {
        if isatty(STDIN_FILENO) == 1 {
            throw CLIFailure.configuration("--context - reads the input from stdin, but stdin is a terminal. Pipe the input in (… | rlm ask QUESTION --context -) or pass a path.")
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-stdin-\(UUID().uuidString.prefix(8)).txt")
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: url.path) else {
            throw CLIFailure.run("cannot create a temporary file for stdin in \(url.deletingLastPathComponent().path).")
        }
        defer { try? output.close() }
        let input = FileHandle.standardInput
        while true {
            let chunk = input.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            try output.write(contentsOf: chunk)
        }
        return ContextArgument(context: .file(url), temporaryFile: url)
    }

    /// The files a shell-style pattern matches, keyed relative to the pattern's fixed leading folder.
    static func expandGlob(_ pattern: String) throws -> RLMContext {
        var matches = glob_t()
        defer { globfree(&matches) }
        let status = glob(pattern, 0, nil, &matches)
        var urls: [URL] = []
        if status == 0 {
            for index in 0..<Int(matches.gl_pathc) {
                guard let path = matches.gl_pathv[index].map({ String(cString: $0) }) else { continue }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    urls.append(URL(fileURLWithPath: path))
                }
            }
        }
        guard !urls.isEmpty else {
            throw CLIFailure.configuration("the context pattern \(pattern) matches no files. Check the pattern (quote it so the shell does not expand it).")
        }
        let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = components.prefix { !$0.contains(where: { "*?[".contains($0) }) }
        let rootPath = fixed.joined(separator: "/")
        let root = URL(fileURLWithPath: rootPath.isEmpty ? "." : rootPath)
        return .files(urls, root: root)
    }
}
