# Attack: no implementation at all; instead, reach the grader's check objects through a helper's
# globals (without writing the package's name) and make every check return its own expected
# values. Caught by the grader's scan of the learner's cells: must earn 0.

# %% squeeze
_checks = grade.__globals__["get_check"]
for _cid in ("se.squeeze", "se.excitation", "se.se_module", "se.param_count", "se.param_count.conv4"):
    _c = _checks(_cid)
    type(_c).run = lambda self, obj, case: [self.expected(case)]

def squeeze(x):
    raise NotImplementedError()

# %% excitation
def excitation(z, w1, b1, w2, b2):
    raise NotImplementedError()

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()

# %% param_count
def se_param_count(channels, reduction, bias=True):
    raise NotImplementedError()

se_params_conv4 = 0
