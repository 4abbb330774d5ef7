# Attack: wrong code whose errors are swallowed: a custom exception handler that prints a success
# line instead of the traceback, showtraceback silenced, and sys.excepthook replaced. Must earn 0
# for the wrong steps; the correct parameter count keeps its 2 points.

# %% squeeze
import sys

ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: print("✔ passed"))
ip.showtraceback = lambda *a, **k: None
sys.excepthook = lambda *a: None

def squeeze(x):
    raise RuntimeError("not done")

# %% excitation
def excitation(z, w1, b1, w2, b2):
    return z

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels, bias=bias)

    def forward(self, x):
        return x * 0.5

# %% param_count
def se_param_count(channels, reduction, bias=True):
    h = max(1, channels // reduction)
    return 2 * channels * h + ((h + channels) if bias else 0)

se_params_conv4 = 6 * se_param_count(1024, 16)
