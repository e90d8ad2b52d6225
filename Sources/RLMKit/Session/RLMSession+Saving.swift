import Foundation

/// What saving or restoring a session kept, and what it left out and why.
public struct RLMSessionSaveReport: Sendable, Codable, Equatable {
    /// Variables written (by ``RLMSession/save(to:)``) or set again (by ``RLMSession/restore(from:)``).
    public var variables: [String]
    /// Variables left out, with the reason: a module, a function or class, a value that does not pickle.
    public var skipped: [String: String]
    /// Questions whose history was saved or restored.
    public var questions: Int
    /// Anything else worth knowing (a context that differs from the saved one).
    public var notes: [String]

    /// One line for a person.
    public var summary: String {
        var parts = ["\(questions) question(s) of history, \(variables.count) variable(s)"]
        if !skipped.isEmpty {
            parts.append("skipped: " + skipped.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: "; "))
        }
        return (parts + notes).joined(separator: "; ")
    }
}

/// The history part of a saved session (`session.json`).
struct SavedSession: Codable {
    struct Exchange: Codable {
        var question: String
        var answer: String
    }
    var format = 1
    var rlmkitVersion: String
    var context: ContextDescription
    var exchanges: [Exchange]
    var messages: [ChatMessage]
    var fullHistory: [ChatMessage]
    var variables: [String]
    var skipped: [String: String]

    static let fileName = "session.json"
    static let variablesFileName = "variables.pickle"

    enum CodingKeys: String, CodingKey {
        case format, context, exchanges, messages, variables, skipped
        case rlmkitVersion = "rlmkit_version"
        case fullHistory = "full_history"
    }
}

extension RLMSession {
    // MARK: Save and resume

    /// Saves the session into `directory` (created if needed): `session.json` holds the questions, their
    /// answers and the conversation; `variables.pickle` the code's variables that pickle. Modules, functions,
    /// classes and values that do not pickle (open files, sockets, threads, generators…) are left out and named
    /// in the report. The context is not saved: resume over the same input.
    public func save(to directory: URL) async throws -> RLMSessionSaveReport {
        try await takeTurn()
        defer { endTurn() }
        guard !isClosed else { throw RLMSessionError.closed }
        let report = try await transferVariables(.save, file: directory.appendingPathComponent(SavedSession.variablesFileName))
        let history = conversation
        let saved = SavedSession(rlmkitVersion: RLMKitVersion.string, context: contextDescription,
                                 exchanges: earlier.map { .init(question: $0.question, answer: $0.answer) },
                                 messages: history?.messages ?? [], fullHistory: history?.fullHistory ?? [],
                                 variables: report.done, skipped: report.skipped)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(saved).write(to: directory.appendingPathComponent(SavedSession.fileName), options: .atomic)
        return RLMSessionSaveReport(variables: report.done, skipped: report.skipped, questions: earlier.count, notes: [])
    }

    /// Restores a session saved with ``save(to:)`` into this one: its variables, questions and conversation
    /// replace what this session had. Values that no longer unpickle are named in the report.
    public func restore(from directory: URL) async throws -> RLMSessionSaveReport {
        try await takeTurn()
        defer { endTurn() }
        guard !isClosed else { throw RLMSessionError.closed }
        let file = directory.appendingPathComponent(SavedSession.fileName)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw RLMSessionError(message: "no saved session at \(directory.path) (\(SavedSession.fileName) is missing or unreadable). Pass the directory given to save.")
        }
        let saved: SavedSession
        do {
            saved = try JSONDecoder().decode(SavedSession.self, from: data)
        } catch {
            throw RLMSessionError(message: "\(file.path) is not a saved session (\(error)). Pass the directory given to save.")
        }
        let report = try await transferVariables(.load, file: directory.appendingPathComponent(SavedSession.variablesFileName))
        earlier = saved.exchanges.map { ($0.question, $0.answer) }
        conversation = saved.messages.isEmpty ? nil : Conversation(messages: saved.messages, fullHistory: saved.fullHistory)
        var notes: [String] = []
        if saved.context.type != contextDescription.type || saved.context.size != contextDescription.size {
            notes.append("the saved session was over another context (\(saved.context.type) of \(saved.context.size) characters; this one is \(contextDescription.type) of \(contextDescription.size))")
        }
        var skipped = saved.skipped.mapValues { "not saved: \($0)" }
        skipped.merge(report.skipped) { _, new in new }
        return RLMSessionSaveReport(variables: report.done, skipped: skipped, questions: earlier.count, notes: notes)
    }

    private enum Transfer { case save, load }

    /// The driver's report on saving or loading the variables.
    private struct TransferReport: Decodable {
        var done: [String]
        var skipped: [String: String]
        /// Base64 of the pickles (saving only).
        var data: String?
    }

    /// Has the driver pickle the variables into `file`, or restore them from it. The pickles travel over the
    /// REPL's socket, since the sandbox's scratch folder may be a private file system.
    private func transferVariables(_ transfer: Transfer, file: URL) async throws -> TransferReport {
        let manager = FileManager.default
        var payload = ""
        if transfer == .load {
            guard let data = manager.contents(atPath: file.path) else {
                throw RLMSessionError(message: "the saved variables \(file.path) are missing or unreadable. Pass the directory given to save.")
            }
            payload = data.base64EncodedString()
        }
        let outcome = try await host.repl.runHostCommand { [payload] id in
            transfer == .save ? .saveVariables(id: id) : .loadVariables(id: id, data: payload)
        }
        guard !outcome.failed, let report = try? JSONDecoder().decode(TransferReport.self, from: Data(outcome.stdout.utf8)) else {
            let cause = outcome.stderr.isEmpty ? (outcome.deathReason ?? "no report") : outcome.stderr
            throw RLMSessionError(message: "the REPL could not \(transfer == .save ? "save" : "load") the variables: \(cause)")
        }
        if transfer == .save {
            guard let data = report.data.flatMap({ Data(base64Encoded: $0) }) else {
                throw RLMSessionError(message: "the REPL sent no readable pickles")
            }
            try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file, options: .atomic)
        }
        return report
    }
}
