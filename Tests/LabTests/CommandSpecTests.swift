import Testing
import Foundation
import MKCommands

/// The command specs against what is derived from them or written about
/// them: usage lines, README.md's command table, docs/json.md's sections.
@Suite struct CommandSpecTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The spec a path of words names (`["info", "symbol"]`), by names or aliases.
    static func spec(_ words: [String]) -> CommandSpec? {
        guard let first = words.first, var spec = CommandRegistry.all.first(where: { $0.matches(first) }) else { return nil }
        for w in words.dropFirst() {
            guard let sub = spec.subcommand(named: w) else { return nil }
            spec = sub
        }
        return spec
    }

    @Test func namesAreUniqueAndUsagesNameEveryArgument() {
        var seen: Set<String> = []
        for spec in CommandRegistry.all {
            for name in [spec.name] + spec.aliases {
                #expect(seen.insert(name).inserted, "\(name) names two commands")
            }
        }
        for (path, spec) in CommandRegistry.paths() where spec.subcommands.isEmpty {
            // The usage `help` shows: a subcommand's own, else its parent's.
            var usage = Self.spec([path[0]])?.usageText() ?? ""
            for k in 1..<path.count { usage = Self.spec(Array(path.prefix(k + 1)))?.usageText(parent: usage) ?? usage }
            for a in spec.arguments {
                for part in a.name.split(separator: "|") {
                    #expect(usage.contains(part), "\(path.joined(separator: " ")): usage \"\(usage)\" does not show \(part)")
                }
            }
            for o in spec.options {
                #expect(usage.contains(o.canonical), "\(path.joined(separator: " ")): usage does not show \(o.canonical)")
            }
            #expect(!spec.summary.isEmpty && !spec.examples.isEmpty, "\(path.joined(separator: " ")) needs a summary and examples")
            for example in spec.examples {
                let head = example.prefix { $0 != " " && $0 != "/" }
                #expect(Self.spec([String(head)]) != nil, "example \(example) of \(path) names no command")
            }
        }
    }

    /// Every command (and subcommand) the README's table names is a spec,
    /// and every spec is in the table.
    @Test func readmeCommandTableMatchesTheSpecs() throws {
        let readme = try Self.read("README.md")
        let start = try #require(readme.range(of: "\n## Commands\n"))
        let rest = readme[start.upperBound...]
        let section = rest.prefix { _ in true }.components(separatedBy: "\n## ").first ?? ""
        var named: [[String]] = []
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(2).components(separatedBy: " | ").first ?? ""
            // Each backticked item in the first cell: `ps [-G\|-t] [PID…]`, `freeze [NAME]`.
            for (i, item) in cell.components(separatedBy: "`").enumerated() where i % 2 == 1 {
                var words = item.replacingOccurrences(of: "\\|", with: "|").split(separator: " ").map(String.init)
                guard var head = words.first, head != "@NAME" else { continue }
                if let cut = head.firstIndex(where: { $0 == "/" || $0 == "[" }) { head = String(head[..<cut]) }
                words[0] = head
                named.append(words)
            }
        }
        var covered: Set<String> = []
        for words in named {
            let top = try #require(Self.spec([words[0]]), "README names \(words[0]), which is no command")
            covered.insert(top.name)
            guard !top.subcommands.isEmpty else { continue }
            // A command that runs on its own too (`bt [PID…]` beside `bt full`) shows its arguments in brackets.
            let subs = words.count > 1 && !words[1].hasPrefix("[") ? words[1].split(separator: "|").map(String.init) : []
            for s in subs {
                let sub = try #require(top.subcommand(named: s), "README names \(top.name) \(s), which is no subcommand")
                covered.insert(top.name + " " + sub.name)
            }
        }
        for spec in CommandRegistry.all {
            #expect(covered.contains(spec.name), "README's command table lacks \(spec.name)")
            for sub in spec.subcommands {
                #expect(covered.contains(spec.name + " " + sub.name), "README's command table lacks \(spec.name) \(sub.name)")
            }
        }
    }

    /// docs/json.md has a section per command (or names it among the
    /// text-only ones), whose table lists exactly the fields the spec declares.
    @Test func jsonDocMatchesTheSpecs() throws {
        let doc = try Self.read("docs/json.md")
        let sections = doc.components(separatedBy: "\n## ").dropFirst()
        var documented: [String: Set<String>] = [:]
        let general = ["Common fields", "Errors"]
        for section in sections {
            let heading = String(section.prefix { $0 != "\n" })
            if general.contains(heading) { continue }
            var fields: Set<String> = []
            // The first table is the command's own fields; later ones describe nested objects.
            let firstTable = section.components(separatedBy: "| field |").dropFirst().first?.components(separatedBy: "\n\n").first ?? ""
            for line in firstTable.split(separator: "\n") where line.hasPrefix("| `") {
                let cell = line.dropFirst(2).components(separatedBy: " | ").first ?? ""
                for (i, item) in cell.components(separatedBy: "`").enumerated() where i % 2 == 1 { fields.insert(item) }
            }
            #expect(!fields.isEmpty, "docs/json.md: section \(heading) has no field table")
            let title = heading.components(separatedBy: " (").first ?? heading
            var union: Set<String> = []
            for name in title.components(separatedBy: ", ") {
                let spec = try #require(Self.spec(name.split(separator: " ").map(String.init)), "docs/json.md: \(name) is no command")
                union.formUnion(spec.json)
                documented[name.split(separator: " ").map(String.init).joined(separator: " ")] = Set(spec.json)
            }
            #expect(fields == union, "docs/json.md: \(heading): documents \(fields.sorted()), the specs declare \(union.sorted())")
        }
        let textOnly = try #require(doc.components(separatedBy: "\n\n").first { $0.hasPrefix("Commands that print only text") })
        for (path, spec) in CommandRegistry.paths() where spec.subcommands.isEmpty || spec.run != nil {
            let name = path.joined(separator: " ")
            if spec.json == ["output"] {
                #expect(textOnly.contains("`\(name)`"), "docs/json.md: \(name) prints only text; name it there")
            } else if !spec.json.isEmpty, documented[name] == nil {
                // A subcommand may share its parent's section (`set pagination` in `set`).
                let parent = path.count > 1 ? documented[path[0]] : nil
                #expect(parent.map { Set(spec.json).isSubset(of: $0) } == true, "docs/json.md has no section for \(name)")
            }
        }
    }
}
