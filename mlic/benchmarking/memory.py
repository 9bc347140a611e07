"""CPU memory of a PyTorch step: the peak of the bytes malloc hands out.

The process's resident set counts code pages and memory the allocator
keeps after a free; glibc's ``mallinfo2`` (in-use heap + mmapped chunks),
sampled after every PyTorch operator by a dispatch mode, measures what a
step really needs.

    in_use = malloc_in_use()
    before = in_use()
    with cpu_peak_tracker(in_use) as tracker:
        step()
    extra_bytes = tracker.peak - before
"""
import ctypes

from torch.utils._python_dispatch import TorchDispatchMode



def malloc_in_use():
    """Bytes glibc's malloc has handed out and not taken back."""

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t)
                    for name in ('arena', 'ordblks', 'smblks', 'hblks',
                                 'hblkhd', 'usmblks', 'fsmblks', 'uordblks',
                                 'fordblks', 'keepcost')]

    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = MallInfo2

    def in_use():
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    return in_use


def cpu_peak_tracker(in_use):

    class PeakTracker(TorchDispatchMode):
        """Samples malloc's in-use bytes after every operator."""

        def __init__(self):
            super().__init__()
            self.peak = in_use()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.peak = max(self.peak, in_use())
            return out

    return PeakTracker()
