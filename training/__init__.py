"""The command-line programs (`python -m training.train`, `.export`, `.compare`, `.push`, `.ensemble`)."""

import os


# PyTorch's CPU allocator asks the kernel for 2 MB pages for every buffer of 2 MB or more when this is 1 (Linux with
# transparent huge pages in "madvise" or "always" mode; elsewhere it changes nothing). A translation step allocates
# logits and their gradients of tens of MB; with 4 KB pages, faulting them in cost a quarter of the training
# process's CPU time (benchmarks/RESULTS.md, section 6). torch reads it once, so it is set before torch is imported;
# a value the user set wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
