# A correct learner who writes the pooling differently from the instructor: a sum over the
# flattened positions divided by their number.

# %% gap
def global_avg_pool(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).sum(-1) / (h * w)
