import Foundation
import RLMBench
import Testing

/// `--shard K/N` and `--shard auto`: the partition of the tasks and the scheduler variables.
struct ShardTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-shard-\(UUID().uuidString.prefix(8))")

    @Test func theShardsOfARunCoverEveryTaskOnceAndMixTheSizes() throws {
        let sizes = [2_000, 4_000, 8_000]
        let all = try BenchTaskSet.make(suite: .niah, seed: 7, sizes: sizes, count: 5, workDirectory: folder)
        for count in 1...7 {
            let shards = try (1...count).map { index in
                try BenchTaskSet.make(suite: .niah, seed: 7, sizes: sizes, count: 5, workDirectory: folder,
                                      shard: BenchShard(index: index, count: count))
            }
            // Every task once, each generated exactly as in the whole run.
            let joined = shards.flatMap { $0 }
            #expect(joined.count == all.count)
            #expect(Set(joined.map(\.id)) == Set(all.map(\.id)), "\(count) shards")
            for task in joined { #expect(task == all.first { $0.id == task.id }) }
            // Shares differ by one task at most, and round robin gives every shard of three or fewer each size.
            let counts = shards.map(\.count)
            #expect(counts.max()! - counts.min()! <= 1, "\(counts)")
            if count <= 3 { #expect(shards.allSatisfy { Set($0.map(\.sizeTokens)) == Set(sizes) }) }
        }
        // The ids of a run, known without generating it, are the generated tasks' ids in order.
        #expect(BenchTaskSet.ids(suite: .niah, sizes: sizes, count: 5) == all.map(\.id))
        // Shard 2 of 4 takes tasks 1, 5, 9, 13 (from 0), as `split -n r/2/4` takes lines.
        let second = try BenchShard.parse("2/4").select(all.map(\.id))
        #expect(second == [1, 5, 9, 13].map { all[$0].id })
    }

    @Test func aShardOutOfRangeOrMalformedIsRefusedWithTheForm() {
        for text in ["0/4", "5/4", "2", "a/b", "1/0", "-1/4", "2/4/1", ""] {
            #expect(throws: BenchInputError.self, "\(text)") { _ = try BenchShard.parse(text) }
        }
        let error = #expect(throws: BenchInputError.self) { _ = try BenchShard.parse("5/4") }
        #expect(error?.message.contains("from 1 to 4") == true)
        #expect(throws: Never.self) { _ = try BenchShard.parse("4/4") }
    }

    @Test func autoReadsKubernetesAndSlurmIndexesAndTheCount() throws {
        // Kubernetes indexed Job: JOB_COMPLETION_INDEX from 0.
        #expect(try BenchShard.fromScheduler(environment: ["JOB_COMPLETION_INDEX": "0"], count: 4) == BenchShard(index: 1, count: 4))
        #expect(try BenchShard.fromScheduler(environment: ["JOB_COMPLETION_INDEX": "3", "RLM_SHARD_COUNT": "4"], count: nil)
                == BenchShard(index: 4, count: 4))
        // Slurm array --array=5-8: task 7 is the third shard; with a step (--array=1-7:2) task 5 is the third too.
        #expect(try BenchShard.fromScheduler(environment: ["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5"], count: 4)
                == BenchShard(index: 3, count: 4))
        #expect(try BenchShard.fromScheduler(environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1",
                                                           "SLURM_ARRAY_TASK_STEP": "2"], count: 4) == BenchShard(index: 3, count: 4))
        // --shard-count wins over RLM_SHARD_COUNT.
        #expect(try BenchShard.fromScheduler(environment: ["JOB_COMPLETION_INDEX": "1", "RLM_SHARD_COUNT": "9"], count: 2)
                == BenchShard(index: 2, count: 2))
    }

    @Test func autoNamesWhatIsMissingOrWrong() {
        func message(_ environment: [String: String], _ count: Int?) -> String {
            do {
                _ = try BenchShard.fromScheduler(environment: environment, count: count)
                return "accepted"
            } catch {
                return (error as? BenchInputError)?.message ?? "\(error)"
            }
        }
        let none = message([:], 4)
        #expect(none.contains("JOB_COMPLETION_INDEX") && none.contains("SLURM_ARRAY_TASK_ID") && none.contains("--shard K/N"), "\(none)")
        let noCount = message(["JOB_COMPLETION_INDEX": "0"], nil)
        #expect(noCount.contains("--shard-count") && noCount.contains("RLM_SHARD_COUNT"), "\(noCount)")
        let past = message(["JOB_COMPLETION_INDEX": "4"], 4)
        #expect(past.contains("JOB_COMPLETION_INDEX=4") && past.contains("--shard-count"), "\(past)")
        let slurmPast = message(["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "5"], 4)
        #expect(slurmPast.contains("SLURM_ARRAY_TASK_ID=9"), "\(slurmPast)")
        #expect(message(["SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "2"], 4)
                    .contains("SLURM_ARRAY_TASK_STEP"))
        #expect(message(["JOB_COMPLETION_INDEX": "x"], 4).contains("JOB_COMPLETION_INDEX='x'"))
        #expect(message(["JOB_COMPLETION_INDEX": "0", "RLM_SHARD_COUNT": "four"], nil).contains("RLM_SHARD_COUNT='four'"))
        #expect(message(["JOB_COMPLETION_INDEX": "0"], 0).contains("at least 1"))
    }
}
