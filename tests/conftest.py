"""Shared test set-up."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: the tests use tiny tensors, and on a shared 2-core machine a second
    thread only adds waiting at every parallel region (a gradcheck went from 0.5 s to 5 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
