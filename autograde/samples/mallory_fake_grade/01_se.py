# Attack: nothing is implemented (zeros everywhere); the hidden-test entry point and the visible
# helpers are replaced by functions that print a success message, and a post-run hook prints more.
# It must earn what an untouched release earns: 0.

# %% squeeze
def grade(*args, **kwargs):
    print("✔ all hidden cases match the reference.")

def expect_close(*args, **kwargs):
    print("ok")

expect_shape = expect_equal = expect_close
get_ipython().events.register("post_run_cell", lambda result: print("✔ all tests passed"))

def squeeze(x):
    return torch.zeros(x.shape[:2])

# %% excitation
def excitation(z, w1, b1, w2, b2):
    return torch.zeros_like(z)

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()

    def forward(self, x):
        return x

# %% param_count
def se_param_count(channels, reduction, bias=True):
    return 0

se_params_conv4 = 0
