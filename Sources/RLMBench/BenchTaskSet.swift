import Foundation

/// The tasks of one `rlm bench` run: every size × task index of a suite, built from the seed.
public enum BenchTaskSet {
    /// The ids of every task of a run, in the order they are generated and sharded (size by size, then by index).
    public static func ids(suite: BenchSuite, sizes: [Int], count: Int) -> [String] {
        positions(sizes: sizes, count: count).map { BenchTask.id(suite: suite, sizeTokens: $0.size, index: $0.index) }
    }

    /// Generates the tasks, only those of `shard` when one is given (the others are never built); codeqa trees are
    /// written under `workDirectory/trees`.
    public static func make(suite: BenchSuite, seed: UInt64, sizes: [Int], count: Int, workDirectory: URL,
                            shard: BenchShard? = nil) throws -> [BenchTask] {
        let all = positions(sizes: sizes, count: count)
        return try (shard?.select(all) ?? all).map { position in
            let (size, index) = (position.size, position.index)
            switch suite {
            case .niah: return NIAHGenerator.make(seed: seed, sizeTokens: size, index: index, count: count)
            case .oolong: return OolongGenerator.make(seed: seed, sizeTokens: size, index: index)
            case .pairs: return PairsGenerator.make(seed: seed, sizeTokens: size, index: index)
            case .codeqa:
                let root = workDirectory.appendingPathComponent("trees/codeqa-\(size)-\(index)")
                return try CodeQAGenerator.make(seed: seed, sizeTokens: size, index: index, root: root)
            }
        }
    }

    static func positions(sizes: [Int], count: Int) -> [(size: Int, index: Int)] {
        sizes.flatMap { size in (0..<count).map { (size, $0) } }
    }
}
