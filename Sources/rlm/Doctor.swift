import ArgumentParser
import Foundation
import RLMKit

/// `rlm doctor`: checks what a run needs on this machine and says what to do about each problem.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check what a run needs here: Python, the sandbox, the process cap, model servers, config files and the log folder.",
        discussion: """
            One line per check: ok, warning (a run still works) or problem (it cannot until fixed), what was found, \
            and what to do. The endpoint is resolved as `rlm ask` resolves it (flags, environment, config files, a \
            local server) and reached with GET /v1/models only: no tokens are spent. No endpoint configured is a warning.
            Exit codes: 0 a run can work here (warnings allowed), 1 a problem was found, 2 usage error.
            """
    )

    @Option(help: "Python interpreter to check, as a run would use it. [RLM_PYTHON]")
    var python: String?

    @Flag(name: .long, help: "Print one JSON object: ok, exit_code and checks (each with name, status, detail, fix).")
    var json = false

    @OptionGroup(title: "Models")
    var models: ModelOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var checks = await Self.interpreterChecks(python: python ?? environment["RLM_PYTHON"])
        let (configCheck, config) = Self.configCheck(environment: environment)
        checks.append(configCheck)
        checks.append(await Self.localServersCheck())
        checks += await endpointChecks(environment: environment, config: config)
        checks += Self.folderChecks(environment: environment)
        let report = DoctorReport(checks: checks)
        report.emit(json: json)
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    // MARK: Python, sandbox, process cap

    /// The interpreter, the strict sandbox (started once with it) and the process cap that a run would get.
    static func interpreterChecks(python: String?) async -> [DoctorCheck] {
        let interpreter: PythonInterpreter
        do {
            interpreter = try await SandboxCheck.locatePython(python)
        } catch {
            let named = python.map { "--python / RLM_PYTHON names '\($0)'. " } ?? ""
            return [
                .problem("python", "\(error)",
                         fix: "\(named)Install Python 3.8 or newer (for example `apt-get install python3`) or pass --python PATH (or set RLM_PYTHON) to one that runs."),
                .warning("sandbox", "not checked: it starts the Python interpreter, and none was found.", fix: nil),
                .warning("process-cap", "not checked: no Python interpreter.", fix: nil),
            ]
        }
        var checks: [DoctorCheck] = [.ok("python", "\(interpreter.executable), Python \(interpreter.version)")]
        let sandbox = await sandboxCheck(python: interpreter.executable)
        checks.append(sandbox)
        let level: SandboxLevel = sandbox.status == .ok ? .strict : .basic
        checks.append(.ok("process-cap", "at --sandbox \(level.rawValue): " + (await SandboxCheck.processCapSummary(level: level))))
        return checks
    }

    /// Starts the interpreter once in the strict sandbox, as `rlm serve` and `rlm mcp` do before they listen.
    static func sandboxCheck(python: String) async -> DoctorCheck {
        do {
            let report = try await SandboxCheck.verify(.strict, python: python)
            let bwrap = SandboxCheck.bubblewrapPath().map { " (\($0))" } ?? ""
            let detail = report.summary + bwrap + report.warnings.map { "; " + $0 }.joined()
            return .ok("sandbox", detail)
        } catch let unavailable as SandboxUnavailable {
            let fallback = "Until then rlm ask, chat and bench fall back to --sandbox basic with a warning, and rlm serve and rlm mcp refuse to start unless given --sandbox basic."
            let fix: String
            if SandboxCheck.bubblewrapPath() == nil {
                #if os(Linux)
                fix = "Install bubblewrap (`apt-get install bubblewrap`, `dnf install bubblewrap`). " + fallback
                #else
                fix = "This platform has no strict sandbox; choose --sandbox basic explicitly."
                #endif
            } else if unavailable.reason.contains("kernel.apparmor_restrict_unprivileged_userns") {
                fix = "Ubuntu's AppArmor refuses unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): give bwrap an AppArmor profile that allows `userns` (Ubuntu ships /etc/apparmor.d/bwrap-userns-restrict), or run `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`. " + fallback
            } else {
                fix = "Allow unprivileged user namespaces for bubblewrap (on Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns; elsewhere user.max_user_namespaces or kernel.unprivileged_userns_clone; in a container, its seccomp profile). " + fallback
            }
            return .warning("sandbox", "strict is not available: \(unavailable.reason)", fix: fix)
        } catch {
            return .problem("sandbox", "the sandbox check failed: \(error)", fix: "Pass --python PATH (or set RLM_PYTHON) to a working Python 3.8 or newer.")
        }
    }
}
