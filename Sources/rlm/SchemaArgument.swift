import ArgumentParser
import Foundation
import NIOPosix
import RLMKit

/// The flags that ask for a typed answer, shared by `rlm ask` and `rlm chat`.
struct SchemaOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(SchemaArgument.help, valueName: "file-or-json"))
    var schema: String?
    @Option(name: .long, help: "Refused submissions (answers that do not fit --schema) before the run stops with stop_reason schema.")
    var maxSchemaAttempts: Int = 3

    func validate() throws {
        guard maxSchemaAttempts >= 1 else {
            throw ValidationError("--max-schema-attempts must be at least 1 (it is \(maxSchemaAttempts)).")
        }
    }

    /// Reads and checks `--schema`; nil without one.
    func load() async throws -> AnswerSchema? { try await SchemaArgument.load(schema) }
}

/// `--schema FILE` or `--schema '{…}'`: the answer's JSON Schema, read and checked before anything runs. A
/// schema that is not JSON, or uses a keyword the validator does not support, is a usage error (exit 2) that
/// names the keyword.
enum SchemaArgument {
    static let help = "A JSON Schema the answer must fit: a file, or the schema itself when it starts with {. The answer is then JSON on stdout (with --json, in `answer` as JSON); after --max-schema-attempts refused submissions the run stops (exit 1, stop_reason schema)."

    /// The parsed schema; nil when `argument` is nil.
    static func load(_ argument: String?) async throws -> AnswerSchema? {
        guard let argument else { return nil }
        let trimmed = argument.trimmingCharacters(in: .whitespacesAndNewlines)
        let data: Data
        let origin: String
        if trimmed.hasPrefix("{") {
            data = Data(trimmed.utf8)
            origin = "the schema given inline"
        } else {
            origin = "the schema file \(argument)"
            do {
                data = try await NIOThreadPool.singleton.runIfActive { try Data(contentsOf: URL(fileURLWithPath: argument)) }
            } catch {
                throw CLIFailure.configuration("--schema: cannot read \(origin) (\(Self.reason(error))). Pass a readable JSON Schema file, or the schema itself starting with {.")
            }
        }
        do {
            return try AnswerSchema(json: data)
        } catch {
            throw CLIFailure.configuration("--schema: \(origin) cannot be used: \(error.message)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}
