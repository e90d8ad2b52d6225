import Foundation
import RLMKit

/// A trajectory log read for the viewer: its complete JSON lines, and what could not be read.
///
/// A run that was killed may leave its last line cut off, and a log that is still being written ends mid-line
/// now and then: both are expected, so such a line is left out with a note, never a failure.
public struct TrajectoryFile: Sendable {
    /// A name for the run: the file's name.
    public var name: String
    /// Each event as the JSON text of one line, in order, the header first.
    public var lines: [Substring]
    /// What the reader left out, in words for the user (empty when every line was read).
    public var notes: [String]
    /// The header's `schema_version`, when it has one (logs written before versioning have none).
    public var schemaVersion: Int?

    /// Reads `path`. Throws ``ViewerError`` when the file cannot be read or is not a trajectory log.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ViewerError(exists
                ? "cannot read \(path). Check its permissions."
                : "no file at \(path). Pass the path of a trajectory log (`rlm ask` prints it; the default folder is ~/.cache/rlm/runs/).")
        }
        try self.init(name: URL(fileURLWithPath: path).lastPathComponent, data: data)
    }

    /// Reads a log from memory; `name` is shown as the run's title.
    public init(name: String, data: Data) throws {
        self.name = name
        let text = String(decoding: data, as: UTF8.self)
        let rawLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var lines: [Substring] = []
        var skipped: [Int] = []
        var cutLast = false
        for (index, raw) in rawLines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces).isEmpty ? Substring("") : raw
            if line.isEmpty { continue }
            if Self.isJSONObject(line) {
                lines.append(line)
            } else if index == rawLines.count - 1 {
                cutLast = true
            } else {
                skipped.append(index + 1)
            }
        }
        guard let first = lines.first, let header = Self.object(first), header["event"] as? String == "header" else {
            throw ViewerError("\(name) is not an rlm trajectory log: its first line is not a header event. Pass a log written by `rlm ask --log PATH` (or found in ~/.cache/rlm/runs/).")
        }
        self.lines = lines
        self.schemaVersion = header["schema_version"] as? Int
        var notes: [String] = []
        if cutLast { notes.append("\(name): the last line was cut off (the run was stopped, or is still writing it) and is left out") }
        if !skipped.isEmpty {
            let shown = skipped.prefix(5).map(String.init).joined(separator: ", ")
            notes.append("\(name): \(skipped.count) line(s) that are not JSON were left out (line \(shown)\(skipped.count > 5 ? ", …" : ""))")
        }
        if let version = schemaVersion, version > TrajectoryLog.schemaVersion {
            notes.append("\(name) has schema version \(version), newer than this rlm reads (\(TrajectoryLog.schemaVersion)); fields it does not know are not shown. Update rlm to see them.")
        }
        self.notes = notes
    }

    /// The events as one JSON array, safe inside an HTML `<script>` element (every `<` escaped).
    public var jsonArray: String {
        var out = "["
        out.reserveCapacity(lines.reduce(2) { $0 + $1.utf8.count + 2 })
        for (index, line) in lines.enumerated() {
            if index > 0 { out += ",\n" }
            out += Self.scriptSafe(line)
        }
        return out + "]"
    }

    /// JSON text with `<` written as `\u003c`, which is the same JSON (a `<` can only stand inside a string) but
    /// can never close the script element or open a comment.
    static func scriptSafe<S: StringProtocol>(_ json: S) -> String {
        json.contains("<") ? json.replacingOccurrences(of: "<", with: "\\u003c") : String(json)
    }

    static func isJSONObject(_ line: Substring) -> Bool {
        guard line.first == "{" else { return false }
        return object(line) != nil
    }

    static func object(_ line: Substring) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// Why `rlm view` could not do what it was asked, with the fix.
public struct ViewerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
