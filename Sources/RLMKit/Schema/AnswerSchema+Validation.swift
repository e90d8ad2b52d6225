/// Checks a value against a parsed ``AnswerSchema`` and says, for each violation, where and what.
struct SchemaValidator {
    let schema: AnswerSchema
    /// Values nested deeper than this are refused rather than risk the stack; no answer needs that many levels.
    static let maximumDepth = 128

    func check(_ node: SchemaNode, _ value: JSONValue, path: String, depth: Int) -> [SchemaViolation] {
        switch node {
        case .always(true): return []
        case .always(false): return [SchemaViolation(path: path, message: "no value is allowed here")]
        case .rules(let rules): return check(rules, value, path: path, depth: depth)
        }
    }

    private func check(_ rules: SchemaRules, _ value: JSONValue, path: String, depth: Int) -> [SchemaViolation] {
        if let types = rules.types, !types.contains(where: { Self.value(value, hasType: $0) }) {
            // The other keywords say nothing useful about a value of the wrong type.
            return [SchemaViolation(path: path, message: "expected \(Self.list(types)), got \(JSONPath.describe(value))",
                                    expectedTypes: types)]
        }
        var found: [SchemaViolation] = []
        if let ref = rules.ref, let target = schema.pointerTargets[ref.pointer] {
            found += check(target, value, path: path, depth: depth)
        }
        if let allowed = rules.enumValues, !allowed.contains(value) {
            let listed = JSONPath.literal(.array(allowed), limit: 160)
            found.append(SchemaViolation(path: path, message: "expected one of \(listed), got \(JSONPath.describe(value))"))
        }
        if let constant = rules.constValue, constant != value {
            found.append(SchemaViolation(path: path, message: "expected \(JSONPath.literal(constant)), got \(JSONPath.describe(value))"))
        }
        switch value {
        case .number(let number):
            if let minimum = rules.minimum, number < minimum {
                found.append(SchemaViolation(path: path, message: "expected at least \(JSONPath.format(minimum)), got \(JSONPath.format(number))"))
            }
            if let maximum = rules.maximum, number > maximum {
                found.append(SchemaViolation(path: path, message: "expected at most \(JSONPath.format(maximum)), got \(JSONPath.format(number))"))
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minimum = rules.minLength, length < minimum {
                found.append(SchemaViolation(path: path, message: "expected at least \(Self.count(minimum, "character")), got \(length)"))
            }
            if let maximum = rules.maxLength, length > maximum {
                found.append(SchemaViolation(path: path, message: "expected at most \(Self.count(maximum, "character")), got \(length)"))
            }
        case .array(let items):
            if let minimum = rules.minItems, items.count < minimum {
                found.append(SchemaViolation(path: path, message: "expected at least \(Self.count(minimum, "item")), got \(items.count)"))
            }
            if let maximum = rules.maxItems, items.count > maximum {
                found.append(SchemaViolation(path: path, message: "expected at most \(Self.count(maximum, "item")), got \(items.count)"))
            }
            if let itemSchema = rules.items {
                for (index, item) in items.enumerated() {
                    found += descend(itemSchema, item, path: JSONPath.appending(index: index, to: path), depth: depth)
                }
            }
        case .object(let fields):
            found += checkObject(rules, fields, path: path, depth: depth)
        case .null, .bool:
            break
        }
        if let all = rules.allOf {
            for member in all { found += check(member, value, path: path, depth: depth) }
        }
        if let any = rules.anyOf {
            let outcomes = any.map { check($0, value, path: path, depth: depth) }
            if !outcomes.contains(where: \.isEmpty) {
                found += Self.summary(of: outcomes, keyword: "anyOf", value: value, path: path)
            }
        }
        if let one = rules.oneOf {
            let outcomes = one.map { check($0, value, path: path, depth: depth) }
            let fitting = outcomes.indices.filter { outcomes[$0].isEmpty }
            if fitting.isEmpty {
                found += Self.summary(of: outcomes, keyword: "oneOf", value: value, path: path)
            } else if fitting.count > 1 {
                let which = Self.list(fitting.map { "#\($0 + 1)" }, joiner: "and")
                found.append(SchemaViolation(path: path, message: "fits alternatives \(which) of oneOf; it must fit exactly one"))
            }
        }
        return found
    }

    private func checkObject(_ rules: SchemaRules, _ fields: [String: JSONValue], path: String, depth: Int) -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        for key in rules.required where fields[key] == nil {
            found.append(SchemaViolation(path: path, message: "missing required key \(JSONPath.quoted(key))"))
        }
        for key in fields.keys.sorted() {
            let member = JSONPath.appending(key, to: path)
            if let propertySchema = rules.properties[key] {
                found += descend(propertySchema, fields[key]!, path: member, depth: depth)
            } else if case .always(false) = rules.additionalProperties {
                let allowed = rules.properties.keys.sorted().map { JSONPath.quoted($0) }
                let hint = allowed.isEmpty ? "no keys are allowed" : "allowed: " + allowed.joined(separator: ", ")
                found.append(SchemaViolation(path: path, message: "unexpected key \(JSONPath.quoted(key)) (\(hint))"))
            } else if let additional = rules.additionalProperties {
                found += descend(additional, fields[key]!, path: member, depth: depth)
            }
        }
        return found
    }

    private func descend(_ node: SchemaNode, _ value: JSONValue, path: String, depth: Int) -> [SchemaViolation] {
        guard depth < Self.maximumDepth else {
            return [SchemaViolation(path: path, message: "nested more than \(Self.maximumDepth) levels deep; not checked")]
        }
        return check(node, value, path: path, depth: depth + 1)
    }

    /// One violation for alternatives that all failed, worded for a model to act on: the merged types when each
    /// alternative wanted another type; the one alternative of the right type's own violations; else the nearest.
    private static func summary(of outcomes: [[SchemaViolation]], keyword: String, value: JSONValue, path: String) -> [SchemaViolation] {
        func isTypeMismatchHere(_ violation: SchemaViolation) -> Bool { violation.path == path && violation.expectedTypes != nil }
        if outcomes.allSatisfy({ $0.count == 1 && isTypeMismatchHere($0[0]) }) {
            var types: [String] = []
            for type in outcomes.flatMap({ $0[0].expectedTypes! }) where !types.contains(type) { types.append(type) }
            return [SchemaViolation(path: path, message: "expected \(list(types)), got \(JSONPath.describe(value))", expectedTypes: types)]
        }
        let rightType = outcomes.indices.filter { !outcomes[$0].contains(where: isTypeMismatchHere) }
        if rightType.count == 1 { return outcomes[rightType[0]] }
        let candidates = rightType.isEmpty ? Array(outcomes.indices) : rightType
        let nearest = candidates.min { outcomes[$0].count < outcomes[$1].count }!
        let more = outcomes[nearest].count - 1
        let message = "fits none of the \(outcomes.count) alternatives of \(keyword); the nearest, #\(nearest + 1), says: "
            + outcomes[nearest][0].description + (more > 0 ? " (and \(more) more)" : "")
        return [SchemaViolation(path: path, message: message)]
    }

    static func value(_ value: JSONValue, hasType type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object):
            true
        case ("integer", .number(let number)):
            number.isFinite && number == number.rounded()
        default:
            false
        }
    }

    private static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    /// `a`, `a or b`, `a, b or c`.
    static func list(_ words: [String], joiner: String = "or") -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " \(joiner) " + words.last!
    }
}
