/// Checks a sandbox level before anything depends on it, so that a server can refuse to start rather than run
/// code at a weaker level than it says.
public enum SandboxCheck {
    /// What ``verify(_:python:)`` found: the level that will hold, its mechanism and any warning about it.
    public struct Report: Sendable {
        public var level: SandboxLevel
        /// One line: the mechanism and what it enforces.
        public var summary: String
        /// Weaknesses worth telling the user (`basic` as root, `none`).
        public var warnings: [String]
    }

    /// Finds Python and, for `strict`, starts it once in the sandbox (bubblewrap on Linux, Seatbelt on macOS).
    /// - Throws: ``SandboxUnavailable`` naming the cause (bubblewrap missing, user namespaces refused) and the
    ///   flag that chooses another level, or ``PythonNotFound``.
    public static func verify(_ level: SandboxLevel, python: String?) async throws -> Report {
        let interpreter = try await PythonLocator.locate(python)
        do {
            let (sandbox, warnings) = try await SandboxSelector.select(level, interpreter: interpreter)
            return Report(level: sandbox.level, summary: sandbox.summary, warnings: warnings)
        } catch var unavailable as SandboxUnavailable {
            #if os(Linux)
            // bubblewrap is there but could not start; when the kernel's settings do not say why, name the
            // usual causes, so the user knows where to look.
            if findExecutable("bwrap") != nil, UserNamespacePolicy.current().restriction == nil {
                unavailable.reason += "; unprivileged user namespaces are probably refused here (on Ubuntu 24.04 by AppArmor: kernel.apparmor_restrict_unprivileged_userns = 1; in a container by its seccomp profile)"
            }
            #endif
            throw unavailable
        }
    }
}
