"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run as fast on one thread, and far faster when other work shares the CPU.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A data cache folder for the training runs of one module, which share its preparation."""
    return tmp_path_factory.mktemp("cache")
