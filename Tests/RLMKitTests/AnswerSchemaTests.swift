import Foundation
import RLMKit
import Testing

/// The answer-schema validator: each supported keyword, the paths and messages a model is shown, the refusal of
/// unsupported keywords by name, and `$ref`s that recurse.
@Suite struct AnswerSchemaTests {
    func schema(_ text: String) throws -> AnswerSchema { try AnswerSchema(json: Data(text.utf8)) }
    func value(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
    /// The violations of `instance` as `path: message` lines.
    func violations(_ schemaText: String, _ instance: String) throws -> [String] {
        try schema(schemaText).validate(json: Data(instance.utf8)).map(\.description)
    }

    // MARK: Keywords

    @Test func typeNamesAListOfTypesAndIntegerAcceptsWholeFloats() throws {
        #expect(try violations(#"{"type":"integer"}"#, "1.0") == [])
        #expect(try violations(#"{"type":"integer"}"#, #""12""#) == [#"$: expected integer, got string "12""#])
        #expect(try violations(#"{"type":"integer"}"#, "1.5") == ["$: expected integer, got number 1.5"])
        #expect(try violations(#"{"type":["string","null"]}"#, "null") == [])
        #expect(try violations(#"{"type":["string","null"]}"#, "3") == ["$: expected string or null, got number 3"])
        #expect(try violations(#"{"type":"number"}"#, "true") == ["$: expected number, got boolean true"])
        #expect(try violations(#"{"type":"boolean"}"#, "0") == ["$: expected boolean, got number 0"])
        #expect(try violations(#"{"type":"object"}"#, "[1,2]") == ["$: expected object, got array of 2 items"])
        #expect(try violations(#"{"type":"array"}"#, "{}") == ["$: expected array, got object with 0 keys"])
    }

    @Test func propertiesRequiredAndAdditionalProperties() throws {
        let record = #"{"type":"object","properties":{"n":{"type":"integer"},"name":{"type":"string"}},"required":["n","name"],"additionalProperties":false}"#
        #expect(try violations(record, #"{"n":1,"name":"a"}"#) == [])
        #expect(try violations(record, #"{"name":"a","extra":1}"#) == [
            #"$: missing required key "n""#,
            #"$: unexpected key "extra" (allowed: "n", "name")"#,
        ])
        let typed = #"{"properties":{"a":{}},"additionalProperties":{"type":"string"}}"#
        #expect(try violations(typed, #"{"a":1,"b":"x","c":2}"#) == ["$.c: expected string, got number 2"])
        #expect(try violations(#"{"additionalProperties":false}"#, #"{"a":1}"#) == [#"$: unexpected key "a" (no keys are allowed)"#])
    }

    @Test func itemsAndItemCounts() throws {
        let list = #"{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}"#
        #expect(try violations(list, "[1,2]") == [])
        #expect(try violations(list, "[]") == ["$: expected at least 1 item, got 0"])
        #expect(try violations(list, #"[1,"x",3,4.5]"#) == [
            "$: expected at most 3 items, got 4",
            #"$[1]: expected integer, got string "x""#,
            "$[3]: expected integer, got number 4.5",
        ])
    }

    @Test func enumAndConstUseJSONEquality() throws {
        #expect(try violations(#"{"enum":["a",1,{"k":[1,2]}]}"#, "1.0") == [])
        #expect(try violations(#"{"enum":["a",1,{"k":[1,2]}]}"#, #"{"k":[1.0,2]}"#) == [])
        #expect(try violations(#"{"enum":["a","b"]}"#, #""c""#) == [#"$: expected one of ["a","b"], got string "c""#])
        #expect(try violations(#"{"enum":[false]}"#, "0") != [])
        #expect(try violations(#"{"const":{"a":1,"b":[true,null]}}"#, #"{"b":[true,null],"a":1.0}"#) == [])
        #expect(try violations(#"{"const":5}"#, "4") == ["$: expected 5, got number 4"])
        #expect(try violations(#"{"const":null}"#, "0") == ["$: expected null, got number 0"])
        #expect(try violations(#"{"const":1}"#, "true") == ["$: expected 1, got boolean true"])
    }

    @Test func numericBounds() throws {
        let range = #"{"minimum":0,"maximum":10.5}"#
        #expect(try violations(range, "0") == [])
        #expect(try violations(range, "10.5") == [])
        #expect(try violations(range, "-1") == ["$: expected at least 0, got -1"])
        #expect(try violations(range, "11") == ["$: expected at most 10.5, got 11"])
        #expect(try violations(range, #""99""#) == [])  // bounds apply to numbers only
    }

    @Test func lengthsCountUnicodeCodePoints() throws {
        let short = #"{"minLength":2,"maxLength":3}"#
        #expect(try violations(short, #""💩💩""#) == [])  // 2 code points, 8 UTF-8 bytes, 4 UTF-16 units
        #expect(try violations(short, #""e\u0301""#) == [])  // 1 grapheme, 2 code points
        #expect(try violations(short, #""a""#) == ["$: expected at least 2 characters, got 1"])
        #expect(try violations(short, #""abcd""#) == ["$: expected at most 3 characters, got 4"])
    }

    @Test func allOfAnyOfOneOf() throws {
        #expect(try violations(#"{"allOf":[{"minimum":1},{"maximum":3}]}"#, "5") == ["$: expected at most 3, got 5"])
        // Pydantic's Optional[int]: the alternatives' types are merged into one message.
        let optional = #"{"anyOf":[{"type":"integer"},{"type":"null"}]}"#
        #expect(try violations(optional, "null") == [])
        #expect(try violations(optional, #""12""#) == [#"$: expected integer or null, got string "12""#])
        // Only one alternative has the value's type: its own violations are the ones shown.
        let optionalRecord = #"{"anyOf":[{"type":"object","required":["n"]},{"type":"null"}]}"#
        #expect(try violations(optionalRecord, "{}") == [#"$: missing required key "n""#])
        let twoRecords = #"{"anyOf":[{"type":"object","required":["a"]},{"type":"object","required":["b","c"]}]}"#
        #expect(try violations(twoRecords, "{}") == [#"$: fits none of the 2 alternatives of anyOf; the nearest, #1, says: $: missing required key "a""#])
        let one = #"{"oneOf":[{"type":"integer"},{"minimum":2}]}"#
        #expect(try violations(one, "1") == [])
        #expect(try violations(one, "2.5") == [])
        #expect(try violations(one, "3") == ["$: fits alternatives #1 and #2 of oneOf; it must fit exactly one"])
        #expect(try violations(one, "1.5") != [])
    }

    @Test func booleanSchemas() throws {
        #expect(try violations("true", #"{"any":[1]}"#) == [])
        #expect(try violations("false", "null") == ["$: no value is allowed here"])
        #expect(try violations(#"{"items":false}"#, "[]") == [])
        #expect(try violations(#"{"items":false}"#, "[1]") == ["$[0]: no value is allowed here"])
    }

    @Test func annotationsAreIgnored() throws {
        let annotated = #"{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/a","title":"A","description":"d","default":1,"examples":[1],"$comment":"c","type":"integer"}"#
        #expect(try violations(annotated, "1") == [])
        #expect(try violations(annotated, #""1""#).count == 1)
    }

    // MARK: Paths

    @Test func pathsNameKeysAndIndexesDownToTheFault() throws {
        let nested = #"{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}}}"#
        #expect(try violations(nested, #"{"items":[{"n":1},{"n":2},{"m":3},{"n":"4"}]}"#) == [
            #"$.items[2]: missing required key "n""#,
            #"$.items[3].n: expected integer, got string "4""#,
        ])
        let odd = #"{"properties":{"a key":{"type":"string"},"x.y":{"type":"string"},"_ok1":{"type":"string"}}}"#
        #expect(try violations(odd, #"{"a key":1,"x.y":2,"_ok1":3}"#) == [
            "$._ok1: expected string, got number 3",
            #"$["a key"]: expected string, got number 1"#,
            #"$["x.y"]: expected string, got number 2"#,
        ])
    }

    @Test func textThatIsNotJSONIsOneViolation() throws {
        let found = try schema(#"{"type":"object"}"#).validate(json: Data("{n: 1}".utf8))
        #expect(found.count == 1)
        #expect(found.first?.path == "$")
        #expect(found.first?.message.hasPrefix("not valid JSON") == true)
    }

    @Test func longStringsAreCutInMessages() throws {
        let long = String(repeating: "x", count: 500)
        let message = try violations(#"{"type":"integer"}"#, "\"\(long)\"")[0]
        #expect(message.count < 80)
        #expect(message.hasSuffix("…\""))
    }

    // MARK: Refusals

    @Test func unsupportedKeywordsAreRefusedByNameAndPath() throws {
        for (text, keyword, path) in [
            (#"{"type":"string","format":"date-time"}"#, "format", "$"),
            (#"{"properties":{"when":{"type":"string","pattern":"^a"}}}"#, "pattern", "$.properties.when"),
            (##"{"$defs":{"Item":{"not":{}}},"$ref":"#/$defs/Item"}"##, "not", "$.$defs.Item"),
            (#"{"items":{"anyOf":[{"exclusiveMinimum":0}]}}"#, "exclusiveMinimum", "$.items.anyOf[0]"),
            (#"{"definitions":{}}"#, "definitions", "$"),
        ] {
            let error = #expect(throws: AnswerSchemaError.self) { try schema(text) }
            #expect(error?.kind == .unsupportedKeyword)
            #expect(error?.keyword == keyword)
            #expect(error?.path == path)
            #expect(error?.message.contains("\"\(keyword)\" at \(path)") == true)
            #expect(error?.message.contains("Supported keywords: type, properties") == true)
        }
    }

    @Test func malformedValuesOfSupportedKeywordsAreRefused() throws {
        for (text, keyword) in [
            (#"{"type":"int"}"#, "type"), (#"{"required":"n"}"#, "required"), (#"{"minLength":-1}"#, "minLength"),
            (#"{"items":[{}]}"#, "items"), (#"{"anyOf":[]}"#, "anyOf"), (#"{"properties":{"a":3}}"#, "properties"),
            (#"{"minimum":"0"}"#, "minimum"), (#"{"enum":1}"#, "enum"), (#"{"$ref":1}"#, "$ref"),
        ] {
            let error = #expect(throws: AnswerSchemaError.self) { try schema(text) }
            #expect(error?.kind == .invalidValue)
            #expect(error?.keyword == keyword)
        }
        #expect(throws: AnswerSchemaError.self) { try schema("[]") }
        let notJSON = #expect(throws: AnswerSchemaError.self) { try schema("{type: object}") }
        #expect(notJSON?.kind == .notJSON)
    }

    @Test func referencesOutsideTheDocumentAreRefused() throws {
        for text in [##"{"$ref":"https://example.com/s.json"}"##, ##"{"$ref":"#anchor"}"##, ##"{"$ref":"other.json#/$defs/a"}"##,
                     ##"{"$defs":{"a":{"$id":"https://x.example/a","$ref":"#/$defs/b"}}}"##] {
            let error = #expect(throws: AnswerSchemaError.self) { try schema(text) }
            #expect(error?.kind == .unsupportedReference)
        }
        let missing = #expect(throws: AnswerSchemaError.self) { try schema(##"{"$ref":"#/$defs/Nope"}"##) }
        #expect(missing?.kind == .unresolvedReference)
        #expect(missing?.message.contains("#/$defs/Nope") == true)
        let notASchema = #expect(throws: AnswerSchemaError.self) { try schema(##"{"required":["a"],"$ref":"#/required"}"##) }
        #expect(notASchema?.kind == .unresolvedReference)
    }

    // MARK: References

    @Test func refsResolveWithinTheDocumentLikePydanticWritesThem() throws {
        let pydantic = #"""
        {"$defs":{"Item":{"properties":{"n":{"title":"N","type":"integer"},"tag":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null,"title":"Tag"}},"required":["n"],"title":"Item","type":"object"}},
         "properties":{"items":{"items":{"$ref":"#/$defs/Item"},"title":"Items","type":"array"}},"required":["items"],"title":"Answer","type":"object"}
        """#
        #expect(try violations(pydantic, #"{"items":[{"n":1},{"n":2,"tag":null},{"n":3,"tag":"x"}]}"#) == [])
        #expect(try violations(pydantic, #"{"items":[{"n":1},{"tag":"x"},{"n":"3","tag":4}]}"#) == [
            #"$.items[1]: missing required key "n""#,
            #"$.items[2].n: expected integer, got string "3""#,
            "$.items[2].tag: expected string or null, got number 4",
        ])
        // Escaped pointer tokens: `~1` is `/`, `~0` is `~`, and percent-encoding is decoded first.
        let escaped = ##"{"$defs":{"a/b":{"type":"integer"},"c~d":{"type":"string"},"e%f":{"type":"null"}},"properties":{"x":{"$ref":"#/$defs/a~1b"},"y":{"$ref":"#/$defs/c~0d"},"z":{"$ref":"#/$defs/e%25f"}}}"##
        #expect(try violations(escaped, #"{"x":1,"y":"s","z":null}"#) == [])
        #expect(try violations(escaped, #"{"x":"1","y":2,"z":3}"#).count == 3)
    }

    @Test func recursiveRefsFollowTheValueAndEnd() throws {
        let tree = ##"{"$defs":{"Node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["value"]}},"$ref":"#/$defs/Node"}"##
        #expect(try violations(tree, #"{"value":1,"children":[{"value":2,"children":[{"value":3}]}]}"#) == [])
        #expect(try violations(tree, #"{"value":1,"children":[{"value":2,"children":[{"value":"3"}]}]}"#)
                == [#"$.children[0].children[0].value: expected integer, got string "3""#])
        // `#` is the whole schema.
        let list = ##"{"type":["array","integer"],"items":{"$ref":"#"}}"##
        #expect(try violations(list, "[1,[2,[3,[\"4\"]]]]") == [#"$[1][1][1][0]: expected array or integer, got string "4""#])
        // A value deeper than the limit is refused, not a stack overflow.
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        let found = try violations(list, deep)
        #expect(found.count == 1)
        #expect(found.first?.contains("nested more than 128 levels deep") == true)
    }

    @Test func refLoopsThatCheckNothingAreRefusedAtParseTime() throws {
        for text in [##"{"$ref":"#"}"##,
                     ##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}"##,
                     ##"{"$defs":{"a":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/a"}]}}}"##] {
            let error = #expect(throws: AnswerSchemaError.self) { try schema(text) }
            #expect(error?.kind == .referenceCycle)
            #expect(error?.message.contains("loop") == true)
        }
    }
}
