"""Q-networks: an observation batch in, one value per action out, ``(N, *obs_shape) -> (N, A)``.

A flat observation gets an MLP; an image, ``(C, H, W)`` or ``(H, W)``, gets a convolutional
network: DeepMind's Nature DQN torso for images of 36 pixels and more, a small one otherwise.
With ``dueling`` the last layer splits into a state value V and action advantages A, combined
as ``Q = V + A - mean(A)`` (Wang et al., 2016), which learns V from every action's update.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepgrad import nn
from deepgrad.errors import shape_str
from deepgrad.tensor import Tensor

DEFAULT_MLP = (128, 128)  # hidden widths of the default network for vector observations
DEFAULT_CONV_HIDDEN = (512,)  # fully connected widths after the default convolutions
_NATURE_MIN_SIDE = 36  # the Nature torso's three convolutions need at least this many pixels


class DuelingHead(nn.Module):
    """``Q = V + A - mean(A)`` from features.   (N, in_features) -> (N, num_actions)."""

    def __init__(self, in_features: int, num_actions: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_features, 1)
        self.advantage = nn.Linear(in_features, num_actions)

    def forward(self, x: Tensor) -> Tensor:
        advantage = self.advantage(x)
        return self.value(x) + (advantage - advantage.mean(1, keepdim=True))


def _head(in_features: int, num_actions: int, dueling: bool) -> nn.Module:
    return DuelingHead(in_features, num_actions) if dueling else nn.Linear(in_features,
                                                                            num_actions)


def mlp_q_network(obs_size: int, num_actions: int, hidden: Sequence[int] = DEFAULT_MLP,
                  dueling: bool = False) -> nn.Sequential:
    """``Linear-ReLU`` layers of the ``hidden`` widths, then the Q head."""
    layers: list[nn.Module] = []
    width = obs_size
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(_head(width, num_actions, dueling))
    return nn.Sequential(*layers)


def conv_q_network(obs_shape: tuple[int, ...], num_actions: int, hidden: Sequence[int] = (512,),
                   dueling: bool = False) -> nn.Sequential:
    """Convolutions over a ``(C, H, W)`` image (stacked frames as channels), then ``hidden``
    fully connected layers and the Q head. Inputs are expected scaled to [0, 1]."""
    channels, height, width = obs_shape
    if min(height, width) >= _NATURE_MIN_SIDE:
        convs = [(32, 8, 4), (64, 4, 2), (64, 3, 1)]  # (out_channels, kernel, stride)
    else:
        convs = [(16, 3, 1), (32, 3, 1)]
    layers: list[nn.Module] = []
    for out_channels, kernel, stride in convs:
        layers += [nn.Conv2d(channels, out_channels, kernel, stride), nn.ReLU()]
        channels = out_channels
        height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    if min(height, width) < 1:
        raise ValueError(f"conv_q_network: images of shape {shape_str(obs_shape)} are too small "
                         f"for the convolutions; give at least 5x5 pixels")
    layers.append(nn.Flatten())
    features = channels * height * width
    for size in hidden:
        layers += [nn.Linear(features, size), nn.ReLU()]
        features = size
    layers.append(_head(features, num_actions, dueling))
    return nn.Sequential(*layers)


def build_q_network(obs_shape: tuple[int, ...], num_actions: int,
                    hidden: Sequence[int] | None = None, dueling: bool = False) -> nn.Sequential:
    """The default Q-network for observations of ``obs_shape``: an MLP for 1-D observations
    (``hidden`` defaults to ``DEFAULT_MLP``), a conv network for images ``(C, H, W)`` or
    ``(H, W)`` (``hidden`` defaults to ``DEFAULT_CONV_HIDDEN``)."""
    if len(obs_shape) == 1:
        return mlp_q_network(obs_shape[0], num_actions, DEFAULT_MLP if hidden is None else hidden,
                             dueling)
    if len(obs_shape) in (2, 3):
        image = obs_shape if len(obs_shape) == 3 else (1, *obs_shape)
        net = conv_q_network(image, num_actions,
                             DEFAULT_CONV_HIDDEN if hidden is None else hidden, dueling)
        if len(obs_shape) == 2:  # (N, H, W) -> (N, 1, H, W)
            net = nn.Sequential(nn.Unflatten(1, (1, obs_shape[0])), *net)
        return net
    raise ValueError(f"build_q_network: no default network for observations of shape "
                     f"{shape_str(obs_shape)}; expected (features,), (H, W) or (C, H, W); pass "
                     f"network= yourself")


__all__ = ["DEFAULT_CONV_HIDDEN", "DEFAULT_MLP", "DuelingHead", "build_q_network",
           "conv_q_network", "mlp_q_network"]
