import Foundation

/// Opens a page in the user's browser, only where there is a desktop to show it (xdg-open on Linux, open on macOS).
enum BrowserOpener {
    /// Tries to open `url`; returns false when there is no desktop or no opener, so the caller prints the URL instead.
    @discardableResult
    static func open(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        #if os(macOS)
        let opener = "/usr/bin/open"
        #else
        guard environment["DISPLAY"] != nil || environment["WAYLAND_DISPLAY"] != nil else { return false }
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let opener = path.map({ "\($0)/xdg-open" }).first(where: FileManager.default.isExecutableFile(atPath:)) else { return false }
        #endif
        let process = Process()
        process.executableURL = URL(fileURLWithPath: opener)
        process.arguments = [url]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        return (try? process.run()) != nil
    }
}
