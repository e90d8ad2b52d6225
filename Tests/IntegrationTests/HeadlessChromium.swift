import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Debian's Chromium, headless, for checking pages the way a user sees them: the DOM after the scripts ran, what
/// the console said, and a screenshot. `.ci/run` installs it; where it cannot be had, the tests that need it are
/// skipped with that reason (never passed silently).
enum HeadlessChromium {
    static let binary: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static var available: Bool { binary != nil }

    /// Where the screenshots go: `RLM_SCREENSHOT_DIR`, else `<tmp>/rlm-viewer-screenshots`.
    static var screenshotFolder: URL {
        let folder = ProcessInfo.processInfo.environment["RLM_SCREENSHOT_DIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("rlm-viewer-screenshots")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    struct Page {
        /// The DOM once the page's scripts settled.
        var dom: String
        /// What the page wrote to its console (`console.*`, uncaught errors, failed loads): empty for a clean page.
        var console: [String]
        /// The `data-*` value the viewer sets on `<body>`, e.g. `attribute("errors")`.
        func attribute(_ name: String) -> String? {
            guard let body = dom.firstRange(of: "<body") else { return nil }
            let tag = dom[body.lowerBound...].prefix { $0 != ">" }
            guard let start = tag.firstRange(of: "data-\(name)=\"") else { return nil }
            return String(tag[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// Loads `url` and returns the DOM after up to `budgetMS` of virtual time (requests in flight hold the clock, so a
    /// live page that waits on its server is followed in real time).
    static func load(_ url: String, budgetMS: Int = 5_000) async throws -> Page {
        let (stdout, stderr) = try await run(["--dump-dom", url], budgetMS: budgetMS)
        let console = stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Page(dom: stdout, console: console)
    }

    /// Saves a screenshot of `url` as `name`.png in ``screenshotFolder`` and returns its path.
    @discardableResult
    static func screenshot(_ url: String, name: String, width: Int = 1400, height: Int = 1000, budgetMS: Int = 5_000) async throws -> String {
        let path = screenshotFolder.appendingPathComponent("\(name).png").path
        try? FileManager.default.removeItem(atPath: path)
        _ = try await run(["--screenshot=\(path)", "--window-size=\(width),\(height)", "--hide-scrollbars", url], budgetMS: budgetMS)
        return path
    }

    private static func run(_ arguments: [String], budgetMS: Int) async throws -> (String, String) {
        guard let binary else { throw ChromiumMissing() }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-chromium-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: profile) }
        // --no-sandbox: Chromium's own sandbox refuses to start as root (the CI user); the page is our own file.
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                     "--user-data-dir=\(profile.path)", "--enable-logging=stderr", "--v=0",
                     "--virtual-time-budget=\(budgetMS)"]
        let result = try await Subprocess.run(.path(FilePath(binary)), arguments: Arguments(flags + arguments),
                                              environment: .inherit, input: .none,
                                              output: .string(limit: 256 << 20), error: .string(limit: 64 << 20))
        return (result.standardOutput, result.standardError)
    }

    struct ChromiumMissing: Error, CustomStringConvertible {
        var description: String { "Chromium is not installed: apt-get install chromium" }
    }
}
