import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How strongly the REPL process is isolated from the host.
public enum SandboxLevel: String, Sendable, CaseIterable, Codable {
    /// Namespaces (Linux: bubblewrap) or a Seatbelt profile (macOS): its own view of the file system,
    /// no network, its own process tree, plus resource caps.
    case strict
    /// A separate process of the same user with resource caps, and no file-system or network isolation: when the
    /// host runs as root, so does the REPL (a warning says so).
    case basic
    /// A separate process with a scrubbed environment and nothing else.
    case none
}

/// Caps on the REPL process. Nil fields are chosen per run.
public struct REPLResourceLimits: Sendable {
    /// Address-space cap; nil sizes it from the context (three times its size plus 1 GiB, at least 2 GiB).
    public var memoryMB: Int?
    /// CPU seconds over the interpreter's whole life; nil leaves CPU time uncapped (cells still time out).
    public var cpuSeconds: Int?
    /// Largest file the code may write.
    public var maxFileMB: Int
    /// Processes and threads the sandbox may run at once.
    public var maxProcesses: Int
    /// Size of the private scratch folder (home and temp) under `strict`.
    public var scratchMB: Int

    public init(memoryMB: Int? = nil, cpuSeconds: Int? = nil, maxFileMB: Int = 512, maxProcesses: Int = 128,
                scratchMB: Int = 1024) {
        self.memoryMB = memoryMB
        self.cpuSeconds = cpuSeconds
        self.maxFileMB = maxFileMB
        self.maxProcesses = maxProcesses
        self.scratchMB = scratchMB
    }

    func memoryBytes(contextBytes: Int) -> Int {
        if let memoryMB { return memoryMB << 20 }
        return max(2 << 30, 3 * contextBytes + (1 << 30))
    }
}

/// The command that starts the driver inside a sandbox, and where things are from inside it.
struct SandboxCommand: Sendable {
    var executable: String
    var arguments: [String]
    /// The folder the code sees as its home, temp and working directory.
    var scratchDirectory: String
}

/// What a sandbox needs to know to start the driver.
struct SandboxLaunch: Sendable {
    var interpreter: PythonInterpreter
    var driverPath: String
    /// Host folder with the driver and the socket (visible read-only inside).
    var channelDirectory: String
    /// Host folder the code may write to when the sandbox has no private scratch space of its own.
    var hostScratchDirectory: String
    /// Files the code may read (the context).
    var readOnlyPaths: [String]
    var limits: REPLResourceLimits
    /// Folders inside the readable paths that the code must not see (version-control internals).
    var hiddenPaths: [String] = []
}

/// One way to isolate the REPL process. Every platform mechanism sits behind this protocol.
protocol REPLSandbox: Sendable {
    var level: SandboxLevel { get }
    /// One line for logs and `--json`: the mechanism and what it enforces.
    var summary: String { get }
    /// The sandbox runs in a user namespace of its own where `RLIMIT_NPROC` counts only its processes.
    var countsProcessesPerUserNamespace: Bool { get }
    func command(for launch: SandboxLaunch) -> SandboxCommand
}

extension REPLSandbox {
    var countsProcessesPerUserNamespace: Bool { false }
}

/// A sandbox that cannot be had, with what to do about it.
public struct SandboxUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String {
        "the strict sandbox is not available here: \(reason). Install bubblewrap (apt-get install bubblewrap) on a kernel that allows unprivileged user namespaces, or choose --sandbox basic explicitly."
    }
}

enum SandboxSelector {
    /// The sandbox for `requested`; with nil, the strongest that works, saying so in `warnings` when it falls back.
    static func select(_ requested: SandboxLevel?, interpreter: PythonInterpreter) async throws -> (any REPLSandbox, [String]) {
        switch requested {
        case .none?:
            return (PlainProcessSandbox(level: .none), ["REPL sandbox is off (--sandbox none): the model's code runs as a normal process of yours, with only its environment scrubbed."])
        case .basic?:
            let sandbox = PlainProcessSandbox(level: .basic, interpreter: interpreter)
            return (sandbox, sandbox.warnings)
        case .strict?:
            return (try await strict(interpreter: interpreter), [])
        case nil:
            do {
                return (try await strict(interpreter: interpreter), [])
            } catch let unavailable as SandboxUnavailable {
                let sandbox = PlainProcessSandbox(level: .basic, interpreter: interpreter)
                return (sandbox, ["WARNING: \(unavailable.reason); the REPL falls back to --sandbox basic (separate process with resource caps, no file-system or network isolation)."] + sandbox.warnings)
            }
        }
    }

    static func strict(interpreter: PythonInterpreter) async throws -> any REPLSandbox {
        #if os(Linux)
        return try await BubblewrapSandbox.make(interpreter: interpreter)
        #elseif os(macOS)
        return SeatbeltSandbox()
        #else
        throw SandboxUnavailable(reason: "this platform has no strict sandbox")
        #endif
    }
}

/// `basic` and `none`: the interpreter as a plain child process (the driver applies the resource caps).
struct PlainProcessSandbox: REPLSandbox {
    let level: SandboxLevel
    var warnings: [String] = []

    init(level: SandboxLevel, interpreter: PythonInterpreter? = nil) {
        self.level = level
        if level == .basic && getuid() == 0 {
            warnings.append("WARNING: with --sandbox basic the REPL runs as root like this process: resource caps hold, but it can read files outside its folder and this process's memory. Use --sandbox strict for isolation.")
        }
    }

    var summary: String {
        switch level {
        case .none: "none: separate process, scrubbed environment"
        default: "basic: separate process group, scrubbed environment, rlimits (memory, CPU, file size, processes)"
        }
    }

    func command(for launch: SandboxLaunch) -> SandboxCommand {
        SandboxCommand(executable: launch.interpreter.executable, arguments: ["-I", "-X", "utf8", launch.driverPath],
                       scratchDirectory: launch.hostScratchDirectory)
    }
}

/// Finds a program on PATH (or the usual system folders).
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"] {
        let candidate = directory + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
