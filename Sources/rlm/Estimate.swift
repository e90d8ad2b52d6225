import ArgumentParser
import Foundation
import RLMKit

/// `rlm ask --estimate`: what a run over the context would meet, before any model call.
extension Ask {
    func printEstimate() async throws {
        do {
            let estimate = try await makeEstimate()
            Terminal.output(json ? Self.estimateJSON(estimate) : Self.estimateText(estimate, context: context))
        } catch {
            let failure = RunReport.failure(for: error, logURL: nil)
            if json {
                let body: JSONValue = .object(["status": .string("error"), "error": .string(failure.message),
                                               "exit_code": .number(Double(failure.exitCode))])
                Terminal.output(Self.encoded(body))
            }
            Terminal.error("rlm: \(failure.message)")
            throw ExitCode(failure.exitCode)
        }
    }

    /// Resolves the models as a run would (a project file's endpoint must be trusted; a local server may be
    /// asked for its models and window) and measures the context; no completion request.
    private func makeEstimate() async throws -> RunEstimate {
        let environment = ProcessInfo.processInfo.environment
        let schema = try await answerShape.load()
        let input = try await ContextArgument.load(context)
        defer { input.cleanUp() }
        let config = try ConfigSources.load(environment: environment)
        let setup = RLMSetup(models: models, limits: limits, repl: repl, config: config, environment: environment,
                             route: routing.route)
        var (rlm, notices) = try await setup.makeRLM(logURL: nil, streaming: false, systemPrompt: nil)
        rlm.answerSchema = schema
        for notice in notices where !quiet { Terminal.error("rlm: \(notice)") }
        return try await rlm.estimate(query: query, context: input.context)
    }

    /// Where a window figure came from, named as the user set it.
    static func windowOrigin(_ window: ResolvedWindow, flag: String) -> String {
        if window.source == "configured" { return "\(flag) flag" }
        if window.source.hasPrefix("known window") || window.source.hasPrefix("default") { return window.source }
        return "asked the server: \(window.source)"
    }

    static func estimateText(_ estimate: RunEstimate, context: String) -> String {
        func number(_ value: Int) -> String { value.formatted(.number.grouping(.automatic)) }
        let pass = estimate.subPass
        let cost = pass.inputCostUSD.map { String(format: "$%.4f at list price (input only)", $0) }
            ?? "unknown price (no price for \(estimate.subModel); add [prices.\"\(estimate.subModel)\"] to rlm.toml)"
        let route = estimate.autoRoute
        let measure = estimate.context
        let files = measure.files > 1 || measure.leftOut > 0
            ? "\(number(measure.files)) files\(measure.leftOut > 0 ? " (\(number(measure.leftOut)) binary or unreadable left out)" : ""), " : ""
        return """
            context: \(context): \(files)\(number(estimate.contextBytes)) bytes of text, about \(number(estimate.contextTokens)) tokens
            root model \(estimate.rootModel): window \(number(estimate.rootWindow.tokens)) tokens (\(windowOrigin(estimate.rootWindow, flag: "--model-window")))
            sub model \(estimate.subModel): window \(number(estimate.subWindow.tokens)) tokens (\(windowOrigin(estimate.subWindow, flag: "--sub-window")))
            --route auto would take: \(route.route.rawValue) (\(route.reason))
            one pass of \(estimate.subModel) over the whole context: \(number(pass.calls)) sub-call\(pass.calls == 1 ? "" : "s") of up to \(number(pass.charactersPerCall)) characters, \(number(pass.inputTokens)) input tokens, \(cost)
            """
    }

    static func estimateJSON(_ estimate: RunEstimate) -> String {
        func window(_ window: ResolvedWindow, flag: String) -> JSONValue {
            .object(["tokens": .number(Double(window.tokens)), "source": .string(windowOrigin(window, flag: flag))])
        }
        let pass = estimate.subPass
        let body: JSONValue = .object([
            "status": .string("estimate"),
            "exit_code": .number(0),
            "context_bytes": .number(Double(estimate.contextBytes)),
            "context_files": .number(Double(estimate.context.files)),
            "context_files_left_out": .number(Double(estimate.context.leftOut)),
            "context_tokens": .number(Double(estimate.contextTokens)),
            "root_model": .string(estimate.rootModel),
            "root_window": window(estimate.rootWindow, flag: "--model-window"),
            "sub_model": .string(estimate.subModel),
            "sub_window": window(estimate.subWindow, flag: "--sub-window"),
            "auto_route": .string(estimate.autoRoute.route.rawValue),
            "auto_route_reason": .string(estimate.autoRoute.reason),
            "sub_pass": .object([
                "calls": .number(Double(pass.calls)),
                "chars_per_call": .number(Double(pass.charactersPerCall)),
                "input_tokens": .number(Double(pass.inputTokens)),
                "input_cost_usd": pass.inputCostUSD.map(JSONValue.number) ?? .null,
            ]),
        ])
        return encoded(body)
    }

    private static func encoded(_ body: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(body)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
