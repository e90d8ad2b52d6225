import Foundation

extension SandboxCheck {
    /// The interpreter a run would use for `requested` (a path or a name on PATH; `python3` when nil), found and
    /// checked the same way.
    /// - Throws: ``PythonNotFound`` naming the cause and the fix.
    public static func locatePython(_ requested: String?) async throws -> PythonInterpreter {
        try await PythonLocator.locate(requested)
    }

    /// Where bubblewrap (`bwrap`) is found, the way the strict sandbox looks for it; nil when it is not installed.
    public static func bubblewrapPath() -> String? {
        findExecutable("bwrap")
    }

    /// One line saying which cap on the REPL's process count applies here at `level`, as a run decides it:
    /// a pids cgroup where this process can create one (one is made and removed again to find out), else
    /// `RLIMIT_NPROC`, exact or with headroom, with or without the driver's watch.
    /// - Parameters:
    ///   - level: the sandbox level a run would use.
    ///   - maxProcesses: the cap (a run's default unless given).
    public static func processCapSummary(level: SandboxLevel,
                                         maxProcesses: Int = REPLResourceLimits().maxProcesses) async -> String {
        guard level != .none else { return "no process cap (--sandbox none)" }
        let cgroup = ProcessCountCap.make(maxProcesses: maxProcesses)
        let cgroupFolder = cgroup.map { ($0.directory as NSString).deletingLastPathComponent }
        await cgroup?.remove()
        #if os(Linux)
        let perNamespace = level == .strict && kernelCountsProcessesPerUserNamespace()
        #else
        let perNamespace = false
        #endif
        let policy = ProcessCapPolicy(level: level, countsPerUserNamespace: perNamespace, hasCgroup: cgroup != nil,
                                      cap: maxProcesses)
        var parts: [String] = []
        if let cgroupFolder { parts.append("a pids cgroup under \(cgroupFolder) (pids.max = \(maxProcesses))") }
        if let rlimit = policy.rlimit {
            parts.append(rlimit == maxProcesses
                ? "RLIMIT_NPROC = \(rlimit)"
                : "RLIMIT_NPROC = \(rlimit) (your \(rlimit - 2 * maxProcesses) current processes and threads plus headroom)")
        }
        if policy.rlimit != nil, getuid() == 0 { parts[parts.count - 1] += " (root is not bound by it)" }
        if let watch = policy.watch { parts.append("the driver's process watch (at most \(watch) of its own)") }
        return parts.isEmpty ? "no process cap" : parts.joined(separator: ", ")
    }
}
