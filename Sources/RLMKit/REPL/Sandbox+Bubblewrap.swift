import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if os(Linux)
/// `strict` on Linux: bubblewrap puts the interpreter in new user, PID, network, IPC, UTS and mount namespaces
/// with a minimal read-only view of the system, a size-capped private scratch folder, and no capabilities.
struct BubblewrapSandbox: REPLSandbox {
    let bwrap: String
    var level: SandboxLevel { .strict }
    var countsProcessesPerUserNamespace: Bool { kernelCountsProcessesPerUserNamespace() }
    var summary: String {
        "strict: bubblewrap namespaces (user, pid, net, ipc, uts, mount), read-only system view, private scratch tmpfs, no network, rlimits"
    }

    /// The scratch folder's path inside the sandbox.
    static let scratch = "/home/sandbox"

    static func make(interpreter: PythonInterpreter) async throws -> BubblewrapSandbox {
        guard let bwrap = findExecutable("bwrap") else {
            throw SandboxUnavailable(reason: "bubblewrap (bwrap) is not installed")
        }
        let sandbox = BubblewrapSandbox(bwrap: bwrap)
        try await sandbox.probe(interpreter: interpreter)
        return sandbox
    }

    /// Starts the interpreter once in the sandbox, so a kernel without user namespaces is found before the run.
    func probe(interpreter: PythonInterpreter) async throws {
        let launch = SandboxLaunch(interpreter: interpreter, driverPath: "PROBE", channelDirectory: NSTemporaryDirectory(),
                                   hostScratchDirectory: NSTemporaryDirectory(), readOnlyPaths: [], limits: REPLResourceLimits())
        var command = command(for: launch)
        command.arguments.removeLast()  // the driver's path: a one-line probe runs instead
        command.arguments += ["-c", "print('ok')"]
        let (code, output) = await ProcessRunner.run(command.executable, command.arguments)
        guard code == 0, output.contains("ok") else {
            let detail = output.split(separator: "\n").last.map(String.init) ?? "exit status \(code)"
            let why = UserNamespacePolicy.current().restriction.map { "; \($0)" } ?? ""
            throw SandboxUnavailable(reason: "bubblewrap could not start the interpreter (\(detail))\(why)")
        }
    }

    func command(for launch: SandboxLaunch) -> SandboxCommand {
        var arguments = [
            "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", "65534", "--gid", "65534", "--hostname", "rlm-sandbox",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        ]
        // The system, read-only. /lib, /bin… are symlinks into /usr on merged-/usr systems.
        arguments += ["--ro-bind", "/usr", "/usr"]
        for path in ["/lib", "/lib64", "/lib32", "/bin", "/sbin"] {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                arguments += ["--symlink", target, path]
            } else {
                arguments += ["--ro-bind", path, path]
            }
        }
        for path in ["/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"] {
            arguments += ["--ro-bind-try", path, path]
        }
        var readOnly = Set(launch.interpreter.prefixes)
        readOnly.insert(URL(fileURLWithPath: launch.interpreter.executable).deletingLastPathComponent().path)
        for path in readOnly.sorted() where !path.hasPrefix("/usr/") {
            arguments += ["--ro-bind-try", path, path]
        }
        for path in launch.readOnlyPaths {
            arguments += ["--ro-bind", path, path]
        }
        // An empty tmpfs over each hidden folder, unless the interpreter itself lives below it.
        for path in launch.hiddenPaths where !readOnly.contains(where: { $0 == path || $0.hasPrefix(path + "/") }) {
            arguments += ["--tmpfs", path]
        }
        arguments += ["--ro-bind", launch.channelDirectory, launch.channelDirectory]
        arguments += ["--size", String(launch.limits.scratchMB << 20), "--perms", "0700", "--tmpfs", Self.scratch]
        arguments += ["--chdir", Self.scratch]
        arguments += ["--", launch.interpreter.executable, "-I", "-X", "utf8", launch.driverPath]
        return SandboxCommand(executable: bwrap, arguments: arguments, scratchDirectory: Self.scratch)
    }
}
#endif

/// What the kernel allows unprivileged users to do with user namespaces, which bubblewrap needs.
struct UserNamespacePolicy: Equatable {
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10 and later).
    var apparmorRestricts: Bool
    /// `user.max_user_namespaces`.
    var maxUserNamespaces: Int?
    /// `kernel.unprivileged_userns_clone` (Debian's older kernels).
    var unprivilegedClone: Bool?

    static func current() -> UserNamespacePolicy {
        func read(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        return UserNamespacePolicy(apparmorRestricts: read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1,
                                   maxUserNamespaces: read("/proc/sys/user/max_user_namespaces"),
                                   unprivilegedClone: read("/proc/sys/kernel/unprivileged_userns_clone").map { $0 != 0 })
    }

    /// Why this machine refuses user namespaces to unprivileged users, and how to allow them; nil when it does not.
    var restriction: String? {
        if apparmorRestricts {
            return "AppArmor restricts unprivileged user namespaces here (kernel.apparmor_restrict_unprivileged_userns = 1, the default on Ubuntu 24.04). Allow bubblewrap with an AppArmor profile that grants it `userns` (Ubuntu ships one as /etc/apparmor.d/bwrap-userns-restrict), or lift the restriction with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
        }
        if maxUserNamespaces == 0 {
            return "user namespaces are switched off (user.max_user_namespaces = 0). Enable them with `sudo sysctl -w user.max_user_namespaces=15000`"
        }
        if unprivilegedClone == false {
            return "unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone = 0). Enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`"
        }
        return nil
    }
}
