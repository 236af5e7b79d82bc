from setuptools import find_packages, setup

# NVRTC's Python bindings and library have wheels for these platforms only (none for macOS);
# elsewhere the NVRTC compile tests skip with a reason.
CUDA_WHEELS = ('(sys_platform == "linux" and platform_machine in "x86_64 aarch64") or '
               '(sys_platform == "win32" and platform_machine == "AMD64")')

setup(
    name="minifaceattr",
    version="0.1.0",
    description="A from-scratch deep-learning library in NumPy and CuPy for teaching, "
                "reproducing MGG-Net and HMTNet",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minifaceattr", "minifaceattr.*"]),
    package_data={"minifaceattr": ["kernels/*.cu", "kernels/*.h", "data/*.json"]},
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "pillow>=9", "matplotlib>=3.6", "tqdm>=4.60",
                      "threadpoolctl>=3"],
    extras_require={
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=14"],
        "lfwa": ["h5py>=3"],
        "test": ["pytest>=7", "h5py>=3", f"cuda-bindings>=13.0,<14; {CUDA_WHEELS}",
                 f"nvidia-cuda-nvrtc>=13.0,<14; {CUDA_WHEELS}"],
        # The linter and type checker CI runs (settings in pyproject.toml), pinned so that a
        # new release cannot fail a clean tree.
        "lint": ["ruff==0.17.6", "mypy==2.4.1"],
    },
)
