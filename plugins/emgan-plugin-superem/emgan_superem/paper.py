"""The paper's constants, named once (no imports: the command line reads them for its defaults).

SuperEM cuts maps on 1 Å voxels into 25³ cubes (25 Å) at a stride of 4 voxels, for training, for
inference (the task's ``eval.window`` and ``eval.window_stride`` defaults) and for the per-cube
scores of its Figure 2a.
"""

PAPER_CUBE, PAPER_STRIDE, PAPER_VOXEL = 25, 4, 1.0
