// CBrineKernels: Brine's x86_64 AVX2 / F16C kernels and the CPU feature
// probe that selects them at run time.
//
// Every kernel is compiled with `__attribute__((target(...)))`, so the
// target itself needs no special compiler flags; the Swift side calls a
// kernel only when brine_cpu_features() reports the features it needs.
// Byte layouts follow docs/FORMAT.md ("filter codes" for the shuffle) and
// the Swift definitions in Sources/Brine/Codecs (ByteShuffle,
// FloatConversion, ByteSwap); the Swift tests check every kernel against
// those definitions bit for bit.
#ifndef CBRINEKERNELS_H
#define CBRINEKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The CPU supports AVX2 (and the OS saves its registers).
#define BRINE_CPU_AVX2 (1u << 0)
/// The CPU supports F16C (float16 <-> float32 conversion instructions).
#define BRINE_CPU_F16C (1u << 1)

/// The BRINE_CPU_* features of this CPU, probed once with
/// `__builtin_cpu_supports` and cached; 0 on CPUs other than x86, and 0
/// when built with `-Xcc -DBRINE_NO_AVX2` (to test the fallback paths on
/// a CPU that has AVX2).
unsigned brine_cpu_features(void);

/// Whether brine_xxh3_64_avx2 was compiled in: 1 on x86 when the compiler
/// is clang and found <xxhash.h>, else 0 (the function then returns 0).
int brine_xxh3_avx2_available(void);

/// XXH3-64 with seed 0 of `length` bytes at `data` (any alignment), with
/// xxHash's AVX2 loop; the same value as libxxhash's XXH3_64bits. Requires
/// AVX2 and brine_xxh3_avx2_available().
uint64_t brine_xxh3_64_avx2(const void *data, size_t length);

/// CPUs in the calling thread's affinity mask (`sched_getaffinity(2)`),
/// or -1 where unknown (error, or not Linux).
int brine_affinity_cpu_count(void);

/// Restricts the calling thread to CPU 0 (`sched_setaffinity(2)`); 0 on
/// success, -1 otherwise. For tests of the thread-count rule only.
int brine_pin_thread_to_cpu0(void);

/// Starts a detached thread running `start(argument)`. On Linux, when the
/// caller may run on two or more CPUs, the thread is created allowed on
/// every CPU of the caller's affinity mask but the one the caller runs on
/// (`pthread_attr_setaffinity_np(3)`), and widens its mask back to the
/// caller's before calling `start`: a new thread is otherwise queued on its
/// creator's CPU and, there, takes turns with the creator while another
/// CPU idles until load balancing moves one of them (measured: ~5 ms of a
/// 25 ms save). Returns 0, or the `pthread_create(3)` error number.
int brine_spawn_thread_elsewhere(void *(*start)(void *), void *argument);

/// Puts the calling thread under SCHED_BATCH (`sched(7)`: its wake-ups never
/// preempt the running thread) if it is under SCHED_OTHER; 0 on success,
/// -1 otherwise (or not Linux).
int brine_use_batch_scheduling(void);

/// Names the calling thread (`pthread_setname_np(3)`, at most 15 bytes:
/// what `ps -T` and /proc/<pid>/task/<tid>/comm show); 0 on success, -1
/// otherwise (or not Linux).
int brine_name_thread(const char *name);

/// Allocates the file's blocks for bytes `offset ..< offset + length`
/// without changing its size (`fallocate(2)` with `FALLOC_FL_KEEP_SIZE`,
/// retried on EINTR). Returns 0 on success, else the `errno` (`EOPNOTSUPP`
/// on file systems or systems without it).
int brine_preallocate_keep_size(int fd, int64_t offset, int64_t length);

/// Frees the file's blocks for bytes `offset ..< offset + length` without
/// changing its size (`fallocate(2)` with `FALLOC_FL_PUNCH_HOLE |
/// FALLOC_FL_KEEP_SIZE`, retried on EINTR): blocks preallocated past the
/// end of a finished file. Returns 0 on success, else the `errno`.
int brine_release_blocks_past(int fd, int64_t offset, int64_t length);

/// Starts writing the file's dirty pages for bytes `offset ..< offset +
/// length` to the device without waiting for them (`sync_file_range(2)`
/// with `SYNC_FILE_RANGE_WRITE`, retried on EINTR): a durable save's final
/// `fsync` then finds most of the file already written. No durability of
/// its own. Returns 0 on success, else the `errno` (`EOPNOTSUPP` off Linux).
int brine_start_writeback(int fd, int64_t offset, int64_t length);

/// For a child process writing private temporary files inside the private
/// folder `dir` for its parent (process id `parent`): when the parent dies
/// (even by SIGKILL), the child gets SIGTERM (`prctl(PR_SET_PDEATHSIG)`),
/// and SIGTERM, from there or from the parent, removes every file in `dir`
/// and `dir` itself and exits with status 128 + 15. Returns 0, else the
/// `errno` (`EOPNOTSUPP` off Linux, `ENAMETOOLONG`, `open`'s).
int brine_remove_on_parent_death(const char *dir, int parent);

/// Records `path` as a temporary file (or empty-once-its-files-are-gone
/// folder) of this process that the handlers of
/// ``brine_remove_temporaries_on_signals`` unlink (files, first) or remove
/// (`rmdir`, folders, after every file). Returns 0, `ENOSPC` when
/// 64 temporaries are already recorded (that one is then not removed), or
/// `ENAMETOOLONG` (4096 bytes or more).
int brine_temporary_register(const char *path);

/// Forgets `path` (committed or removed); unknown paths are ignored.
void brine_temporary_unregister(const char *path);

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that unlink every
/// recorded temporary, then let the signal end the process as it would have,
/// and unblocks the three signals in the calling thread (a mask inherited
/// from the spawning thread would otherwise hold them). Call it first thing
/// in `main`. Returns 0, else the `errno` of `sigaction`/`pthread_sigmask`.
int brine_remove_temporaries_on_signals(void);

#ifdef BRINE_NO_AVX2
#define BRINE_CPU_PROBE_DISABLED 1
#else
#define BRINE_CPU_PROBE_DISABLED 0
#endif

#if defined(__x86_64__) || defined(__i386__)
#define BRINE_KERNELS_X86 1

/// Byte shuffle (blosc "shuffle" filter) of `count` elements of
/// `element_size` bytes: dst[j * count + i] = src[i * element_size + j].
/// Element sizes 2, 4 and 8 are vectorized, others run a scalar loop.
/// Requires AVX2. `src` and `dst` must not overlap; neither needs any
/// alignment. Bytes past the last whole element are not touched (the
/// caller copies them).
void brine_shuffle_avx2(const void *src, void *dst, size_t count, size_t element_size);

/// The inverse of brine_shuffle_avx2: dst[i * element_size + j] =
/// src[j * count + i]. Element sizes 2, 4 and 8 are vectorized. Requires AVX2.
void brine_unshuffle_avx2(const void *src, void *dst, size_t count, size_t element_size);

/// The conversions read `count` values at `src` and write `count` values
/// at `dst` (float32: 4 bytes each, float16/bfloat16: 2 bytes each, native
/// byte order); neither pointer needs any alignment.

/// float32 -> bfloat16 bits, round to nearest, ties to even; NaN keeps its
/// sign and top payload bits and gets the quiet bit (0x0040) set. Requires AVX2.
void brine_narrow_bfloat16_avx2(const void *src, void *dst, size_t count);

/// bfloat16 bits -> float32 (exact: the bits shifted left by 16). Requires AVX2.
void brine_widen_bfloat16_avx2(const void *src, void *dst, size_t count);

/// float32 -> IEEE float16 bits with VCVTPS2PH, round to nearest, ties to
/// even; overflow gives infinity; NaN becomes a quiet NaN keeping its sign
/// and top 9 payload bits. Requires AVX2 and F16C.
void brine_narrow_float16_f16c(const void *src, void *dst, size_t count);

/// IEEE float16 bits -> float32 with VCVTPH2PS (exact; a signalling NaN is
/// returned quiet, payload kept). Requires AVX2 and F16C.
void brine_widen_float16_f16c(const void *src, void *dst, size_t count);

/// Reverses the bytes of each of `count` elements of `element_size` bytes
/// (2, 4 and 8 vectorized, other sizes by a scalar loop). `src == dst`
/// swaps in place; otherwise they must not overlap. Requires AVX2.
void brine_byteswap_avx2(const void *src, void *dst, size_t count, size_t element_size);

#endif

#if defined(__x86_64__)
/// Copies `count` bytes from `src` to `dst` (non-overlapping, any
/// alignment) with non-temporal SSE2 stores (MOVNTDQ) followed by SFENCE.
/// For copies much larger than the last-level cache; baseline x86_64, no
/// feature check needed.
void brine_copy_streaming(void *dst, const void *src, size_t count);
#endif

/// Finds the first element where narrowing float32 -> float16 (`half` =
/// 1) or bfloat16 (`half` = 0) lost a value's magnitude: `src` holds
/// `count` float32 values, `dst` the `count` 16-bit results. An element is
/// lost when a finite input became +-infinity (overflow) or a nonzero input
/// became +-0 (underflow). Returns its index, or `count` when there is none.
/// Portable C on every CPU: blocks of 64 elements are scanned branch-free
/// (the compiler vectorizes them), and only a block that holds a loss is
/// searched element by element. Neither pointer needs any alignment.
size_t brine_narrowing_loss(const void *src, const void *dst, size_t count, int half);

#ifdef __cplusplus
}
#endif

#endif
