import Foundation
import RLMKit

/// `run.json`: what a run (or one shard of it) was made with. `--resume` refuses a folder made otherwise, and
/// `rlm bench merge` refuses to mix folders that differ in anything but their shard.
public struct BenchManifest: Codable, Sendable, Equatable {
    public var suite: String
    public var seed: UInt64
    public var sizes: [Int]
    /// Tasks per size.
    public var tasks: Int
    public var baseWindow: Int
    // The fields below are nil in folders written before sharding; a comparison skips a field either side lacks.
    public var methods: [BenchMethod]?
    public var rootModel: String?
    public var subModel: String?
    public var simulated: Bool?
    /// Every task of the whole run, in order, whichever shard this folder holds.
    public var taskIDs: [String]?
    /// The share of the tasks this folder holds; nil for a whole run.
    public var shard: BenchShard?

    public init(suite: String, seed: UInt64, sizes: [Int], tasks: Int, baseWindow: Int, methods: [BenchMethod]? = nil,
                rootModel: String? = nil, subModel: String? = nil, simulated: Bool? = nil, taskIDs: [String]? = nil,
                shard: BenchShard? = nil) {
        self.suite = suite
        self.seed = seed
        self.sizes = sizes
        self.tasks = tasks
        self.baseWindow = baseWindow
        self.methods = methods
        self.rootModel = rootModel
        self.subModel = subModel
        self.simulated = simulated
        self.taskIDs = taskIDs
        self.shard = shard
    }

    /// The title of summary.md and plot.svg: the same for a run and for its merged shards.
    public var title: String {
        "rlm bench \(suite): \(rootModel ?? "?")\(simulated == true ? " (built-in simulated server: harness proof)" : ""), seed \(seed)"
    }

    /// What differs between two manifests, shard aside, each as "name: ours against theirs"; empty when they
    /// describe the same run.
    public func differences(from other: BenchManifest) -> [String] {
        var found: [String] = []
        func compare<T: Equatable>(_ name: String, _ ours: T?, _ theirs: T?, _ show: (T) -> String) {
            if let ours, let theirs, ours != theirs { found.append("\(name) \(show(ours)) against \(show(theirs))") }
        }
        let sizeList = { (sizes: [Int]) in sizes.map(BenchSize.label).joined(separator: ",") }
        compare("suite", suite, other.suite) { $0 }
        compare("seed", seed, other.seed) { String($0) }
        compare("sizes", sizes, other.sizes, sizeList)
        compare("tasks per size", tasks, other.tasks) { String($0) }
        compare("base window", baseWindow, other.baseWindow) { String($0) }
        compare("methods", methods, other.methods) { $0.map(\.rawValue).joined(separator: ",") }
        compare("root model", rootModel, other.rootModel) { $0 }
        compare("sub-model", subModel, other.subModel) { $0 }
        compare("simulated", simulated, other.simulated) { String($0) }
        if found.isEmpty { compare("task list", taskIDs, other.taskIDs) { "(\($0.count) tasks)" } }
        return found
    }

    /// Every (task, method) the whole run answers, as ``BenchRunner/key(task:method:)`` writes it.
    public var expectedKeys: [String] {
        let ids = taskIDs ?? BenchSuite(rawValue: suite).map { BenchTaskSet.ids(suite: $0, sizes: sizes, count: tasks) } ?? []
        return ids.flatMap { id in (methods ?? BenchMethod.allCases).map { BenchRunner.key(task: id, method: $0) } }
    }

    public static func load(from folder: URL) throws -> BenchManifest {
        let url = folder.appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw BenchInputError("\(folder.path) holds no run.json: give the folders `rlm bench SUITE --out` wrote.")
        }
        do {
            return try JSONDecoder().decode(BenchManifest.self, from: data)
        } catch {
            throw BenchInputError("\(url.path) is not a run manifest (\(error)); give the folders `rlm bench SUITE --out` wrote.")
        }
    }

    public func write(to folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try PrivateFiles.write(try encoder.encode(self), to: folder.appendingPathComponent("run.json"))
    }
}
