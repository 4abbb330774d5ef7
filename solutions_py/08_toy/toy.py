# %% [markdown]
# # Chapter 8 — A toy chapter: global average pooling
#
# *attention-course · chapter 8 · about 5 minutes*
#
# Every channel-attention module of this course starts by summarising each channel of a
# feature map $X \in \mathbb{R}^{C\times H\times W}$ by one number: its mean over all
# $H\times W$ positions,
#
# $$ z_c \;=\; \frac{1}{H\,W}\sum_{i=1}^{H}\sum_{j=1}^{W} x_c(i, j). \tag{1}$$
#
# **How this notebook is graded.** The exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. Its visible tests check a small case you can
# verify by hand; when you submit, the same cell also runs hidden tests, judged outside your
# notebook's kernel.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch

from attn_ref.grading import expect_close, expect_shape, grade

torch.manual_seed(0)


# %% [markdown]
# **Exercise 1 (2 points).** Implement eq. (1) for a batch: `global_avg_pool(x)` takes
# `(B, C, H, W)` and returns `(B, C)`.

# %% nbgrader={"grade": false, "grade_id": "gap", "locked": false, "schema_version": 3, "solution": true, "task": false}
def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Eq. (1): the mean of each channel over all H x W positions. (B, C, H, W) -> (B, C)."""
    ### BEGIN SOLUTION
    return x.mean(dim=(2, 3))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gap", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("toy.gap", global_avg_pool)
### END HIDDEN TESTS
# Visible test: a ramp whose channel means you can compute by hand.
x = torch.arange(16.0).reshape(1, 2, 2, 4)      # channel 0 holds 0..7, channel 1 holds 8..15
expect_shape(global_avg_pool(x), (1, 2), "global_avg_pool(x).shape",
             hint="average over H and W (dims 2 and 3) and drop them; keep B and C.")
expect_close(global_avg_pool(x), torch.tensor([[3.5, 11.5]]), "global_avg_pool of the ramp",
             hint="channel 0 holds 0, 1, ..., 7: their mean is 3.5, not their maximum (7) or sum (28).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("toy.ipynb")
