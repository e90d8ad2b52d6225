/// One share of a benchmark's tasks: shard `index` of `count`, counted from 1 as `split -n r/K/N` counts.
///
/// Task `i` of the run (0-based, in the order the tasks are generated: size by size, then by index) belongs to the
/// shard whose `index` is `i mod count + 1`. Round robin gives every shard some tasks of every size, so shards take
/// about as long as each other; the same flags always give the same share.
public struct BenchShard: Codable, Sendable, Equatable, CustomStringConvertible {
    /// From 1 to `count`.
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw BenchInputError("the shard count must be at least 1; got \(count).") }
        guard (1...count).contains(index) else {
            throw BenchInputError("shard \(index) of \(count) does not exist: K in --shard K/\(count) goes from 1 to \(count).")
        }
        self.index = index
        self.count = count
    }

    /// `K/N`, as written on the command line.
    public var description: String { "\(index)/\(count)" }

    /// The tasks of this shard, in their order.
    public func select<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }

    /// Parses `K/N`; the message says what a valid one looks like.
    public static func parse(_ text: String) throws -> BenchShard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw BenchInputError("'\(text)' is not a shard: write --shard K/N (for example 2/4, K from 1 to N) or --shard auto.")
        }
        return try BenchShard(index: index, count: count)
    }

    /// The scheduler variables `--shard auto` reads, in the order it tries them.
    public static let indexVariables = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
    /// Where `--shard auto` takes the count from when `--shard-count` is not given.
    public static let countVariable = "RLM_SHARD_COUNT"

    /// The shard named by a scheduler: Kubernetes indexed Jobs set `JOB_COMPLETION_INDEX` (from 0); Slurm arrays set
    /// `SLURM_ARRAY_TASK_ID`, taken relative to `SLURM_ARRAY_TASK_MIN` (and divided by `SLURM_ARRAY_TASK_STEP`).
    /// The count is `count` (`--shard-count`), else `RLM_SHARD_COUNT`.
    public static func fromScheduler(environment: [String: String], count: Int?) throws -> BenchShard {
        let shardCount: Int
        if let count {
            shardCount = count
        } else if let text = environment[countVariable] {
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw BenchInputError("\(countVariable)='\(text)' is not a number; set it to the number of shards.")
            }
            shardCount = value
        } else {
            throw BenchInputError("--shard auto needs the number of shards: pass --shard-count N or set \(countVariable) "
                                  + "(the Job's completions, or the size of the Slurm array).")
        }
        guard shardCount >= 1 else { throw BenchInputError("the shard count must be at least 1; got \(shardCount).") }
        if let text = environment["JOB_COMPLETION_INDEX"] {
            let value = try number(text, variable: "JOB_COMPLETION_INDEX")
            return try checked(index: value + 1, count: shardCount,
                               source: "JOB_COMPLETION_INDEX=\(text) (counted from 0) is past the \(shardCount) shards")
        }
        if let text = environment["SLURM_ARRAY_TASK_ID"] {
            let id = try number(text, variable: "SLURM_ARRAY_TASK_ID")
            let minimum = try environment["SLURM_ARRAY_TASK_MIN"].map { try number($0, variable: "SLURM_ARRAY_TASK_MIN") } ?? 0
            let step = try environment["SLURM_ARRAY_TASK_STEP"].map { try number($0, variable: "SLURM_ARRAY_TASK_STEP") } ?? 1
            guard step >= 1, id >= minimum, (id - minimum) % step == 0 else {
                throw BenchInputError("SLURM_ARRAY_TASK_ID=\(id) does not fall on the array \(minimum), \(minimum + step), …: "
                                      + "check SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_STEP, or pass --shard K/N.")
            }
            return try checked(index: (id - minimum) / step + 1, count: shardCount,
                               source: "SLURM_ARRAY_TASK_ID=\(id) (from SLURM_ARRAY_TASK_MIN=\(minimum)) is past the \(shardCount) shards")
        }
        throw BenchInputError("--shard auto found none of \(indexVariables.joined(separator: ", ")) (set by a Kubernetes "
                              + "indexed Job and a Slurm array). In a CI matrix, pass the shard itself: --shard K/N.")
    }

    static func number(_ text: String, variable: String) throws -> Int {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
            throw BenchInputError("\(variable)='\(text)' is not a whole number; --shard auto cannot place this process.")
        }
        return value
    }

    static func checked(index: Int, count: Int, source: String) throws -> BenchShard {
        guard index <= count else {
            throw BenchInputError("\(source): make --shard-count or \(countVariable) match the number of processes.")
        }
        return try BenchShard(index: index, count: count)
    }
}
