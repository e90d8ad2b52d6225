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

    /// The regular files (or links to them) `pattern` matches, sorted.
    public static func files(matching pattern: String) -> [String] {
        matches(pattern).filter { path in
            var info = stat()
            return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        }
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
