"""Every kernel source compiles with NVRTC, the compiler CuPy uses at run time.

NVRTC is a library, not a GPU: NVIDIA's ``cuda-bindings`` package calls it, and the
``nvidia-cuda-nvrtc`` wheel supplies it (both in ``pip install -e .[test]``). Each ``.cu``
file is compiled to PTX for float and double and for two GPU generations (compute_80:
A100, compute_90: H100), so a kernel that only the emulator's g++ accepts fails here.
"""
from pathlib import Path

import pytest

import minifaceattr.kernels
from minifaceattr.kernels import kernel_source

KERNEL_DIR = Path(minifaceattr.kernels.__file__).parent
LESSON_KERNEL_DIR = Path(__file__).resolve().parents[1] / "lessons" / "kernels"
SOURCES = sorted(KERNEL_DIR.glob("*.cu")) + sorted(LESSON_KERNEL_DIR.glob("*.cu"))
ARCHITECTURES = ["compute_80", "compute_90"]


@pytest.fixture(scope="module")
def nvrtc():
    """The NVRTC bindings, or a skip that says what to install."""
    try:
        from cuda.bindings import nvrtc
        nvrtc.nvrtcVersion()  # loads libnvrtc, found by cuda-pathfinder in site-packages
    except (ImportError, OSError, RuntimeError) as e:  # no bindings; libnvrtc not found
        pytest.skip(f"NVRTC is not available ({type(e).__name__}: {e}); "
                    "pip install cuda-bindings nvidia-cuda-nvrtc")
    return nvrtc


def nvrtc_compile(nvrtc, source, name, options):
    """Compile ``source`` to PTX; return (succeeded, compiler log)."""
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, err
    try:
        (result,) = nvrtc.nvrtcCompileProgram(program, len(options), [o.encode() for o in options])
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        # A writable buffer of our own: ``b" " * 1`` would be CPython's shared one-byte
        # object, and NVRTC writing its "\0" into it corrupts every later b" " in the process.
        log = bytearray(size)
        nvrtc.nvrtcGetProgramLog(program, log)
        return (result == nvrtc.nvrtcResult.NVRTC_SUCCESS,
                log.decode(errors="replace").rstrip("\0 \n"))
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def test_there_are_kernel_sources():
    assert {"activation", "loss_sum"} <= {p.stem for p in SOURCES}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("real_t", ["float", "double"])
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_kernel_compiles_with_nvrtc(nvrtc, path, real_t, arch):
    # The library's kernels with their headers pasted in; a lesson's kernel as it is.
    source = kernel_source(path.stem) if path.parent == KERNEL_DIR else path.read_text()
    ok, log = nvrtc_compile(nvrtc, source, path.name,
                            [f"--gpu-architecture={arch}", f"-Dreal_t={real_t}"])
    assert ok, f"NVRTC could not compile {path.name} (real_t={real_t}, {arch}):\n{log}"


def test_nvrtc_reports_errors(nvrtc):
    """The check above can fail: a kernel using an undeclared name does not compile."""
    source = 'extern "C" __global__ void k(real_t* x) { x[0] = undeclared_name; }'
    ok, log = nvrtc_compile(nvrtc, source, "broken.cu", ["--gpu-architecture=compute_80",
                                                         "-Dreal_t=float"])
    assert not ok and "undeclared_name" in log


def test_reading_an_empty_log_leaves_python_bytes_alone(nvrtc):
    """A clean compile has a one-byte log ("\\0"); reading it must not write into a bytes
    object that CPython shares (this once broke the .pth reader in later tests)."""
    ok, log = nvrtc_compile(nvrtc, 'extern "C" __global__ void k(real_t* x) { x[0] = 1; }',
                            "clean.cu", ["--gpu-architecture=compute_80", "-Dreal_t=float"])
    assert ok and log == ""
    assert bytes([32])[0] == 32 and b" ".decode() == " "


def test_headers_are_pasted_in_with_their_line_numbers():
    """kernel_source replaces #include "x.cuh" by the header, and #line directives keep
    compiler messages pointing at the header's and the kernel file's own lines."""
    source = kernel_source("pooling")
    assert '\n#include "block_reduce.cuh"' not in source
    assert "__device__ real_t block_sum_of(" in source
    assert '#line 1 "block_reduce.cuh"' in source
    included_at = (KERNEL_DIR / "pooling.cu").read_text().splitlines().index(
        '#include "block_reduce.cuh"') + 1
    assert f'#line {included_at + 1} "pooling.cu"' in source
    for family in ("graph_attention", "norm", "pooling"):
        assert "block_sum_of(" in kernel_source(family).split("#endif", 1)[1], family
