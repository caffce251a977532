"""Sampling: what runs the model. The next-scale sampler (``sampler``: CFG schedule, top-k/top-p/min-p,
in-scale refinement, KV cache), its options (``config.SamplingConfig``), edit masks (``masks``), timeline
infilling on the locked-token edit mode (``infill``), the fast path (``fast``) and the next-token baseline's
sampler (``next_token``). Never imports ``pipeline``."""
