import Foundation
import ModelSimulator
import RLMKit
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

extension EngineBench {
    /// Text contexts of the chosen sizes: time to the first root request, load time in the REPL beside plain
    /// Python reading the same file, and peak memory of host and REPL.
    func textLoads(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        var figures: [EngineFigure] = []
        for tokens in options.contextTokens {
            let file = try textContext(tokens: tokens)
            let label = "\(BenchSize.label(tokens)) tokens (\(megabytes(fileBytes(file))) MB text)"
            let ideal = try await pythonReadSeconds(mode: "file", path: file.path)
            for figure in try await measureLoad(context: file.path, label: label, section: "load", idealSeconds: ideal) {
                figures.append(figure)
                onFigure(figure)
            }
        }
        return figures
    }

    /// A directory context of about 30,000 generated source files, and any real folders given.
    func directoryLoads(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        var figures: [EngineFigure] = []
        var folders = [try generatedTree(files: options.directoryFiles)]
        folders += options.directories.map { URL(fileURLWithPath: $0) }
        for folder in folders {
            let (count, bytes) = Self.treeSize(folder)
            let label = "\(folder.path) (\(count) files, \(megabytes(bytes)) MB)"
            let ideal = try await pythonReadSeconds(mode: "tree", path: folder.path)
            for figure in try await measureLoad(context: folder.path, label: label, section: "directory", idealSeconds: ideal) {
                figures.append(figure)
                onFigure(figure)
            }
            let idealRate = Double(bytes) / 1_048_576 / max(ideal, 1e-9)
            for (prefix, what) in [("context load", "in the REPL"), ("`rlm ask` start", "start → first root request")] {
                let runs = figures.last { $0.measure.hasPrefix(prefix) }?.runs ?? []
                let throughput = EngineFigure(section: "directory", measure: "throughput \(what), \(label)", unit: "MB/s",
                                              runs: runs.map { Double(bytes) / 1_048_576 / max($0, 1e-9) },
                                              ideal: idealRate, note: "goal ≥ 200 MB/s")
                figures.append(throughput)
                onFigure(throughput)
            }
        }
        return figures
    }

    func measureLoad(context: String, label: String, section: String, idealSeconds: Double) async throws -> [EngineFigure] {
        let simulator = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: "```repl\nFINAL(len(context))\n```") }
        defer { Task { await simulator.shutdown() } }
        var first: [Double] = [], load: [Double] = [], host: [Double] = [], repl: [Double] = []
        for _ in 0..<options.runs {
            simulator.resetCounters()
            let log = workDirectory.appendingPathComponent("engine-load.jsonl")
            let outcome = try await ask(baseURL: simulator.baseURL, context: context, log: log)
            if let at = simulator.firstRequestAt { first.append((at - outcome.started).seconds) }
            load += Self.eventSeconds("context_loaded", log: log).prefix(1)
            try? FileManager.default.removeItem(at: log)
            host.append(Double(outcome.summary["host_peak_rss_bytes"] as? Int ?? 0) / 1_048_576)
            repl.append(Double(outcome.summary["repl_peak_rss_bytes"] as? Int ?? 0) / 1_048_576)
        }
        return [
            EngineFigure(section: section, measure: "`rlm ask` start → first root request, \(label)", unit: "s", runs: first,
                         ideal: idealSeconds, note: "ideal: plain Python reading and decoding the same input"),
            EngineFigure(section: section, measure: "context load in the REPL, \(label)", unit: "s", runs: load, ideal: idealSeconds),
            EngineFigure(section: section, measure: "peak RSS of the `rlm` host, \(label)", unit: "MiB", runs: host),
            EngineFigure(section: section, measure: "peak RSS of the REPL, \(label)", unit: "MiB", runs: repl),
        ]
    }

    /// Seconds plain Python takes to read and decode the input (a file, or every file of a tree): the bound set by
    /// the disk and by decoding.
    func pythonReadSeconds(mode: String, path: String) async throws -> Double {
        let script = """
            import os, sys, time
            mode, root = sys.argv[1], sys.argv[2]
            t = time.perf_counter()
            if mode == "file":
                open(root, encoding="utf-8", errors="replace").read()
            else:
                for folder, dirs, files in os.walk(root):
                    dirs[:] = [d for d in dirs if d not in (".git", ".hg", ".svn", ".build", "node_modules", "__pycache__", ".venv")]
                    for name in files:
                        with open(os.path.join(folder, name), "rb") as handle:
                            data = handle.read()
                        if b"\\0" not in data[:8192]:
                            data.decode("utf-8", errors="replace")
            print(time.perf_counter() - t)
            """
        var times: [Double] = []
        for _ in 0..<options.runs {
            let result = try await Subprocess.run(.name("python3"), arguments: ["-c", script, mode, path],
                                                  output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
            guard let seconds = Double(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw BenchInputError("python3 could not read \(path): \(result.standardError.suffix(300))")
            }
            times.append(seconds)
        }
        return times.sorted()[times.count / 2]
    }

    // MARK: - Inputs

    func textContext(tokens: Int) throws -> URL {
        let url = workDirectory.appendingPathComponent("engine-context-\(BenchSize.label(tokens)).txt")
        let bytes = tokens * benchCharsPerToken
        if fileBytes(url) >= bytes { return url }
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var block = ""
        for index in 0..<10_000 {
            block += "record \(index): user_\(index % 977) reported status \(index % 13 == 0 ? "failed" : "ok") at step \(index * 31 % 1000)\n"
        }
        let data = Data(block.utf8)
        var written = 0
        while written < bytes {
            try handle.write(contentsOf: data)
            written += data.count
        }
        return url
    }

    /// A tree of `files` generated Python sources (1–15 KB each) in folders of 100, kept for later runs.
    func generatedTree(files: Int) throws -> URL {
        let root = workDirectory.appendingPathComponent("engine-tree-\(files)")
        let marker = workDirectory.appendingPathComponent("engine-tree-\(files).complete")
        if FileManager.default.fileExists(atPath: marker.path) { return root }
        try? FileManager.default.removeItem(at: root)
        var random = SeededRandom(seed: 9, suite: "engine-tree", size: files, index: 0)
        let line = "    total = sum(value * scale for value in values if value > threshold)  # keep the running figure\n"
        for index in 0..<files {
            let folder = root.appendingPathComponent("package_\(index / 100)")
            if index % 100 == 0 { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            var text = "\"\"\"Module \(index).\"\"\"\n\ndef compute_\(index)(values, scale=2, threshold=\(index % 97)):\n"
            text += String(repeating: line, count: random.int(in: 10...150))
            text += "    return total\n"
            try Data(text.utf8).write(to: folder.appendingPathComponent("module_\(index).py"))
        }
        _ = FileManager.default.createFile(atPath: marker.path, contents: nil)
        return root
    }

    /// The files and bytes a directory context over `root` loads (the same walker, so the same folders left out).
    static func treeSize(_ root: URL) -> (files: Int, bytes: Int) {
        guard let listing = try? DirectoryListing.walk(root) else { return (0, 0) }
        return (listing.relativePaths.count, listing.totalBytes)
    }

    func fileBytes(_ url: URL) -> Int { (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
    func megabytes(_ bytes: Int) -> Int { bytes / 1_048_576 }
}
