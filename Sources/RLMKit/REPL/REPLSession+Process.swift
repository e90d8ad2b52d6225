import Foundation
import NIOCore
import NIOPosix
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The interpreter process: one incarnation at a time, started in its sandbox with a bootstrap line on stdin.
extension REPLSession {
    typealias IncarnationEnd = StateMachine.IncarnationEnd

    enum IncarnationEvent: Sendable {
        case processExited(TerminationStatus, String)
        case channelClosed
        /// The peer broke the channel protocol (the reason says how): it is killed as hostile.
        case protocolViolation(String)
    }

    func runIncarnation(generation: Int) async -> IncarnationEnd {
        if case .forked(let pristine) = origin {
            return await runForkedIncarnation(generation: generation, pristine: pristine)
        }
        let socketPath = workDirectory.appendingPathComponent("channel-\(generation).sock").path
        let token = UUID().uuidString
        let listener: DriverListener
        do {
            listener = try await Self.listen(at: socketPath)
        } catch {
            return .startFailure(error)
        }
        let launch = SandboxLaunch(interpreter: interpreter,
                                   driverPath: workDirectory.appendingPathComponent("rlm_driver.py").path,
                                   channelDirectory: workDirectory.path,
                                   hostScratchDirectory: workDirectory.appendingPathComponent("scratch").path,
                                   readOnlyPaths: [context.path] + context.extraReadablePaths, limits: configuration.resources,
                                   hiddenPaths: context.hiddenPaths)
        let sandboxed = sandbox.command(for: launch)
        let command = processCap?.wrap(sandboxed) ?? sandboxed
        let contextBytes = context.contentBytes
            ?? (try? FileManager.default.attributesOfItem(atPath: context.path)[.size] as? Int) ?? 0
        let resources = configuration.resources
        let bootstrap = Bootstrap(socket: socketPath, token: token,
                                  context: .init(path: context.path, format: context.format.rawValue),
                                  maxOutputChars: configuration.maxOutputChars, workdir: command.scratchDirectory,
                                  tools: tools.signatures,
                                  limits: .init(memoryBytes: resources.memoryBytes(contextBytes: contextBytes),
                                                cpuSeconds: resources.cpuSeconds,
                                                fileBytes: resources.maxFileMB << 20,
                                                processCap: ProcessCapPolicy(level: sandbox.level,
                                                                             countsPerUserNamespace: sandbox.countsProcessesPerUserNamespace,
                                                                             hasCgroup: processCap != nil,
                                                                             cap: processCapSize)))
        var end: IncarnationEnd = .died("the interpreter exited")
        await withTaskGroup(of: IncarnationEvent.self) { group in
            group.addTask { await self.runProcess(command: command, bootstrap: bootstrap) }
            group.addTask { await self.serve(listener: listener, token: token) }
            guard let first = await group.next() else { return }
            switch first {
            case .processExited(let status, let stderrTail):
                // The process is gone; a daemonised grandchild may still hold the socket open.
                self.closeConnection()
                listener.close()
                _ = await group.next()
                end = self.describeExit(status: status, stderrTail: stderrTail)
            case .protocolViolation(let reason):
                self.perform(self.machine.protocolViolated(reason))
                self.closeConnection()
                listener.close()
                let exited = await self.awaitExit(of: &group)
                if case .processExited(let status, let stderrTail)? = exited {
                    end = self.describeExit(status: status, stderrTail: stderrTail)
                }
            case .channelClosed:
                listener.close()
                let exited = await self.awaitExit(of: &group)
                if case .processExited(let status, let stderrTail)? = exited {
                    end = self.describeExit(status: status, stderrTail: stderrTail)
                }
            }
        }
        // Whatever the interpreter left in its process group (children it did not wait for, a fork bomb's
        // survivors) ends with it.
        killProcessGroup()
        clearIncarnation()
        return end
    }

    /// The socket an incarnation's driver connects to.
    static func listen(at socketPath: String) async throws(REPLError) -> DriverListener {
        do {
            return try await DriverListener.bind(path: socketPath)
        } catch {
            throw REPLError.startFailed("cannot open the REPL socket at \(socketPath): \(error)")
        }
    }

    /// Waits briefly for the process after its channel closed, then kills it.
    private func awaitExit(of group: inout TaskGroup<IncarnationEvent>) async -> IncarnationEvent? {
        let pid = machine.processID
        let killer = Task {
            try await Task.sleep(for: .seconds(2))
            if let pid { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
        }
        let event = await group.next()
        killer.cancel()
        return event
    }

    private func describeExit(status: TerminationStatus, stderrTail: String) -> IncarnationEnd {
        let tail = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
        let lastLines = tail.split(separator: "\n").suffix(5).joined(separator: "\n")
        if contextDescription == nil && !machine.isStopping {
            return .startFailure(REPLError.startFailed("the interpreter exited (\(status)) before loading the context"
                                                       + (lastLines.isEmpty ? "" : ":\n\(lastLines)")))
        }
        var reason: String
        switch status {
        case .signaled(SIGKILL): reason = "it was killed (SIGKILL; often the out-of-memory killer or a memory cap)"
        case .signaled(let signal): reason = "it was terminated by signal \(signal)"
        case .exited(let code): reason = "it exited with status \(code)"
        #if os(Windows)
        default: reason = "it ended"
        #endif
        }
        if !lastLines.isEmpty { reason += ": \(lastLines)" }
        return .died(reason)
    }

    func clearIncarnation() {
        cancelSubCalls()
        failPendingForks("the pristine REPL stopped")
        outgoing?.finish()
        outgoing = nil
        connection = nil
    }

    private func closeConnection() {
        connection?.close(promise: nil)
    }

    private func processStarted(pid: pid_t) {
        perform(machine.processStarted(pid: pid))
    }

    private nonisolated func runProcess(command: SandboxCommand, bootstrap: Bootstrap) async -> IncarnationEvent {
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, so the terminal's Ctrl-C reaches only the host
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))]
        do {
            let line = String(decoding: try JSONEncoder().encode(bootstrap), as: UTF8.self) + "\n"
            let result = try await Subprocess.run(
                .path(FilePath(command.executable)),
                arguments: Arguments(command.arguments),
                environment: .custom(Self.environment(home: command.scratchDirectory)),
                workingDirectory: FilePath(workDirectory.path),
                platformOptions: options,
                input: .inputWriter,
                output: .discarded,
                error: .sequence
            ) { execution in
                await self.processStarted(pid: execution.processIdentifier.value)
                _ = try? await execution.standardInputWriter.write(line)
                try? await execution.standardInputWriter.finish()
                var tail: [UInt8] = []
                do {
                    for try await chunk in execution.standardError {
                        chunk.withUnsafeBytes { tail.append(contentsOf: $0) }
                        if tail.count > 16_384 { tail.removeFirst(tail.count - 8_192) }
                    }
                } catch {}
                return String(decoding: tail, as: UTF8.self)
            }
            return .processExited(result.terminationStatus, result.closureResult)
        } catch {
            return .processExited(.exited(127), "could not start \(command.executable): \(error)")
        }
    }

    /// The REPL's whole environment: an allow-list, so no API key or other secret reaches it.
    static func environment(home: String) -> [Environment.Key: String] {
        let inherited = ProcessInfo.processInfo.environment
        var values: [String: String] = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        ]
        for name in ["TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] {
            if let value = inherited[name] { values[name] = value }
        }
        var result: [Environment.Key: String] = [:]
        for (key, value) in values {
            if let key = Environment.Key(rawValue: key) { result[key] = value }
        }
        return result
    }

    // MARK: Files

    static func makeWorkDirectory(under root: URL?) throws -> URL {
        let base = root ?? FileManager.default.temporaryDirectory
        let directory = base.appendingPathComponent("rlm-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return directory
    }

    static func installDriver(in directory: URL) throws {
        // Compiled into the binary from REPL/Resources/rlm_driver.py (the EmbedResources plugin); written 0600.
        guard let driver = EmbeddedResources.files["rlm_driver.py"] else { throw REPLError.driverMissing }
        try PrivateFiles.write(Data(driver.utf8), to: directory.appendingPathComponent("rlm_driver.py"))
    }
}

/// The first line the driver reads on stdin.
struct Bootstrap: Encodable, Sendable {
    struct ContextFile: Encodable, Sendable {
        var path: String
        var format: String
    }
    var socket: String
    var token: String
    var context: ContextFile
    var maxOutputChars: Int
    var workdir: String
    var tools: [REPLTools.Signature]
    var limits: Limits
    var channel = ChannelLimits()

    /// The channel's bounds (``DriverChannelLimits``): the driver sends longer messages in parts.
    struct ChannelLimits: Encodable, Sendable {
        var partBytes = DriverChannelLimits.partBytes
        var maxMessageBytes = DriverChannelLimits.maxMessageBytes

        enum CodingKeys: String, CodingKey {
            case partBytes = "part_bytes"
            case maxMessageBytes = "max_message_bytes"
        }
    }

    /// Resource caps the driver sets on itself (soft and hard) before it loads the context.
    struct Limits: Encodable, Sendable {
        var memoryBytes: Int
        var cpuSeconds: Int?
        var fileBytes: Int
        var processCap: ProcessCapPolicy

        enum CodingKeys: String, CodingKey {
            case processes
            case memoryBytes = "memory_bytes"
            case cpuSeconds = "cpu_seconds"
            case fileBytes = "file_bytes"
            case watchProcesses = "watch_processes"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(memoryBytes, forKey: .memoryBytes)
            try container.encodeIfPresent(cpuSeconds, forKey: .cpuSeconds)
            try container.encode(fileBytes, forKey: .fileBytes)
            try container.encodeIfPresent(processCap.rlimit, forKey: .processes)
            try container.encodeIfPresent(processCap.watch, forKey: .watchProcesses)
        }
    }

    enum CodingKeys: String, CodingKey {
        case socket, token, context, workdir, limits, tools, channel
        case maxOutputChars = "max_output_chars"
    }
}

