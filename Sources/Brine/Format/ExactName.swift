/// A name compared and hashed by its Unicode scalars (its UTF-8 bytes), not
/// by Swift's `String` equality, which treats canonically equivalent strings
/// (`"\u{E9}"` and `"e\u{301}"`) as equal. Array paths, map keys and Python
/// dict keys are sequences of code points in the format, in NumPy, in
/// safetensors and in Python: two spellings are two names, and a set or
/// dictionary of `String` would merge them (one array dropped, or a valid
/// file refused as holding a duplicate).
package struct ExactName: Hashable, Sendable {
    /// The name.
    package let string: String

    /// The name `string`, compared by its code points.
    package init(_ string: String) { self.string = string }

    package static func == (a: ExactName, b: ExactName) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    package func hash(into hasher: inout Hasher) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for b in string.utf8 { hasher.combine(b) } }
        hasher.combine(string.utf8.count)
    }
}

extension String {
    /// Equality by Unicode scalars (UTF-8 bytes), as file formats and Python
    /// compare names; see ``ExactName``.
    package func isSameName(as other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}

/// `s` as a JSON string literal (``Value``'s quoting; inside a `Dictionary`
/// extension `Value` names the dictionary's element type).
private func quotedName(_ s: String) -> String { Value.quoted(s) }

extension Dictionary where Key == String {
    /// The key this dictionary holds for `key` when it is another spelling of
    /// it (canonically equivalent, other code points), which a subscript
    /// would silently take for `key`; `nil` when the key is absent or the same.
    package func otherSpelling(of key: String) -> String? {
        guard let i = index(forKey: key), !keys[i].isSameName(as: key) else { return nil }
        return keys[i]
    }

    /// Throws when this dictionary holds another spelling of `key` (see
    /// ``otherSpelling(of:)``): inserting `key` would silently replace that
    /// entry, so one name and its value would be lost.
    /// - Parameters:
    ///   - key: the key about to be inserted.
    ///   - names: what the keys are, for the message (e.g. `"metadata keys"`).
    ///   - holder: what cannot keep both (e.g. `"the metadata map"`).
    ///   - error: makes the error from the message; by default
    ///     `.unsupportedFeature` with no location.
    /// - Throws: the error `error` makes.
    package func refuseOtherSpelling(
        of key: String, names: String, holder: String,
        error: (String) -> BrineError = { BrineError(.unsupportedFeature, $0) }
    ) throws(BrineError) {
        guard let other = otherSpelling(of: key) else { return }
        throw error("\(names) \(quotedName(other)) and \(quotedName(key)) are different code points but equal Swift strings (canonically equivalent); \(holder) cannot keep both")
    }
}

/// Positions of names, looked up by exact code points first and, failing
/// that, by Swift `String` equality (canonical equivalence) when exactly one
/// name matches that way: a file written with the other spelling of a
/// model's key still matches it, but a file holding both spellings never
/// hands one array out for the other.
struct NameIndex {
    private var exact: [ExactName: Int] = [:]
    /// By Swift `String` equality: the position and spelling of the first
    /// name of each canonical class, and whether another spelling shares it.
    private var canonical: [String: (position: Int, spelling: String, ambiguous: Bool)] = [:]

    init() {}

    init<S: Sequence>(_ names: S) where S.Element == String {
        for (i, n) in names.enumerated() { insert(n, at: i) }
    }

    /// Records `name` at `position` (a later insert of the exact same name wins).
    mutating func insert(_ name: String, at position: Int) {
        exact[ExactName(name)] = position
        if let c = canonical[name] {
            if c.spelling.isSameName(as: name) { canonical[name]?.position = position } else { canonical[name]?.ambiguous = true }
        } else {
            canonical[name] = (position, name, false)
        }
    }

    /// The position of `name`: its exact spelling, else the one name that is
    /// canonically equivalent to it; `nil` when none is, or several are.
    subscript(name: String) -> Int? {
        if let i = exact[ExactName(name)] { return i }
        if let c = canonical[name], !c.ambiguous { return c.position }
        return nil
    }
}
