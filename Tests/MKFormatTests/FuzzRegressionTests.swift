import Testing
import Foundation
import MKFormat

/// Every input the fuzzers once crashed on (Tests/Fixtures/fuzz/TARGET/),
/// replayed through the reader its target drives: each must be refused
/// with a FormatError, and never again crash.
@Suite struct FuzzRegressionTests {
    static func inputs(_ target: String) -> [URL] {
        let dir = fuzzFixture(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test func deviceTreeInputs() throws {
        let inputs = Self.inputs("dtb")
        #expect(!inputs.isEmpty, "no inputs under \(fuzzFixture("dtb").path)")
        for url in inputs {
            let blob = Array(try Data(contentsOf: url))
            #expect(throws: FormatError.self, "\(url.lastPathComponent)") { try DeviceTree(blob: blob, source: url.path) }
        }
    }
}
