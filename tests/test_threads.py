"""The library's BLAS thread default: one thread on small machines, the user's choice kept."""
import pytest

import minifaceattr as mfa
from minifaceattr import threads


@pytest.mark.parametrize("cores, wanted", [(1, 1), (2, 1), (4, 2), (16, 4), (None, 1)])
def test_default_num_threads(monkeypatch, cores, wanted):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
    assert threads.default_num_threads() == wanted


def test_an_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.apply_default() is None


def test_set_num_threads_round_trips():
    pytest.importorskip("threadpoolctl")
    before = mfa.get_num_threads()
    if before is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    try:
        mfa.set_num_threads(1)
        assert mfa.get_num_threads() == 1
    finally:
        mfa.set_num_threads(before)
    with pytest.raises(ValueError, match=">= 1"):
        mfa.set_num_threads(0)
