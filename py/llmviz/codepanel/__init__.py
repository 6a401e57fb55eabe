"""The code panel: nanoGPT's and our port's lines for each step (code_refs), located and highlighted (annotate), nanoGPT's source (nanogpt_source)."""
