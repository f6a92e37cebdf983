"""Run a causal EnCodec encoder or decoder over long audio in windows, with the output of one pass.

Memory then grows with the window, not with the audio. Giving each window some left
context would not be enough: EnCodec's SEANet encoder and decoder both hold an LSTM,
whose output depends on everything before it. So each layer carries what the next
window needs, as a streaming model does: a causal convolution its last input samples
(or, on the first window, the reflection it pads with), a transposed convolution the
tail of its output that overlaps the next window, the LSTM its hidden and cell state.

Windows must be whole frames at every layer (a multiple of the hop in samples, any
number of frames in latents), so the only end padding is the one the last window adds,
which is the one a single pass adds.
"""

from __future__ import annotations

from typing import Any

import torch
from encodec.modules.conv import SConv1d, SConvTranspose1d, get_extra_padding_for_conv1d, pad1d
from encodec.modules.lstm import SLSTM
from encodec.modules.seanet import SEANetDecoder, SEANetEncoder, SEANetResnetBlock
from torch import Tensor, nn

#: Layers that act on each time step alone, so need nothing from the previous window.
_POINTWISE = (nn.ELU, nn.Identity)


class CausalStream:
    """Feed a causal ``SEANetEncoder`` or ``SEANetDecoder`` consecutive windows of one
    batch; ``last=True`` on the final one."""

    def __init__(self, module: SEANetEncoder | SEANetDecoder) -> None:
        self.layers = module.model
        self._state: dict[nn.Module, Any] = {}

    def __call__(self, x: Tensor, last: bool) -> Tensor:
        return self._run(self.layers, x, last)

    def _run(self, module: nn.Module, x: Tensor, last: bool) -> Tensor:
        if isinstance(module, nn.Sequential):
            for layer in module:
                x = self._run(layer, x, last)
            return x
        if isinstance(module, SEANetResnetBlock):
            return self._run(module.shortcut, x, last) + self._run(module.block, x, last)
        if isinstance(module, SConv1d):
            return self._conv(module, x, last)
        if isinstance(module, SConvTranspose1d):
            return self._transposed(module, x, last)
        if isinstance(module, SLSTM):
            return self._lstm(module, x)
        if isinstance(module, _POINTWISE):
            return module(x)
        raise TypeError(f"cannot run {type(module).__name__} window by window")

    def _conv(self, module: SConv1d, x: Tensor, last: bool) -> Tensor:
        if not module.causal:
            raise TypeError("only causal convolutions can run window by window")
        conv = module.conv.conv
        kernel, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        padding = (kernel - 1) * dilation - (stride - 1)
        # The same end padding a single pass computes: it depends on the length modulo the stride.
        extra = get_extra_padding_for_conv1d(x, kernel, stride, padding)
        past = self._state.get(module)
        x = pad1d(x, (padding, 0), module.pad_mode) if past is None else torch.cat([past, x], dim=-1)
        self._state[module] = x[..., x.shape[-1] - padding :]
        if extra:
            if not last:
                raise ValueError("a window that is not the last must be a whole number of frames")
            x = pad1d(x, (0, extra), module.pad_mode)
        return module.conv(x)

    def _transposed(self, module: SConvTranspose1d, x: Tensor, last: bool) -> Tensor:
        convtr = module.convtr
        if not module.causal or module.trim_right_ratio != 1.0 or not isinstance(convtr.norm, nn.Identity):
            raise TypeError("only causal transposed convolutions trimmed on the right can run by windows")
        overlap = convtr.convtr.kernel_size[0] - convtr.convtr.stride[0]
        y = module.convtr(x)
        tail = self._state.get(module)
        if tail is not None:
            # The previous window's tail already holds the bias once.
            y[..., :overlap] += tail - _bias(convtr.convtr, y)
        # A single pass trims these last samples, so the final window drops them too.
        self._state[module] = y[..., y.shape[-1] - overlap :]
        return y[..., : y.shape[-1] - overlap]

    def _lstm(self, module: SLSTM, x: Tensor) -> Tensor:
        steps = x.permute(2, 0, 1)
        y, self._state[module] = module.lstm(steps, self._state.get(module))
        if module.skip:
            y = y + steps
        return y.permute(1, 2, 0)


def _bias(conv: nn.ConvTranspose1d, like: Tensor) -> Tensor | float:
    return 0.0 if conv.bias is None else conv.bias.view(1, -1, 1).to(like.dtype)
