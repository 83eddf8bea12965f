import ArgumentParser
import Brine

/// The dtypes a float32 array can be stored as (`--storage-dtype`).
enum StorageDTypeName: String, ExpressibleByArgument, CaseIterable {
    case float16, bfloat16

    var dtype: DType { self == .float16 ? .float16 : .bfloat16 }
}

/// How Brine output is stored: codec, level, shuffle, alignment, chunk size
/// and storage dtype, shared by every subcommand that writes Brine files.
/// Ranges are checked by ``WriteOptions/validate()`` (the library's single
/// source of truth); this group adds only the combinations that make no
/// sense on a command line.
struct BrineWriteOptionGroup: ParsableArguments {
    @Option(help: "Brine output: compression codec (none, lz4, zstd).")
    var codec: CodecName = .none

    // .unconditional: `--level -7` takes -7 as the value (not as an option).
    @Option(parsing: .unconditional, help: "Brine output: zstd level (-7…22, default 3); only with --codec zstd.")
    var level: Int?

    @Option(help: "Brine output: LZ4 acceleration (1…65537, default 1; higher is faster with a lower ratio); only with --codec lz4.")
    var lz4Acceleration: Int?

    @Flag(help: "Brine output: byte-shuffle each chunk before compressing.")
    var shuffle = false

    @Option(help: "Brine output: alignment of each array in bytes (power of two, 8…65536).")
    var alignment: Int = FormatSpec.defaultAlignment

    @Option(help: "Brine output: raw chunk size in bytes (8 B…1 GiB).")
    var chunkSize: Int = FormatSpec.defaultChunkBytes

    @Option(name: .customLong("storage-dtype"),
            help: "Brine output: store float32 arrays narrowed to float16 or bfloat16 (lossy; widened back on load).")
    var storageDType: StorageDTypeName?

    @Flag(name: .customLong("allow-overflow-and-underflow"),
          help: "With --storage-dtype: store ±infinity for finite values beyond the narrow type's range and ±0 for nonzero values below it (default: exit 1 naming the array, element and value).")
    var allowOverflowAndUnderflow = false

    /// The zstd level used when `--level` is not given.
    static let defaultZstdLevel = 3

    func validate() throws {
        if let level, codec != .zstd {
            throw ValidationError("--level \(level) applies to --codec zstd only (\(codec == .lz4 ? "lz4 has no levels" : "--codec none does not compress"))")
        }
        if let lz4Acceleration, codec != .lz4 {
            throw ValidationError("--lz4-acceleration \(lz4Acceleration) applies to --codec lz4 only")
        }
        if codec == .none && shuffle {
            throw ValidationError("--shuffle only helps a compressing codec; add --codec lz4 or --codec zstd")
        }
        if allowOverflowAndUnderflow && storageDType == nil {
            throw ValidationError("--allow-overflow-and-underflow applies to --storage-dtype only")
        }
        if let problem = Self.problem(writeOptions(threads: 1)) {
            throw ValidationError(Self.flagMessage(problem))
        }
    }

    /// The library's options for these flags.
    /// - Parameter threads: compression threads; `nil` for the library's default.
    func writeOptions(threads: Int?) -> WriteOptions {
        let c: Codec
        switch codec {
        case .none: c = .none
        case .lz4: c = .lz4
        case .zstd: c = .zstd(level: level ?? Self.defaultZstdLevel)
        }
        var o = WriteOptions(codec: c, filter: shuffle ? .shuffle : .none)
        o.alignment = alignment
        o.chunkBytes = chunkSize
        o.storageDType = storageDType?.dtype
        o.narrowing = allowOverflowAndUnderflow ? .allowOverflowAndUnderflow : .rejectOverflowAndUnderflow
        if let lz4Acceleration { o.lz4Acceleration = lz4Acceleration }
        if let threads { o.threads = threads }
        return o
    }

    /// Why the library refuses `options`, or `nil` when it accepts them.
    static func problem(_ options: WriteOptions) -> String? {
        do throws(BrineError) {
            try options.validate()
            return nil
        } catch {
            return error.message
        }
    }

    /// A library message about a field, prefixed with the flag that sets it.
    static func flagMessage(_ message: String) -> String {
        let flags = [("alignment", "--alignment"), ("chunk size", "--chunk-size"), ("zstd level", "--level"),
                     ("storage dtype", "--storage-dtype"), ("threads", "--threads"), ("lz4 acceleration", "--lz4-acceleration")]
        for (prefix, flag) in flags where message.hasPrefix(prefix) { return "\(flag): \(message)" }
        return message
    }
}

/// `--threads`: how many threads read, decompress, compress and checksum.
struct ThreadsOptionGroup: ParsableArguments {
    @Option(help: "Threads that compress, decompress and checksum chunks (default: all processors).")
    var threads: Int?

    func validate() throws {
        var o = WriteOptions()
        if let threads { o.threads = threads }
        if let problem = BrineWriteOptionGroup.problem(o) {
            throw ValidationError(BrineWriteOptionGroup.flagMessage(problem))
        }
    }

    /// Brine read options with these threads.
    var readOptions: ReadOptions { Values(threads: threads).readOptions }

    /// safetensors/NumPy read options with these threads.
    var interopOptions: InteropReadOptions { Values(threads: threads).interopOptions }

    /// The reader options for a thread count (`nil`: the library's default).
    struct Values {
        var threads: Int?

        /// Brine read options with these threads.
        var readOptions: ReadOptions {
            var o = ReadOptions()
            if let threads { o.threads = threads }
            return o
        }

        /// safetensors/NumPy read options with these threads.
        var interopOptions: InteropReadOptions {
            var o = InteropReadOptions()
            if let threads { o.threads = threads }
            return o
        }
    }
}
