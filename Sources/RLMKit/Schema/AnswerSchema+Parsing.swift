import Foundation

/// Turns a schema document into ``SchemaNode``s, refusing by name every keyword outside the supported subset, and
/// records each subschema under its JSON pointer so that `$ref`s can be resolved and checked for loops.
struct SchemaParser {
    private(set) var targets: [String: SchemaNode] = [:]
    private var references: [(pointer: String, written: String, path: String)] = []

    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "number", "string", "integer"]

    mutating func parse(_ source: JSONValue) throws(AnswerSchemaError) -> SchemaNode {
        let root = try node(source, pointer: "", path: "$", keyword: nil, inEmbeddedResource: false)
        for reference in references where targets[reference.pointer] == nil {
            throw .unresolvedReference(reference.written, at: reference.path)
        }
        try checkForLoops()
        return root
    }

    // MARK: Nodes

    private mutating func node(_ value: JSONValue, pointer: String, path: String, keyword: String?,
                               inEmbeddedResource: Bool) throws(AnswerSchemaError) -> SchemaNode {
        let result: SchemaNode
        switch value {
        case .bool(let flag):
            result = .always(flag)
        case .object(let fields):
            // A `$id` below the root starts a new resource, whose `#` references would resolve against it.
            let embedded = inEmbeddedResource || (!pointer.isEmpty && fields["$id"] != nil)
            result = .rules(try rules(fields, pointer: pointer, path: path, inEmbeddedResource: embedded))
        default:
            if let keyword {
                throw .invalid(keyword, at: path, "must be a schema (an object or a boolean), not \(JSONPath.describe(value))")
            }
            throw AnswerSchemaError(.invalidValue, path: path, keyword: nil,
                                    message: "the schema must be an object or a boolean, not \(JSONPath.describe(value)).")
        }
        targets[pointer] = result
        return result
    }

    private mutating func rules(_ fields: [String: JSONValue], pointer: String, path: String,
                                inEmbeddedResource: Bool) throws(AnswerSchemaError) -> SchemaRules {
        var rules = SchemaRules()
        for key in fields.keys.sorted() {
            let value = fields[key]!
            let at = JSONPath.appending(key, to: path)
            let here = pointer + "/" + Self.escape(key)
            func schema(_ value: JSONValue, _ pointer: String, _ path: String) throws(AnswerSchemaError) -> SchemaNode {
                try node(value, pointer: pointer, path: path, keyword: key, inEmbeddedResource: inEmbeddedResource)
            }
            switch key {
            case _ where AnswerSchema.ignoredAnnotations.contains(key):
                continue
            case "type":
                rules.types = try Self.types(value, at: path)
            case "properties", "$defs":
                guard case .object(let members) = value else { throw .invalid(key, at: path, "must be an object of schemas") }
                var parsed: [String: SchemaNode] = [:]
                for name in members.keys.sorted() {
                    parsed[name] = try schema(members[name]!, here + "/" + Self.escape(name), JSONPath.appending(name, to: at))
                }
                if key == "properties" { rules.properties = parsed }
            case "required":
                guard case .array(let names) = value else { throw .invalid(key, at: path, "must be an array of key names") }
                rules.required = try names.map { name throws(AnswerSchemaError) in
                    guard case .string(let text) = name else { throw .invalid(key, at: path, "must hold only strings") }
                    return text
                }
            case "additionalProperties":
                rules.additionalProperties = try schema(value, here, at)
            case "items":
                if case .array = value {
                    throw .invalid(key, at: path, "must be one schema in draft 2020-12; a list of schemas is \"prefixItems\", which is not supported")
                }
                rules.items = try schema(value, here, at)
            case "enum":
                guard case .array(let values) = value else { throw .invalid(key, at: path, "must be an array of values") }
                rules.enumValues = values
            case "const":
                rules.constValue = value
            case "minimum", "maximum":
                guard case .number(let bound) = value else { throw .invalid(key, at: path, "must be a number") }
                if key == "minimum" { rules.minimum = bound } else { rules.maximum = bound }
            case "minLength", "maxLength", "minItems", "maxItems":
                guard case .number(let count) = value, count >= 0, count == count.rounded(), count < 1e15 else {
                    throw .invalid(key, at: path, "must be a whole number, 0 or more")
                }
                switch key {
                case "minLength": rules.minLength = Int(count)
                case "maxLength": rules.maxLength = Int(count)
                case "minItems": rules.minItems = Int(count)
                default: rules.maxItems = Int(count)
                }
            case "anyOf", "oneOf", "allOf":
                guard case .array(let members) = value, !members.isEmpty else {
                    throw .invalid(key, at: path, "must be a non-empty array of schemas")
                }
                var parsed: [SchemaNode] = []
                for (index, member) in members.enumerated() {
                    parsed.append(try schema(member, here + "/\(index)", JSONPath.appending(index: index, to: at)))
                }
                switch key {
                case "anyOf": rules.anyOf = parsed
                case "oneOf": rules.oneOf = parsed
                default: rules.allOf = parsed
                }
            case "$ref":
                rules.ref = try reference(value, at: path, inEmbeddedResource: inEmbeddedResource)
            default:
                throw .unsupportedKeyword(key, at: path)
            }
        }
        return rules
    }

    private static func types(_ value: JSONValue, at path: String) throws(AnswerSchemaError) -> [String] {
        let names: [JSONValue]
        switch value {
        case .string: names = [value]
        case .array(let list) where !list.isEmpty: names = list
        default: throw .invalid("type", at: path, "must be a type name or a non-empty array of type names")
        }
        return try names.map { name throws(AnswerSchemaError) in
            guard case .string(let text) = name, typeNames.contains(text) else {
                throw .invalid("type", at: path, "names an unknown type \(JSONPath.literal(name)); the types are "
                               + typeNames.sorted().joined(separator: ", "))
            }
            return text
        }
    }

    // MARK: References

    private mutating func reference(_ value: JSONValue, at path: String,
                                    inEmbeddedResource: Bool) throws(AnswerSchemaError) -> (pointer: String, written: String) {
        guard case .string(let written) = value else { throw .invalid("$ref", at: path, "must be a string") }
        guard written.hasPrefix("#") else {
            throw .unsupportedReference(written, at: path, "only references within this schema (starting with \"#\") are supported")
        }
        guard !inEmbeddedResource else {
            throw .unsupportedReference(written, at: path, "it is inside a subschema with its own \"$id\"")
        }
        guard let pointer = String(written.dropFirst()).removingPercentEncoding else {
            throw .unresolvedReference(written, at: path)
        }
        guard pointer.isEmpty || pointer.hasPrefix("/") else {
            throw .unsupportedReference(written, at: path, "anchors (\"#name\") are not supported")
        }
        references.append((pointer, written, path))
        return (pointer, written)
    }

    /// Refuses `$ref`s that reach themselves without descending into the value (`a` → `b` → `a` through `$ref`,
    /// `allOf`, `anyOf` or `oneOf`): checking them would never end.
    private func checkForLoops() throws(AnswerSchemaError) {
        var cleared: Set<String> = []
        for reference in references {
            var chain: [String] = [reference.written]
            var onChain: Set<String> = [reference.pointer]
            if let loop = loop(from: reference.pointer, chain: &chain, onChain: &onChain, cleared: &cleared) {
                throw .referenceCycle(loop, at: reference.path)
            }
        }
    }

    private func loop(from pointer: String, chain: inout [String], onChain: inout Set<String>,
                      cleared: inout Set<String>) -> [String]? {
        if cleared.contains(pointer) { return nil }
        for next in Self.inPlaceReferences(targets[pointer]) {
            chain.append(next.written)
            if onChain.contains(next.pointer) { return chain }
            onChain.insert(next.pointer)
            if let found = loop(from: next.pointer, chain: &chain, onChain: &onChain, cleared: &cleared) { return found }
            onChain.remove(next.pointer)
            chain.removeLast()
        }
        cleared.insert(pointer)
        return nil
    }

    /// The references a node follows while checking the same value (not the ones below a property or an item).
    private static func inPlaceReferences(_ node: SchemaNode?) -> [(pointer: String, written: String)] {
        guard case .rules(let rules) = node else { return [] }
        var found = rules.ref.map { [$0] } ?? []
        for member in (rules.allOf ?? []) + (rules.anyOf ?? []) + (rules.oneOf ?? []) {
            found += inPlaceReferences(member)
        }
        return found
    }

    /// One JSON pointer token: `~` and `/` escaped as `~0` and `~1`.
    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
