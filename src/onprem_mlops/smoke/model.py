"""Small PyTorch models built only from stock ``torch.nn`` layers.

Training works on standardised inputs. For logging, :func:`export` folds the standardisation
into the first linear layer (and an optional output scale into the last one), so the logged
model takes raw features, needs none of this package's code to load, and can be served as is.
"""

from __future__ import annotations

import copy
from typing import Any

from onprem_mlops.smoke.deps import require


def build_mlp(n_inputs: int, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1) -> Any:
    """Multi-layer perceptron with one output (a logit or a standardised value)."""
    nn = require("torch.nn")
    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def export(
    model: Any,
    mean: Any,
    std: Any,
    *,
    sigmoid: bool = False,
    out_mean: float = 0.0,
    out_std: float = 1.0,
) -> Any:
    """A CPU, eval-mode copy of ``model`` that takes raw features.

    ``mean``/``std`` are the input standardisation used in training; ``out_mean``/``out_std``
    undo a standardised target; ``sigmoid`` turns logits into probabilities.
    """
    torch = require("torch")
    exported = copy.deepcopy(model).cpu().float().eval()
    linears = [m for m in exported if isinstance(m, torch.nn.Linear)]
    first, last = linears[0], linears[-1]
    with torch.no_grad():
        scale = 1.0 / torch.as_tensor(std, dtype=torch.float32)
        shift = torch.as_tensor(mean, dtype=torch.float32) * scale
        # W (x - m) / s + b  ==  (W / s) x + (b - W (m / s))
        first.bias.sub_(first.weight @ shift)
        first.weight.mul_(scale)
        last.weight.mul_(out_std)
        last.bias.mul_(out_std).add_(out_mean)
    layers = [m for m in exported if not isinstance(m, torch.nn.Dropout)]
    if sigmoid:
        layers.append(torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers).eval()
