// cuda_emu.h: just enough of CUDA for a .cu kernel to compile with g++ and run on the CPU.
//
// The emulator (emulator.py) compiles each kernel file as:
//     #include "cuda_emu.h"      <- this file
//     <the .cu source>           <- unchanged, except `extern __shared__ T a[];`
//     <one launcher per kernel>  <- generated: calls emu_launch() below
//
// How a launch runs: blocks one after another. Inside a block,
//   - a kernel without __syncthreads runs its threads in a plain loop;
//   - a kernel with __syncthreads runs each thread as a fiber (a ucontext with its own stack).
//     Each fiber runs until it reaches the barrier; when every thread of the block has
//     reached it, the next phase starts. The order in which the threads run within a phase is
//     forward, reversed or shuffled, so a missing barrier shows up the same way every run.
// Only one CPU thread runs a launch, so atomics are plain read-modify-writes.
#pragma once
#include <math.h>
#include <float.h>
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>

// ---- CUDA keywords ----------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// One block runs at a time, so a function-local static is exactly "one copy per block".
#define __shared__ static

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

// `extern __shared__ T a[];` is rewritten by the emulator to `T* a = (T*) emu_dynamic_shared;`.
// 48 KiB is what a CUDA block may ask for without opting in to more.
#define EMU_MAX_DYNAMIC_SHARED (48 * 1024)
alignas(16) static unsigned char emu_dynamic_shared[EMU_MAX_DYNAMIC_SHARED];

// ---- math functions that CUDA has and C does not -----------------------------------------
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
// (__expf and __logf, CUDA's fast versions, are already in glibc's math.h.)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float saturatef(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
static inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
template <typename T> static inline T __ldg(const T* p) { return *p; }
static inline void __threadfence() {}
static inline void __threadfence_block() {}

// ---- atomics: one CPU thread runs the whole grid, so read-modify-write is atomic ---------
#define EMU_ATOMIC(type, name, expr) \
    static inline type name(type* address, type val) { type old = *address; *address = (expr); return old; }
EMU_ATOMIC(float, atomicAdd, old + val)
EMU_ATOMIC(double, atomicAdd, old + val)
EMU_ATOMIC(int, atomicAdd, old + val)
EMU_ATOMIC(unsigned int, atomicAdd, old + val)
EMU_ATOMIC(unsigned long long, atomicAdd, old + val)
EMU_ATOMIC(int, atomicSub, old - val)
EMU_ATOMIC(unsigned int, atomicSub, old - val)
EMU_ATOMIC(int, atomicMax, old > val ? old : val)
EMU_ATOMIC(unsigned int, atomicMax, old > val ? old : val)
EMU_ATOMIC(int, atomicMin, old < val ? old : val)
EMU_ATOMIC(unsigned int, atomicMin, old < val ? old : val)
EMU_ATOMIC(int, atomicExch, val)
EMU_ATOMIC(unsigned int, atomicExch, val)
EMU_ATOMIC(float, atomicExch, val)
static inline int atomicCAS(int* a, int cmp, int val) { int o = *a; if (o == cmp) *a = val; return o; }
static inline unsigned int atomicCAS(unsigned int* a, unsigned int cmp, unsigned int val) {
    unsigned int o = *a; if (o == cmp) *a = val; return o; }
static inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long cmp,
                                           unsigned long long val) {
    unsigned long long o = *a; if (o == cmp) *a = val; return o; }

// ---- the scheduler -----------------------------------------------------------------------
enum { EMU_FORWARD = 0, EMU_REVERSE = 1, EMU_SHUFFLE = 2 };
enum { EMU_RUNNING, EMU_AT_BARRIER, EMU_DONE };
#define EMU_STACK_BYTES (64 * 1024)  // per fiber; CUDA gives a thread 1 KiB by default
#define EMU_MAX_THREADS 1024

struct EmuFiber { ucontext_t context; uint3 index; int state; int barrier_line; };

static EmuFiber emu_fibers[EMU_MAX_THREADS];
static ucontext_t emu_scheduler;
static EmuFiber* emu_current;        // the fiber running now, or 0 in plain-loop mode
static jmp_buf emu_abort;            // where a plain-loop kernel that hits a barrier jumps back
static void (*emu_thread)(void**);   // runs one thread of the kernel being launched
static void** emu_args;
static char* emu_stacks;             // EMU_MAX_THREADS stacks, reserved once, pages on demand

static void __emu_syncthreads(int line) {
    if (!emu_current) longjmp(emu_abort, 1);
    emu_current->state = EMU_AT_BARRIER;
    emu_current->barrier_line = line;
    asm volatile("" ::: "memory");  // the compiler must re-read shared memory after the barrier
    swapcontext(&emu_current->context, &emu_scheduler);
    asm volatile("" ::: "memory");
}
#define __syncthreads() __emu_syncthreads(__LINE__)

static void emu_fiber_main() {
    emu_thread(emu_args);
    emu_current->state = EMU_DONE;   // returning resumes uc_link, the scheduler
}

static int emu_fail(char* err, size_t n, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, n, fmt, args);
    va_end(args);
    return 1;
}

// The order in which the block's threads run in one phase: 0..n-1, n-1..0, or a shuffle
// drawn from (seed, block, phase), so that the same launch always runs the same way.
static void emu_thread_order(int* order, int n, int mode, unsigned seed, unsigned block, int phase) {
    for (int i = 0; i < n; i++) order[i] = mode == EMU_REVERSE ? n - 1 - i : i;
    if (mode != EMU_SHUFFLE) return;
    uint64_t s = (uint64_t)seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)block << 20 ^ (uint64_t)phase;
    for (int i = n - 1; i > 0; i--) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;  // xorshift64
        int j = (int)(s % (uint64_t)(i + 1));
        int t = order[i]; order[i] = order[j]; order[j] = t;
    }
}

// Runs one block as fibers, phase after phase, until every thread has returned.
static int emu_run_block_fibers(int n, int mode, unsigned seed, unsigned block, char* err, size_t len) {
    static int order[EMU_MAX_THREADS];
    for (int t = 0; t < n; t++) {
        EmuFiber* f = &emu_fibers[t];
        f->index = {t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y)};
        f->state = EMU_RUNNING;
        getcontext(&f->context);
        // The stack grows down; the page below it is a guard (see emu_launch).
        f->context.uc_stack.ss_sp = emu_stacks + (size_t)t * EMU_STACK_BYTES + 4096;
        f->context.uc_stack.ss_size = EMU_STACK_BYTES - 4096;
        f->context.uc_link = &emu_scheduler;
        makecontext(&f->context, emu_fiber_main, 0);
    }
    for (int phase = 0;; phase++) {
        emu_thread_order(order, n, mode, seed, block, phase);
        for (int k = 0; k < n; k++) {
            emu_current = &emu_fibers[order[k]];
            threadIdx = emu_current->index;
            swapcontext(&emu_scheduler, &emu_current->context);
        }
        emu_current = 0;
        int done = 0;
        for (int t = 0; t < n; t++) done += emu_fibers[t].state == EMU_DONE;
        if (done == n) return 0;
        if (done > 0)
            return emu_fail(err, len, "in block %u, %u threads returned while %u others wait at "
                            "__syncthreads: every thread of a block must reach each barrier",
                            block, done, n - done);
        for (int t = 0; t < n; t++) {  // all wait at a barrier: the same one?
            if (emu_fibers[t].barrier_line != emu_fibers[0].barrier_line)
                return emu_fail(err, len, "threads of block %u stopped at different __syncthreads "
                                "(lines %d and %d): every thread must reach the same barrier",
                                block, emu_fibers[0].barrier_line, emu_fibers[t].barrier_line);
            emu_fibers[t].state = EMU_RUNNING;
        }
    }
}

static void emu_run_block_loop(void (*thread)(void**), void** args) {
    for (threadIdx.z = 0; threadIdx.z < blockDim.z; threadIdx.z++)
        for (threadIdx.y = 0; threadIdx.y < blockDim.y; threadIdx.y++)
            for (threadIdx.x = 0; threadIdx.x < blockDim.x; threadIdx.x++) thread(args);
}

// Runs the whole grid. Returns 0, or 1 with a message in err.
static int emu_launch(void (*thread)(void**), void** args, const unsigned* grid,
                      const unsigned* block, size_t shared_bytes, int uses_barrier, int mode,
                      unsigned seed, char* err, size_t len) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    int n = (int)(block[0] * block[1] * block[2]);
    if (uses_barrier && !emu_stacks) {
        emu_stacks = (char*)mmap(0, (size_t)EMU_MAX_THREADS * EMU_STACK_BYTES, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (emu_stacks == MAP_FAILED) {
            emu_stacks = 0;
            return emu_fail(err, len, "could not reserve memory for the fiber stacks");
        }
        for (int t = 0; t < EMU_MAX_THREADS; t++)  // a stack overflow faults instead of corrupting
            mprotect(emu_stacks + (size_t)t * EMU_STACK_BYTES, 4096, PROT_NONE);
    }
    emu_thread = thread;
    emu_args = args;
    emu_current = 0;
    if (setjmp(emu_abort))
        return emu_fail(err, len, "__syncthreads was reached in a kernel the emulator ran without "
                        "fibers: it found no __syncthreads in the kernel's source (one hidden in a "
                        "macro?); write __syncthreads() in the kernel or a __device__ function");
    unsigned linear = 0;
    for (blockIdx.z = 0; blockIdx.z < gridDim.z; blockIdx.z++)
        for (blockIdx.y = 0; blockIdx.y < gridDim.y; blockIdx.y++)
            for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++, linear++) {
                memset(emu_dynamic_shared, 0xFF, shared_bytes);  // NaN: unwritten shared memory shows
                if (!uses_barrier) emu_run_block_loop(thread, args);
                else if (emu_run_block_fibers(n, mode, seed, linear, err, len)) return 1;
            }
    return 0;
}
