"""Motion files: BVH (read any, write SMPL-22), NPY (joints or features), MP4/GIF renders.

Import the submodules directly (``moscale_cli.io.bvh``, ``.npy``, ``.video``, ``.files``); this package
imports nothing heavy on its own.
"""
