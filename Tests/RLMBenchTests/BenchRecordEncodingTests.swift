import Foundation
import Testing
import RLMBench

/// `results.jsonl` lines as docs/benchmarks.md describes them.
@Suite struct BenchRecordEncodingTests {
    @Test func anUnpricedRunWritesCostAsNull() throws {
        let line = #"{"task":"t1","suite":"\#(BenchSuite.allCases[0].rawValue)","size_tokens":100,"method":"rlm","score":1,"prediction":"a","expected":"a","tokens":{"m":{"input":10,"output":2}},"wall_seconds":1.5,"turns":2,"sub_calls":0,"status":"answered"}"#
        let record = try JSONDecoder().decode(BenchRecord.self, from: Data(line.utf8))
        #expect(record.costUSD == nil)
        let written = try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as? [String: Any] ?? [:]
        #expect(written.keys.contains("cost_usd"), "cost_usd is left out")
        #expect(written["cost_usd"] is NSNull)
        #expect(written["error"] == nil && written["truncated"] == nil, "optional notes stay out when absent")
        var priced = record
        priced.costUSD = 0.25
        let pricedLine = try JSONSerialization.jsonObject(with: JSONEncoder().encode(priced)) as? [String: Any] ?? [:]
        #expect(pricedLine["cost_usd"] as? Double == 0.25)
        #expect(try JSONDecoder().decode(BenchRecord.self, from: JSONEncoder().encode(priced)) == priced)
    }
}
