import Testing
@testable import MKCommands

@Suite struct UnifiedDiffTests {
    @Test func editScriptsRebuildBothSides() {
        var seed: UInt64 = 7
        func next() -> UInt64 { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed }
        for _ in 0..<200 {
            let a = (0..<Int(next() % 30)).map { _ in String(next() % 6) }
            let b = (0..<Int(next() % 30)).map { _ in String(next() % 6) }
            let script = UnifiedDiff.edits(a, b)
            var ra: [String] = [], rb: [String] = []
            for e in script {
                switch e {
                case let .same(s): ra.append(s); rb.append(s)
                case let .removed(s): ra.append(s)
                case let .added(s): rb.append(s)
                }
            }
            #expect(ra == a && rb == b)
        }
    }

    @Test func hunksWithContext() {
        let a = (1...20).map(String.init)
        var b = a
        b[4] = "five"
        b.insert("new", at: 15)
        let text = UnifiedDiff.render(a, b, labelA: "A", labelB: "B")
        #expect(text == """
            --- A
            +++ B
            @@ -2,7 +2,7 @@
             2
             3
             4
            -5
            +five
             6
             7
             8
            @@ -13,6 +13,7 @@
             13
             14
             15
            +new
             16
             17
             18
            """)
        #expect(UnifiedDiff.render(a, a, labelA: "A", labelB: "B") == "")
    }
}
