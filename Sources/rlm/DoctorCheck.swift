import Foundation

/// One finding of `rlm doctor`: what was checked, how it stands, what was found and, when it needs it, what to do.
struct DoctorCheck: Encodable, Sendable {
    enum Status: String, Encodable, Sendable {
        /// Works as a run needs it.
        case ok
        /// A run still works, but weaker or with a choice made for the user (basic sandbox, no endpoint yet...).
        case warning
        /// A run cannot work until this is fixed.
        case problem
    }

    var name: String
    var status: Status
    var detail: String
    /// What to do; nil when nothing needs doing.
    var fix: String?

    static func ok(_ name: String, _ detail: String) -> DoctorCheck {
        DoctorCheck(name: name, status: .ok, detail: detail, fix: nil)
    }

    static func warning(_ name: String, _ detail: String, fix: String?) -> DoctorCheck {
        DoctorCheck(name: name, status: .warning, detail: detail, fix: fix)
    }

    static func problem(_ name: String, _ detail: String, fix: String) -> DoctorCheck {
        DoctorCheck(name: name, status: .problem, detail: detail, fix: fix)
    }

    enum CodingKeys: String, CodingKey { case name, status, detail, fix }

    /// Every key on every check, `fix` as null when there is none, so a script finds the same shape each time.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(status, forKey: .status)
        try container.encode(detail, forKey: .detail)
        try container.encode(fix, forKey: .fix)
    }

    /// One line for people: status, name, what was found, and the fix after "→".
    var line: String {
        let head = status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            + name.padding(toLength: 14, withPad: " ", startingAt: 0)
        let text = fix.map { "\(detail) → \($0)" } ?? detail
        return head + Self.oneLine(text)
    }

    /// Newlines and runs of spaces folded, so each check stays on one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// Everything `rlm doctor` found, and whether a run can work here.
struct DoctorReport: Encodable {
    var checks: [DoctorCheck]

    /// 0 when a run can work (warnings allowed), 1 when any check is a problem.
    var exitCode: Int32 { checks.contains { $0.status == .problem } ? 1 : 0 }

    enum CodingKeys: String, CodingKey {
        case ok, exitCode = "exit_code", checks
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(exitCode == 0, forKey: .ok)
        try container.encode(exitCode, forKey: .exitCode)
        try container.encode(checks, forKey: .checks)
    }

    /// Writes the report on stdout: one line per check and a verdict, or one JSON object with `json`.
    func emit(json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
            Terminal.output(String(decoding: data, as: UTF8.self))
            return
        }
        for check in checks { Terminal.output(check.line) }
        let problems = checks.filter { $0.status == .problem }.count
        let warnings = checks.filter { $0.status == .warning }.count
        Terminal.output(problems == 0
            ? "A run can work here (\(warnings) warning\(warnings == 1 ? "" : "s"))."
            : "A run cannot work here yet: fix the \(problems) problem\(problems == 1 ? "" : "s") above.")
    }
}
