"""Lesson 16 - Matrix multiplication kernels

Run it:   python lessons/16_matmul_kernels.py       (about 45 minutes with the exercises)
Needs:    lessons 4 (kernels, the emulator) and 15 (GFLOP/s, arithmetic intensity).

The idea
--------
Every GEMM in the library calls BLAS on the CPU and cuBLAS on the GPU, rightly: they are as
fast as the hardware allows. This lesson writes the kernel those libraries replace, to see
where their speed comes from. C = A B, with A (M, K), B (K, N), C (M, N), costs 2·M·N·K FLOPs
(one multiply and one add per term of each sum).

The naive kernel gives each thread one element of C: a loop over k reads A[row, k] and
B[k, col] from global memory and adds their product. Per thread: 2K numbers read for 2K
FLOPs. In float32 (4 bytes a number), that is an arithmetic intensity of

    I = 2K FLOPs / (2K · 4 bytes) = 0.25 FLOP/byte,

far below any GPU's balance point P / B (lesson 15; tens of FLOP/byte on a recent GPU): the
naive kernel waits for memory, however many threads it has.

Tiling raises I. A block of TILE × TILE threads computes a TILE × TILE tile of C. It walks
along K in steps of TILE: at each step it copies a TILE × TILE tile of A and one of B into
shared memory (fast, on-chip, shared by the block's threads; each thread copies one number of
each), waits at __syncthreads(), then each thread reads its row and column of the two tiles
from shared memory. Every number brought from global memory is used TILE times, so

    I = TILE / 4 FLOP/byte in float32:   4 at TILE = 16.

A second __syncthreads() after the arithmetic keeps a fast thread from copying the next tiles
over ones that slower threads are still reading. cuBLAS goes further (each thread computes
several outputs from registers, copies are overlapped with arithmetic), but the idea is this.

What to watch for
-----------------
- Through the emulator, kernels run on the CPU, and a barrier is a context switch per thread:
  the tiled kernel is *slower* there than the naive one. Emulator timings measure the
  emulator. On a GPU (this lesson uses one when CuPy finds it), the order reverses.
- The emulator runs the threads of a block one after another up to each barrier, so a
  missing barrier gives wrong results every time, not once in a thousand runs.
"""
from pathlib import Path

import _course as course  # the lessons' shared helpers (and it finds minifaceattr)
import numpy as np

import minifaceattr as mfa
from minifaceattr.backend import to_numpy
from minifaceattr.kernels.emulator import RawModule

SOURCE = (Path(__file__).resolve().parent / "kernels" / "matmul.cu").read_text()
TILE = 16
FULL = dict(n=256, n_gpu=4096, repeats=3)
QUICK = dict(n=64, n_gpu=1024, repeats=1)


def main(quick=False):
    size = QUICK if quick else FULL
    section_1_naive()
    section_2_intensity()
    section_3_tiled()
    section_4_measured(size["n"], size["repeats"])
    section_5_on_a_gpu(size["n_gpu"])


def compile_kernel(source, name, dtype, on_gpu=None):
    """Kernel ``name`` of ``source`` with real_t = dtype: CuPy on a GPU, else the emulator."""
    options = ("-Dreal_t=" + ("float" if dtype == np.float32 else "double"),)
    use_gpu = mfa.has_gpu() if on_gpu is None else on_gpu
    if use_gpu:
        import cupy
        return cupy.RawModule(code=source, options=options).get_function(name)
    return RawModule(source, options, name="matmul.cu").get_function(name)


def multiply(kernel, A, B, order=None):
    """C = A B by ``kernel``, on A's device, one thread per element of C in TILE² blocks."""
    xp = mfa.get_array_module(A)
    M, N = A.shape[0], B.shape[1]
    guard = TILE * (N + TILE)                     # room for any thread of the grid to write
    memory = xp.full(M * N + guard, np.nan, A.dtype)  # NaN: an element nobody wrote shows
    C = memory[:M * N].reshape(M, N)
    launch(kernel, A, B, C, order)
    if not xp.isnan(memory[M * N:]).all():
        raise RuntimeError("the kernel wrote past the end of C: is the store guarded?")
    return C


def launch(kernel, A, B, C, order=None):
    """One launch of ``kernel``: C = A B, a TILE × TILE block for each tile of C."""
    (M, K), N = A.shape, B.shape[1]
    grid = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    args = (A, B, C, np.int32(M), np.int32(N), np.int32(K))
    if order is None:
        kernel(grid, (TILE, TILE), args)
    else:
        kernel(grid, (TILE, TILE), args, order=order)   # an emulator option


def random_pair(M, K, N, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)


def error_vs_numpy(C, A, B):
    """Largest |C − A B| relative to the largest |A B|, computed in float64."""
    expected = A.astype(np.float64) @ B.astype(np.float64)
    return float(np.abs(to_numpy(C) - expected).max() / np.abs(expected).max())


def section_1_naive():
    course.section("1. The naive kernel: one thread per element of C")
    print(SOURCE[SOURCE.index("// Naive"):SOURCE.index("// Tiled")].strip())
    print()
    for dtype, shapes in [(np.float64, (37, 29, 53)), (np.float32, (37, 29, 53)),
                          (np.float32, (1, 1, 1))]:
        A, B = random_pair(*shapes, dtype)
        kernel = compile_kernel(SOURCE, "matmul_naive", dtype, on_gpu=False)
        err = error_vs_numpy(multiply(kernel, A, B), A, B)
        print(f"  {np.dtype(dtype).name}: A {A.shape} @ B {B.shape}: largest error {err:.1e}")
        course.confirm(err < (1e-14 if dtype == np.float64 else 1e-5),
                       "the naive kernel agrees with NumPy (through the emulator)")
    course.say("""
        Sizes need not be multiples of the block: the grid is rounded up, and the threads
        outside C return at once. The float32 error is rounding (K terms summed in float32).""")


def section_2_intensity():
    course.section("2. Global memory reads and arithmetic intensity")
    print(f"{'C = A B, n x n x n':>20} {'FLOPs':>14} {'naive reads':>14} {'tiled reads':>14}"
          f" {'I naive':>8} {'I tiled':>8}")
    for n in (256, 1024, 4096):
        flops, naive, tiled = 2 * n ** 3, 2 * n ** 3, 2 * n ** 3 // TILE
        print(f"{n:>20} {flops:>14.3g} {naive:>14.3g} {tiled:>14.3g}"
              f" {flops / (4 * naive):>8.2f} {flops / (4 * tiled):>8.2f}")
    ideal = {n: 2 * n ** 3 / (4 * 3 * n * n) for n in (256, 1024, 4096)}
    course.say(f"""
        Reads are numbers fetched from global memory, 4 bytes each in float32; I = FLOPs per
        byte. Tiling with TILE = {TILE} divides the reads by {TILE}. Even so, reading A and B
        once and writing C once would give I = 2n^3 / (4 * 3n^2) = n / 6: {ideal[1024]:.0f}
        FLOP/byte at n = 1024. That headroom is what cuBLAS's further tricks go after.""")
    course.confirm(all(2 * n ** 3 / (4 * (2 * n ** 3 // TILE)) == TILE / 4 for n in (256, 4096)),
                   f"the tiled kernel's intensity is TILE / 4 = {TILE / 4} FLOP/byte")


def section_3_tiled():
    course.section("3. The tiled kernel: shared memory and two barriers")
    print(SOURCE[SOURCE.index("// Tiled"):SOURCE.index("// The tiled kernel without")].strip())
    print()
    A, B = random_pair(48, 64, 32, np.float64)
    tiled = compile_kernel(SOURCE, "matmul_tiled", np.float64, on_gpu=False)
    for order in ("forward", "reverse", "shuffle:7"):
        err = error_vs_numpy(multiply(tiled, A, B, order=order), A, B)
        print(f"  threads run in order {order:9}: largest error {err:.1e}")
        course.confirm(err < 1e-14, "the tiled kernel is right whichever thread runs first")
    broken = compile_kernel(SOURCE, "matmul_tiled_one_barrier", np.float64, on_gpu=False)
    err = error_vs_numpy(multiply(broken, A, B, order="forward"), A, B)
    print(f"  without the second barrier: largest error {err:.2f}")
    course.confirm(err > 0.01, "a fast thread overwrote tiles that slower threads still needed")
    course.say("""
        With the emulator's order, thread 0 runs until the first barrier, then thread 1, and
        so on. Without the second barrier, thread 0 goes on into the next step and copies
        the next tiles of A and B over the current ones before thread 1 has read them.""")


def section_4_measured(n, repeats):
    course.section(f"4. GFLOP/s on the CPU at n = {n} (float32)")
    A, B = random_pair(n, n, n, np.float32)
    C, flops = np.empty((n, n), np.float32), 2 * n ** 3
    rates = {"NumPy (BLAS)": flops / course.median_seconds(lambda: A @ B, repeats)}
    for name in ("matmul_naive", "matmul_tiled"):
        kernel = compile_kernel(SOURCE, name, np.float32, on_gpu=False)
        rates[f"{name} (emulator)"] = flops / course.median_seconds(
            lambda k=kernel: launch(k, A, B, C), repeats)
    for name, rate in rates.items():
        print(f"  {name:26s} {rate / 1e9:9.2f} GFLOP/s")
    course.say("""
        BLAS wins by far: the emulator runs each CUDA thread as plain C, and the tiled kernel
        pays a context switch per thread at every barrier, so here it is the slowest. These
        are measurements of one machine at one moment: run twice and compare.""")


def section_5_on_a_gpu(n):
    course.section(f"5. On a GPU, at n = {n} (float32)")
    if not mfa.has_gpu():
        print("No GPU here (mfa.has_gpu() is False). With CuPy and a GPU, this section runs")
        print("both kernels and cuBLAS (cupy.matmul) there, checks them against NumPy, and")
        print("prints their GFLOP/s: the tiled kernel usually beats the naive one, reading")
        print("global memory TILE times less (caches narrow the gap); cuBLAS is faster again.")
        return
    import cupy
    A, B = random_pair(n, n, n, np.float32)
    A_gpu, B_gpu, C_gpu = cupy.asarray(A), cupy.asarray(B), cupy.empty((n, n), np.float32)
    sync, flops, rates = cupy.cuda.Device().synchronize, 2 * n ** 3, {}
    small = random_pair(320, 256, 480, np.float32)      # multiples of TILE, for matmul_tiled
    for name in ("matmul_naive", "matmul_tiled"):
        kernel = compile_kernel(SOURCE, name, np.float32, on_gpu=True)
        got = multiply(kernel, *(cupy.asarray(a) for a in small))
        course.confirm(error_vs_numpy(got, *small) < 1e-5, f"{name} agrees with NumPy on the GPU")
        rates[name] = flops / course.median_seconds(lambda k=kernel: launch(k, A_gpu, B_gpu, C_gpu),
                                             10, sync)
    rates["cuBLAS (cupy.matmul)"] = flops / course.median_seconds(lambda: A_gpu @ B_gpu, 10, sync)
    for name, rate in rates.items():
        print(f"  {name:26s} {rate / 1e9:9.1f} GFLOP/s")
    course.say("""
        The naive kernel's threads in a row of a block read the same A[row, k] and neighbouring
        B[k, col], so the caches hide part of its 0.25 FLOP/byte; tiling makes the reuse
        explicit. cuBLAS adds register tiles, wider loads and overlapped copies.""")


# =============================================================================================
# Exercises. `python lessons/16_matmul_kernels.py --check` lists them. Each docstring is
# the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Arithmetic intensity", answer="I_NAIVE I_TILED")
def exercise_1(answer):
    """In float64 (8 bytes a number), what are the arithmetic intensities (FLOPs per byte read
    from global memory) of the naive kernel and of the tiled kernel with TILE = 32?"""
    naive, tiled = course.numbers(answer, count=2)
    if course.is_close(naive, 0.25) or course.is_close(tiled, 8):
        raise course.NotYet("those are float32's numbers: a float64 number is 8 bytes.")
    if not course.is_close(naive, 2 / (2 * 8)):
        raise course.NotYet("the naive kernel: each term of the sum reads 2 numbers "
                            "(A[row, k] and B[k, col]) and does 2 FLOPs.")
    if not course.is_close(tiled, 32 / 8):
        raise course.NotYet("the tiled kernel uses each number it reads TILE times: "
                            "multiply the naive intensity by TILE.")
    return "I = TILE / 8 in float64: 4 FLOP/byte at TILE = 32."


def tiled_any_size_source():
    """CUDA source of a kernel

        extern "C" __global__ void matmul_tiled_any(const real_t* A, const real_t* B,
                                                    real_t* C, int M, int N, int K)

    that computes C = A B with TILE x TILE tiles in shared memory, like matmul_tiled
    (lessons/kernels/matmul.cu), for any M, N and K, not only multiples of TILE."""
    # ---- exercise 2: return the kernel's source, a string (start from matmul_tiled) ----
    raise NotImplementedError


@course.exercise("Tiles for any size", edit=tiled_any_size_source)
def exercise_2(make_source):
    """Write tiled_any_size_source (in the lesson file, just before exercise_2). It returns
    the source of matmul_tiled_any: matmul_tiled for any M, N, K. Where a tile runs past A or
    B, copy a 0 instead; write only the elements of C that exist. (TILE is defined by the
    lesson's matmul.cu, 16; use #define TILE 16 in your source.) The check runs it through
    the emulator on awkward sizes, for float and double, in two thread orders."""
    source = make_source()
    if not isinstance(source, str):
        raise course.NotYet(f"tiled_any_size_source should return a string, "
                            f"got {type(source).__name__}")
    if "__shared__" not in source or "__syncthreads" not in source:
        raise course.NotYet("tile it: copy tiles of A and B into __shared__ arrays, with "
                            "__syncthreads() before and after using them.")
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-13)):
        try:
            kernel = compile_kernel(source, "matmul_tiled_any", dtype, on_gpu=False)
        except (RuntimeError, ValueError) as e:
            raise course.NotYet(f"the source does not compile as matmul_tiled_any: {e}") from None
        for shapes in [(37, 29, 53), (1, 1, 1), (16, 16, 16), (33, 70, 17)]:
            A, B = random_pair(*shapes, dtype, seed=3)
            results = [multiply(kernel, A, B, order=order) for order in ("forward", "reverse")]
            unwritten = int(np.isnan(results[0]).sum())
            if unwritten:
                raise course.NotYet(f"for A {A.shape} @ B {B.shape}, {unwritten} elements of C "
                                    "were never written.")
            err = max(error_vs_numpy(C, A, B) for C in results)
            if err > tol and not np.array_equal(*results):
                raise course.NotYet("the result depends on which thread runs first: is each "
                                    "tile complete before it is read, and read by all before "
                                    "it is overwritten?")
            if err > tol:
                raise course.NotYet(f"for A {A.shape} @ B {B.shape} ({np.dtype(dtype).name}) the "
                                    f"largest error is {err:.2g}: do the loads past the edge "
                                    "copy 0?")
    return "Your tiled kernel covers any shape: the padding zeros add nothing to the sums."


EXERCISES = [exercise_1, exercise_2]

if __name__ == "__main__":
    course.run(main, EXERCISES)
