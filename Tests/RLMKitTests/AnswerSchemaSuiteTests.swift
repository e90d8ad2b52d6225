import Foundation
import RLMKit
import Testing

/// The answer-schema validator against the official JSON Schema test suite (draft 2020-12), for the files of the
/// keywords it supports. Cases whose schema uses an unsupported keyword or reference are counted apart as skipped.
/// `scripts/schema-suite.sh` downloads the suite and runs this with `RLM_SCHEMA_SUITE` set to its folder.
@Suite struct AnswerSchemaSuiteTests {
    static let folder = ProcessInfo.processInfo.environment["RLM_SCHEMA_SUITE"]
    static let files = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "anyOf", "oneOf", "allOf", "ref", "defs", "boolean_schema",
    ]

    struct Group: Decodable {
        var description: String
        var schema: JSONValue
        var tests: [Case]
    }
    struct Case: Decodable {
        var description: String
        var data: JSONValue
        var valid: Bool
    }

    @Test(.enabled(if: folder != nil, "RLM_SCHEMA_SUITE is not set: run scripts/schema-suite.sh to download the suite and measure"))
    func officialSuiteCasesForTheSupportedKeywords() throws {
        let folder = URL(fileURLWithPath: Self.folder!)
        var totals = (passed: 0, run: 0, skipped: 0)
        var failures: [String] = []
        print("JSON Schema test suite, draft 2020-12, at \(folder.path)")
        for file in Self.files {
            let groups = try JSONDecoder().decode([Group].self, from: Data(contentsOf: folder.appendingPathComponent("\(file).json")))
            var tally = (passed: 0, run: 0, skipped: 0)
            var skippedBecause: Set<String> = []
            for group in groups {
                let schema: AnswerSchema
                do {
                    schema = try AnswerSchema(group.schema)
                } catch where error.kind == .unsupportedKeyword || error.kind == .unsupportedReference {
                    tally.skipped += group.tests.count
                    skippedBecause.insert(error.kind == .unsupportedKeyword ? error.keyword ?? "?" : "$ref outside the document")
                    continue
                } catch {
                    tally.run += group.tests.count
                    failures += group.tests.map { "\(file): \(group.description) / \($0.description): schema refused: \(error)" }
                    continue
                }
                for test in group.tests {
                    tally.run += 1
                    let violations = schema.validate(test.data)
                    if violations.isEmpty == test.valid {
                        tally.passed += 1
                    } else {
                        let said = violations.isEmpty ? "accepted" : "refused (\(violations.map(\.description).joined(separator: "; ")))"
                        failures.append("\(file): \(group.description) / \(test.description): expected \(test.valid ? "valid" : "invalid"), \(said)")
                    }
                }
            }
            let because = skippedBecause.isEmpty ? "" : " (" + skippedBecause.sorted().joined(separator: ", ") + ")"
            print("  \(file).json: \(tally.passed)/\(tally.run) passed, \(tally.skipped) skipped\(because)")
            totals = (totals.passed + tally.passed, totals.run + tally.run, totals.skipped + tally.skipped)
        }
        let rate = totals.run == 0 ? 0 : Double(totals.passed) / Double(totals.run) * 100
        print("  total: \(totals.passed)/\(totals.run) passed (\(String(format: "%.1f", rate))%), \(totals.skipped) skipped for unsupported keywords")
        for failure in failures { print("  FAIL \(failure)") }
        #expect(failures.isEmpty, "\(failures.count) of the suite's cases fail")
        #expect(totals.run > 0)
    }
}
