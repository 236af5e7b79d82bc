"""Differentiable operators, with ``torch.nn.functional`` names where one exists.

One file per family; each Function holds its forward and backward, the NumPy path and (for
kernel-backed operators) the CUDA path side by side.
"""
from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import abs, add, div, exp, log, matmul, mul, neg, pow, sqrt, sub
from .linear import dropout, linear
from .reduction import max, mean, sum
from .shape import (broadcast_to, cast, concat, flatten, getitem, permute, reshape, squeeze,
                    stack, to_device, transpose, unsqueeze)
from .graph_attention import graph_attention
from .norm import batch_norm
from .loss import (binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss,
                   smooth_huber_loss, smooth_l1_loss)
from .conv import conv2d
from .pooling import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d

cat = concat  # PyTorch's name
