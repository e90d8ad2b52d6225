import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shell-style patterns (`*`, `?`, `[…]`): the one glob behind `--context` and `rlm_ask`'s paths.
///
/// Matching is glob(3)'s: `*` does not match a leading dot, so `*/config` never reaches `.git/config` unless the
/// pattern names the dot itself.
public enum Glob {
    /// Whether `text` holds a pattern character, and so is matched rather than taken as a path.
    public static func isPattern(_ text: String) -> Bool {
        text.contains(where: isPatternCharacter)
    }

    public static func isPatternCharacter(_ character: Character) -> Bool { "*?[".contains(character) }

    /// The paths `pattern` matches, sorted (files and folders alike); none when it matches nothing.
    public static func matches(_ pattern: String) -> [String] {
        var found = glob_t()
        defer { globfree(&found) }
        guard glob(pattern, 0, nil, &found) == 0 else { return [] }
        return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// The regular files (or links to them) `pattern` matches, sorted, and those left out because they lie in
    /// a folder every directory context leaves out (``RLMContext/skippedDirectoryNames``) below the pattern's
    /// fixed folder: `logs/*.log` does not load a `logs/notes.log` that links into `.git`, while `.git/*`
    /// names the folder itself and does.
    public static func files(matching pattern: String) -> (files: [String], leftOut: [String]) {
        let fixed = realPath(fixedFolder(of: pattern)).map { $0.split(separator: "/").map(String.init) } ?? []
        var files: [String] = []
        var leftOut: [String] = []
        for path in matches(pattern) {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, let real = realPath(path) else { continue }
            if DirectoryListing.entersSkippedFolder(real, below: fixed, skipping: RLMContext.skippedDirectoryNames) {
                leftOut.append(path)
            } else {
                files.append(path)
            }
        }
        return (files, leftOut)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The pattern's fixed leading folder (`logs` for `logs/*/app.txt`, `.` for `*.txt`), which the matches
    /// are keyed relative to.
    public static func fixedFolder(of pattern: String) -> String {
        let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = components.prefix { !$0.contains(where: isPatternCharacter) }
        let folder = fixed.joined(separator: "/")
        return folder.isEmpty ? (pattern.hasPrefix("/") ? "/" : ".") : folder
    }
}
