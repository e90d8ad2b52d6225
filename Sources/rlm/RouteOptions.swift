import ArgumentParser
import Foundation
import RLMKit

/// `--route`: how `ask`, `chat`, `serve` and `mcp` answer.
struct RouteOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How to answer: rlm (default: the context goes into the REPL, the root model reads it through code and sub-calls), direct (one call to the root model with the whole context in its prompt, no REPL), or auto (direct when the context and question fit in half the root model's window, else rlm; the cheap choice). A run with --schema takes the rlm route. [rlm.toml: route]", valueName: "auto|rlm|direct"))
    var route: RLMRoute?

    /// The line on stderr that says which route a run took and why: `rlm: route auto: …`. Nil for events other
    /// than the top-level `run_started`, and when the route was not asked for (`rlm`, the default).
    static func announcement(of event: RLMEvent, configured: RLMRoute) -> String? {
        guard configured != .rlm, event.event == .runStarted, event.trajectory == "0",
              case .string(let reason)? = event.details?["route_reason"] else { return nil }
        return reason
    }
}

extension RLMRoute: ExpressibleByArgument {}
