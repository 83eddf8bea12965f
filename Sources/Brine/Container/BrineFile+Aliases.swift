extension BrineFile {
    /// Alias paths (format 1.1): further paths of arrays stored once because
    /// the model held them in several places sharing one storage (tied
    /// weights), from the `brine.aliases` metadata map (docs/FORMAT.md,
    /// "Shared arrays"). ``array(_:as:)``, ``anyArray(_:)`` and ``info(_:)``
    /// accept them; an alias whose target is not an array path is ignored.
    /// - Returns: each alias path with the index in ``arrays`` it names, in file order.
    public var aliases: [(path: String, index: Int)] {
        guard case .map(let entries)? = metadata["brine.aliases"] else { return [] }
        let paths = arrayPaths
        var position: [ExactName: Int] = [:]
        for (i, p) in paths.enumerated() { position[ExactName(p)] = i }
        return entries.compactMap { alias, target in
            guard position[ExactName(alias)] == nil, case .string(let t) = target, let i = position[ExactName(t)] else { return nil }
            return (alias, i)
        }
    }

    /// The array index an alias path names, or `nil`.
    func aliasIndex(_ path: String) -> Int? {
        guard case .map(let entries)? = metadata["brine.aliases"],
              case .string(let target)? = entries.first(where: { $0.key.isSameName(as: path) })?.value else { return nil }
        return arrays.firstIndex { $0.hasPath(target) }
    }
}
