/// Array names of the Codable mapping (docs/FORMAT.md, "Codable mapping",
/// "Array names"). Added in format 1.1: an array's name is its coding path's
/// keys joined by `.` **unescaped** (a PyTorch state dict keeps its keys:
/// `encoder.layer.3.attention.self.query.weight`), except where two names
/// would then be equal; those arrays get the escaped form of format 1.0
/// (`%` → `%25`, `.` → `%2E`, empty key → `%00`).
///
/// The rule, over every numeric array the encoder catches in one value
/// (inline or out of line) and every alias path:
/// 1. each gets its raw name R (keys joined by `.`; `root` for the empty path);
/// 2. the set U starts with every array whose R equals another's R (or a
///    path the writer already held);
/// 3. names are E (escaped) for arrays in U, R otherwise; while two names are
///    equal, the arrays holding them join U;
/// 4. names still equal (the same key encoded twice) get `~2`, `~3`, … in
///    encoding order, skipping names in use.
/// E is injective over key sequences, so step 3 ends with distinct names
/// unless two arrays have the very same coding path (step 4).
enum ArrayNames {
    /// One name to assign: the coding path's keys.
    struct Item {
        var components: [String]
        /// The 1.0 name this array had (escaped, made unique by `~k`).
        var legacy: String
    }

    /// The raw name: keys joined by `.`, `root` for the empty path.
    static func raw(_ components: [String]) -> String {
        components.isEmpty ? "root" : components.joined(separator: ".")
    }

    /// The escaped (format 1.0) name.
    static func escaped(_ components: [String]) -> String {
        components.isEmpty ? "root" : components.map(CodingPathNode.escape).joined(separator: ".")
    }

    /// The final names of `items` (same order), avoiding `taken`.
    /// Names are compared by Unicode scalars (``ExactName``), as the array
    /// table compares paths: `"\u{E9}"` and `"e\u{301}"` are two names, kept
    /// as they are (by `String ==` one would be escaped or suffixed).
    static func assign(_ items: [Item], taken: Set<ExactName>) -> [String] {
        let raws = items.map { raw($0.components) }
        var rawCount: [ExactName: Int] = [:]
        for r in raws { rawCount[ExactName(r), default: 0] += 1 }
        var escapedIndex = Set<Int>()
        for (i, r) in raws.enumerated() where rawCount[ExactName(r)]! > 1 || taken.contains(ExactName(r)) { escapedIndex.insert(i) }
        var names: [String] = []
        // Step 3: a fixed point; each round moves at least one array into U
        // or ends, so at most items.count + 1 rounds.
        while true {
            names = items.indices.map { escapedIndex.contains($0) ? escaped(items[$0].components) : raws[$0] }
            var holders: [ExactName: [Int]] = [:]
            for (i, n) in names.enumerated() { holders[ExactName(n), default: []].append(i) }
            var grew = false
            for (n, idx) in holders where idx.count > 1 || taken.contains(n) {
                for i in idx where !escapedIndex.contains(i) {
                    escapedIndex.insert(i)
                    grew = true
                }
                _ = n
            }
            if !grew { break }
        }
        // Step 4: identical coding paths (a key encoded twice).
        var used = taken
        var out: [String] = []
        out.reserveCapacity(names.count)
        for n in names {
            if used.insert(ExactName(n)).inserted {
                out.append(n)
                continue
            }
            var k = 2
            while !used.insert(ExactName("\(n)~\(k)")).inserted { k += 1 }
            out.append("\(n)~\(k)")
        }
        return out
    }
}
