import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Saves the session into `directory` (created 0700 if needed; files 0600): `session.json` holds the
    /// questions, their answers and the conversation; `variables.pickle` the code's variables that pickle;
    /// `signature.json` an HMAC-SHA256 of both under `key`, which ``restore(from:key:)`` checks. Modules,
    /// functions, classes and values that do not pickle (open files, sockets, threads, generators…) are left out
    /// and named in the report. The context is not saved: resume over the same input.
    /// - Parameters:
    ///   - directory: the session folder.
    ///   - key: signs the files; the user's own key (made on first use) unless another is given.
    ///   - extras: more files (name to bytes) written and signed with the session's, which
    ///     ``readSigned(_:from:key:)`` reads back (a server keeps who owns the session there).
    public func save(to directory: URL, key: SessionSigningKey = .userDefault,
                     including extras: [String: Data] = [:]) async throws -> RLMSessionSaveReport {
        try await takeTurn()
        defer { endTurn() }
        guard !isClosed else { throw RLMSessionError.closed }
        let report = try await transferVariables(.save)
        let history = conversation
        let saved = SavedSession(rlmkitVersion: RLMKitVersion.string, context: contextDescription,
                                 exchanges: earlier.map { .init(question: $0.question, answer: $0.answer) },
                                 messages: history?.messages ?? [], fullHistory: history?.fullHistory ?? [],
                                 variables: report.done, skipped: report.skipped)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let files = extras.merging([SavedSession.fileName: try encoder.encode(saved),
                                    SavedSession.variablesFileName: report.pickles]) { _, own in own }
        try await NIOThreadPool.singleton.runIfActive {
            let signature = SessionSignature.sign(files, with: try key.load())
            try Self.write(files.merging([SessionSignature.fileName: try encoder.encode(signature)]) { $1 }, into: directory)
        }
        return RLMSessionSaveReport(variables: report.done, skipped: report.skipped, questions: earlier.count, notes: [])
    }

    /// Restores a session saved with ``save(to:key:)`` into this one: its variables, questions and conversation
    /// replace what this session had. Values that no longer unpickle are named in the report.
    ///
    /// The files are checked against `signature.json` under `key` before anything is sent to the REPL: a folder
    /// that is unsigned, signed with another key or changed since is refused with an error naming the file,
    /// and nothing in it is unpickled.
    /// - Parameters:
    ///   - directory: the session folder.
    ///   - key: the key the session was saved with; the user's own key unless another is given.
    public func restore(from directory: URL, key: SessionSigningKey = .userDefault) async throws -> RLMSessionSaveReport {
        try await takeTurn()
        defer { endTurn() }
        guard !isClosed else { throw RLMSessionError.closed }
        // Read once and checked: the bytes that pass the check are the ones decoded and unpickled.
        let files = try await NIOThreadPool.singleton.runIfActive { () throws -> [String: Data] in
            let files = try Self.read([SavedSession.fileName, SavedSession.variablesFileName], from: directory)
            try SessionSignature.verify(files, in: directory, with: try key.load(), named: key.summary)
            return files
        }
        let file = directory.appendingPathComponent(SavedSession.fileName)
        let saved: SavedSession
        do {
            saved = try JSONDecoder().decode(SavedSession.self, from: files[SavedSession.fileName] ?? Data())
        } catch {
            throw RLMSessionError(message: "\(file.path) is not a saved session (\(error)). Pass the directory given to save.")
        }
        let report = try await transferVariables(.load(files[SavedSession.variablesFileName] ?? Data()))
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

    /// Reads the files `names` of a folder written by ``save(to:key:including:)`` and checks each against its
    /// signature under `key` before returning them; throws naming the first that is missing, unsigned or changed.
    public static func readSigned(_ names: [String], from directory: URL, key: SessionSigningKey) async throws -> [String: Data] {
        try await NIOThreadPool.singleton.runIfActive {
            let files = try read(names, from: directory)
            try SessionSignature.verify(files, in: directory, with: try key.load(), named: key.summary)
            return files
        }
    }

    // MARK: Files

    /// Writes each file 0600 into `directory` (made 0700 when it does not exist), the signature last; each
    /// through a private temporary file renamed into place, so no file is ever half-written or readable by others.
    private static func write(_ files: [String: Data], into directory: URL) throws {
        let names = files.keys.filter { $0 != SessionSignature.fileName }.sorted() + [SessionSignature.fileName]
        do {
            try PrivateFiles.createDirectory(directory)
            for name in names {
                guard let data = files[name] else { continue }
                try PrivateFiles.write(data, to: directory.appendingPathComponent(name))
            }
        } catch let error as PrivateFileError {
            throw RLMSessionError(message: "\(error.description) Save to a folder you can write to.")
        }
    }

    private static func read(_ names: [String], from directory: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in names {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
                if name == SavedSession.fileName {
                    throw RLMSessionError(message: "no saved session at \(directory.path) (\(name) is missing or unreadable). Pass the directory given to save.")
                }
                if name == SavedSession.variablesFileName {
                    throw RLMSessionError(message: "the saved variables \(directory.appendingPathComponent(name).path) are missing or unreadable. Pass the directory given to save.")
                }
                throw RLMSessionError(message: "\(directory.appendingPathComponent(name).path) is missing or unreadable: the session folder is incomplete. Pass the directory given to save.")
            }
            files[name] = data
        }
        return files
    }

    // MARK: Variables

    private enum Transfer {
        case save
        /// The pickles to load, already checked against the signature.
        case load(Data)
    }

    /// The driver's report on saving or loading the variables.
    private struct TransferReport: Decodable {
        var done: [String]
        var skipped: [String: String]
        /// Base64 of the pickles (saving only).
        var data: String?
        /// The pickles, decoded (saving only).
        var pickles = Data()

        enum CodingKeys: String, CodingKey { case done, skipped, data }
    }

    /// Has the driver pickle the variables, or restore them from `pickles`. The pickles travel over the REPL's
    /// socket, since the sandbox's scratch folder may be a private file system.
    private func transferVariables(_ transfer: Transfer) async throws -> TransferReport {
        var payload = ""
        var saving = true
        if case .load(let pickles) = transfer {
            payload = pickles.base64EncodedString()
            saving = false
        }
        let outcome = try await host.repl.runHostCommand { [payload, saving] id in
            saving ? .saveVariables(id: id) : .loadVariables(id: id, data: payload)
        }
        guard !outcome.failed, var report = try? JSONDecoder().decode(TransferReport.self, from: Data(outcome.stdout.utf8)) else {
            let cause = outcome.stderr.isEmpty ? (outcome.deathReason ?? "no report") : outcome.stderr
            throw RLMSessionError(message: "the REPL could not \(saving ? "save" : "load") the variables: \(cause)")
        }
        if saving {
            guard let data = report.data.flatMap({ Data(base64Encoded: $0) }) else {
                throw RLMSessionError(message: "the REPL sent no readable pickles")
            }
            report.pickles = data
        }
        return report
    }
}
