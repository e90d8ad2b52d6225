import Foundation

#if os(macOS)
/// `strict` on macOS: the interpreter under `sandbox-exec` with ``SeatbeltProfile`` (reads limited to the
/// system, the interpreter and the context; writes to the scratch folder only; no network), plus the rlimits.
struct SeatbeltSandbox: REPLSandbox {
    var level: SandboxLevel { .strict }
    var summary: String { "strict: sandbox-exec profile (reads only the system, Python and the context; writes only the scratch folder; no network), rlimits" }

    func command(for launch: SandboxLaunch) -> SandboxCommand {
        SandboxCommand(executable: "/usr/bin/sandbox-exec",
                       arguments: ["-p", SeatbeltProfile(launch: launch).text,
                                   launch.interpreter.executable, "-I", "-X", "utf8", launch.driverPath],
                       scratchDirectory: launch.hostScratchDirectory)
    }
}
#endif
