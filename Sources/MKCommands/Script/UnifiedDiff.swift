/// A line diff (Myers' shortest edit script) rendered as a unified diff
/// with three lines of context.
enum UnifiedDiff {
    enum Edit: Equatable { case same(String), removed(String), added(String) }

    /// The edit script turning `a` into `b`. Bounded: past `maxEdits`
    /// differences it gives up on minimality and reports the rest as a
    /// block replacement, so huge unrelated outputs cannot blow up.
    static func edits(_ a: [String], _ b: [String], maxEdits: Int = 4000) -> [Edit] {
        let n = a.count, m = b.count
        let maxD = min(n + m, maxEdits)
        let offset = maxD + 1
        var v = [Int](repeating: 0, count: 2 * maxD + 3)
        var trace: [[Int]] = []
        var found = false
        outer: for d in 0...maxD {
            trace.append(v)
            var k = -d
            while k <= d {
                var x: Int
                if k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) {
                    x = v[offset + k + 1]
                } else {
                    x = v[offset + k - 1] + 1
                }
                var y = x - k
                while x < n && y < m && a[x] == b[y] { x += 1; y += 1 }
                v[offset + k] = x
                if x >= n && y >= m { found = true; break outer }
                k += 2
            }
        }
        guard found else {
            return a.map { .removed($0) } + b.map { .added($0) }
        }
        // Walk back through the saved frontiers.
        var script: [Edit] = []
        var x = n, y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let vd = trace[d]
            let k = x - y
            let prevK: Int
            if k == -d || (k != d && vd[offset + k - 1] < vd[offset + k + 1]) { prevK = k + 1 } else { prevK = k - 1 }
            let prevX = d == 0 ? 0 : vd[offset + prevK]
            let prevY = prevX - prevK
            while x > prevX && y > prevY { script.append(.same(a[x - 1])); x -= 1; y -= 1 }
            if d > 0 {
                if x == prevX { script.append(.added(b[y - 1])); y -= 1 } else { script.append(.removed(a[x - 1])); x -= 1 }
            }
        }
        while x > 0 && y > 0 { script.append(.same(a[x - 1])); x -= 1; y -= 1 }
        return script.reversed()
    }

    /// `---`/`+++` headers and `@@` hunks; empty when equal.
    static func render(_ a: [String], _ b: [String], labelA: String, labelB: String, context: Int = 3) -> String {
        let script = edits(a, b)
        let changes = script.indices.filter { if case .same = script[$0] { return false }; return true }
        guard let first = changes.first else { return "" }
        // Group changes whose gaps of equal lines are short enough to share context.
        var groups: [(Int, Int)] = [(first, first)]
        for c in changes.dropFirst() {
            if let last = groups.last, c - last.1 <= 2 * context + 1 {
                groups[groups.count - 1].1 = c
            } else {
                groups.append((c, c))
            }
        }
        // Line numbers in a and b before each script position.
        var aBefore = [Int](repeating: 0, count: script.count + 1)
        var bBefore = [Int](repeating: 0, count: script.count + 1)
        for (i, e) in script.enumerated() {
            aBefore[i + 1] = aBefore[i] + ({ if case .added = e { return true }; return false }() ? 0 : 1)
            bBefore[i + 1] = bBefore[i] + ({ if case .removed = e { return true }; return false }() ? 0 : 1)
        }
        var out = ["--- \(labelA)", "+++ \(labelB)"]
        for (c0, c1) in groups {
            let start = max(0, c0 - context), end = min(script.count, c1 + context + 1)
            let aCount = aBefore[end] - aBefore[start], bCount = bBefore[end] - bBefore[start]
            out.append("@@ -\(aBefore[start] + (aCount > 0 ? 1 : 0)),\(aCount) +\(bBefore[start] + (bCount > 0 ? 1 : 0)),\(bCount) @@")
            for e in script[start..<end] {
                switch e {
                case let .same(s): out.append(" " + s)
                case let .removed(s): out.append("-" + s)
                case let .added(s): out.append("+" + s)
                }
            }
        }
        return out.joined(separator: "\n")
    }
}
