import Foundation
@testable import RLMKit
@testable import RLMServer
import Testing

/// `response_format` as rlm serve reads it: what it understands, and every field it refuses by name.
@Suite struct ResponseFormatTests {
    func format(_ json: String) throws(APIError) -> ResponseFormat {
        try ResponseFormat(try! JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
    }

    func refusal(_ json: String) -> APIError? {
        do { _ = try format(json); return nil } catch { return error }
    }

    @Test func textIsTheDefault() throws {
        #expect(try ResponseFormat(nil).kind == .text)
        #expect(try format(#"{"type": "text"}"#).schema == nil)
        #expect(try format("null").kind == .text)
    }

    @Test func jsonObjectIsAnyObjectAndStrict() throws {
        let parsed = try format(#"{"type": "json_object"}"#)
        #expect(parsed.strict)
        #expect(parsed.schema?.accepts(.object([:])) == true)
        #expect(parsed.schema?.accepts(.array([])) == false)
    }

    @Test func jsonSchemaIsStrictOnlyWhenAsked() throws {
        let loose = try format(#"{"type": "json_schema", "json_schema": {"name": "N", "schema": {"type": "integer"}}}"#)
        #expect(!loose.strict)
        #expect(loose.name == "N")
        let strict = try format(#"{"type": "json_schema", "json_schema": {"name": "N", "strict": true, "schema": {"type": "integer"}}}"#)
        #expect(strict.strict)
        #expect(strict.schema?.accepts(.number(3)) == true)
    }

    @Test func theDescriptionIsShownAsTheSchemas() throws {
        let parsed = try format(#"{"type": "json_schema", "json_schema": {"name": "N", "description": "per user", "schema": {"type": "object"}}}"#)
        guard case .object(let root)? = parsed.schema?.source else { Issue.record("no object schema"); return }
        #expect(root["description"] == .string("per user"))
    }

    @Test func everyFieldNotUnderstoodIsRefusedByName() {
        let cases: [(String, String)] = [
            (#"{"type": "xml"}"#, "response_format.type"),
            (#"{"json_schema": {}}"#, "response_format.type"),
            (#""json""#, "response_format"),
            (#"{"type": "json_object", "json_schema": {}}"#, "response_format.json_schema"),
            (#"{"type": "json_schema"}"#, "response_format.json_schema"),
            (#"{"type": "json_schema", "json_schema": {"schema": {}}}"#, "response_format.json_schema.name"),
            (#"{"type": "json_schema", "json_schema": {"name": "N"}}"#, "response_format.json_schema.schema"),
            (#"{"type": "json_schema", "json_schema": {"name": "N", "schema": {}, "strict": "yes"}}"#, "response_format.json_schema.strict"),
            (#"{"type": "json_schema", "json_schema": {"name": "N", "schema": {}, "extra": 1}}"#, "response_format.json_schema.extra"),
            (#"{"type": "json_schema", "json_schema": {"name": "N", "schema": true, "description": "d"}}"#, "response_format.json_schema.description"),
        ]
        for (json, param) in cases {
            let error = refusal(json)
            #expect(error?.status == .badRequest, "\(json)")
            #expect(error?.param == param, "\(json): \(String(describing: error?.message))")
        }
    }

    @Test func anUnsupportedKeywordIsNamed() {
        let error = refusal(#"{"type": "json_schema", "json_schema": {"name": "N", "schema": {"type": "string", "pattern": "^a"}}}"#)
        #expect(error?.code == "unsupported_schema_keyword")
        #expect(error?.message.contains(#""pattern""#) == true)
        let malformed = refusal(#"{"type": "json_schema", "json_schema": {"name": "N", "schema": {"type": "int"}}}"#)
        #expect(malformed?.code == "invalid_schema")
    }
}
