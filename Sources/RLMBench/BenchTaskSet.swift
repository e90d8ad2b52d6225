import Foundation

/// The tasks of one `rlm bench` run: every size × task index of a suite, built from the seed.
public enum BenchTaskSet {
    /// Generates the tasks; codeqa trees are written under `workDirectory/trees`.
    public static func make(suite: BenchSuite, seed: UInt64, sizes: [Int], count: Int, workDirectory: URL) throws -> [BenchTask] {
        var tasks: [BenchTask] = []
        for size in sizes {
            for index in 0..<count {
                switch suite {
                case .niah: tasks.append(NIAHGenerator.make(seed: seed, sizeTokens: size, index: index, count: count))
                case .oolong: tasks.append(OolongGenerator.make(seed: seed, sizeTokens: size, index: index))
                case .pairs: tasks.append(PairsGenerator.make(seed: seed, sizeTokens: size, index: index))
                case .codeqa:
                    let root = workDirectory.appendingPathComponent("trees/codeqa-\(size)-\(index)")
                    tasks.append(try CodeQAGenerator.make(seed: seed, sizeTokens: size, index: index, root: root))
                }
            }
        }
        return tasks
    }
}
