"""The Neural Turing Machine (Graves, Wayne and Danihelka, 2014, "Neural Turing Machines", arXiv:1410.5401).

A controller network reads an input vector and the previous read vectors at each step; read heads and write heads
(one of each by default) turn its state into addresses over the memory rows, by content and by location (section
3.3); each read head reads a weighted sum of rows (section 3.1), the write heads erase then add (section 3.2). The
output layer sees the controller state and the read vectors. Equation numbers below are the paper's.

Reading and writing are attention over the memory rows: content addressing is the softmax of scaled similarities
that `AttnSeq2SeqAttention` also computes, with cosine similarity as the score.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_ntm import LSTMBaselineConfig, NTMConfig


# The norms of the cosine similarity (equation 6) are read as at least this. Rows the write head has not touched keep
# the constant initial memory (norm ~5e-6), and the similarity's gradient with respect to a row grows as 1/norm: with
# a tiny floor, reading near such rows gave gradient spikes (norms of 10-80 against a typical 0.1) that undid a model
# that had learned the copy task. Written rows (norm ~1) and keys are far above it, so their similarity is exact.
COSINE_NORM_FLOOR = 1e-3
SHARPEN_EPSILON = 1e-8  # keeps w ** gamma (equation 9) finite and its gradient defined at w = 0


# ---------------------------------------------------------------------------------------------------------------
# Addressing (section 3.3)
# ---------------------------------------------------------------------------------------------------------------


def content_weights(memory: torch.Tensor, keys: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Equations (5) and (6): `softmax_i(beta * K(key, memory_i))` with cosine similarity K, for every head at once.

    `memory` `(batch, N, M)`, `keys` `(batch, heads, M)`, `strength` (beta >= 0) `(batch, heads, 1)` ->
    `(batch, heads, N)`. Norms below `COSINE_NORM_FLOOR` count as that floor (a near-empty row is dissimilar to every
    key, with a bounded gradient), as in `torch.nn.functional.cosine_similarity`.
    """
    row_norms = torch.linalg.vector_norm(memory, dim=-1).clamp_min(COSINE_NORM_FLOOR)  # batch x N
    key_norms = torch.linalg.vector_norm(keys, dim=-1, keepdim=True).clamp_min(COSINE_NORM_FLOOR)
    # one matrix product scores every head's key against every row (the heads share the memory they address)
    similarity = torch.bmm(keys / key_norms, memory.transpose(1, 2)) / row_norms[:, None, :]
    return torch.softmax(strength * similarity, dim=-1)


def interpolate(content: torch.Tensor, previous: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """Equation (7): `g * w_content + (1 - g) * w_previous`, with the gate g in [0, 1] (`(..., 1)`)."""
    return gate * content + (1 - gate) * previous


def circular_shift(weights: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Equation (8): the circular convolution `w~(i) = sum_j w(j) s(i - j)`, indices modulo N.

    `weights` `(..., N)`; `shift` `(..., 2R + 1)` holds the probabilities of moving by `-R .. +R` rows: a weighting
    at row j with all shift mass on `+1` moves to row j + 1.
    """
    shift_range = (shift.shape[-1] - 1) // 2
    moved = torch.stack([torch.roll(weights, offset, dims=-1) for offset in range(-shift_range, shift_range + 1)],
                        dim=-1)  # ... x N x (2R + 1)
    return (moved * shift[..., None, :]).sum(dim=-1)


def sharpen(weights: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Equation (9): `w(i)^gamma / sum_j w(j)^gamma`, with gamma >= 1 (`(..., 1)`), undoing the blur of the shift."""
    powered = (weights + SHARPEN_EPSILON) ** gamma
    return powered / powered.sum(dim=-1, keepdim=True)


def read_memory(memory: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Equation (2): each head's read vector `r = sum_i w(i) M(i)`: `weights` `(batch, heads, N)` ->
    `(batch, heads, M)`."""
    return torch.bmm(weights, memory)


def write_memory(memory: torch.Tensor, weights: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Equations (3) and (4): erase `M~(i) = M(i) * prod_h (1 - w_h(i) e_h)`, then add `M(i) = M~(i) + sum_h w_h(i)
    a_h` (section 3.2: with several write heads the erasures multiply, in any order, and the adds sum).

    `weights` `(batch, heads, N)`; `erase` in [0, 1] and `add` `(batch, heads, M)`; returns the new memory (the old
    one is left unchanged).
    """
    kept = torch.prod(1 - weights[..., None] * erase[:, :, None, :], dim=1)  # batch x N x M
    return memory * kept + torch.bmm(weights.transpose(1, 2), add)


def address(memory: torch.Tensor, addressing: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Equations (5)-(9) for every head at once: `addressing` `(batch, heads, M + 2R + 4)` holds each head's raw key,
    strength, gate, shift and sharpening outputs (`NTMHead.addressing_sizes`), `previous` `(batch, heads, N)` its last
    weighting; returns the new weightings `(batch, heads, N)`.

    The heads run together because a CPU step is bound by the number of tensor operations, not their size: with one
    batched pass per step instead of one per head, a training step takes 0.51-0.75 of the time on a CPU core
    (benchmarks/RESULTS.md, section 15).
    """
    memory_width = memory.shape[-1]
    key, strength, gate, shift, gamma = torch.split(
        addressing, [memory_width, 1, 1, addressing.shape[-1] - memory_width - 3, 1], dim=-1)
    weights = content_weights(memory, torch.tanh(key), F.softplus(strength))
    weights = interpolate(weights, previous, torch.sigmoid(gate))
    weights = circular_shift(weights, torch.softmax(shift, dim=-1))
    return sharpen(weights, 1 + F.softplus(gamma))


class NTMHead(nn.Module):
    """The parameters of the heads of one kind (read or write): a layer that turns the controller state into each
    head's addressing outputs (key k, strength beta, gate g, shift s, sharpening gamma; a write head also erase e and
    add a), head after head. `address` runs equations (5)-(9) on them."""

    def __init__(self, config: NTMConfig, writes: bool):
        super().__init__()
        self.writes = writes
        self.count = config.write_heads if writes else config.read_heads
        # key, strength, gate, shift weights (2R + 1), gamma; erase and add for a write head
        self.addressing_sizes = [config.memory_width, 1, 1, 2 * config.shift_range + 1, 1]
        self.sizes = self.addressing_sizes + ([config.memory_width, config.memory_width] if writes else [])
        self.parameters_layer = nn.Linear(config.controller_size, self.count * sum(self.sizes))

    @property
    def gate_units(self) -> list[int]:
        """The outputs of `parameters_layer` that become the heads' interpolation gates g (each after its head's key
        and strength)."""
        return [head * sum(self.sizes) + self.sizes[0] + self.sizes[1] for head in range(self.count)]

    def head_parameters(self, state: torch.Tensor) -> torch.Tensor:
        """`(batch, heads, outputs per head)`: each head's outputs for the controller state `(batch, size)`."""
        return self.parameters_layer(state).view(len(state), self.count, sum(self.sizes))


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class NTMOutput(ModelOutput):
    """
    Args:
        loss: per-bit binary cross-entropy over the scored steps (when `labels` are given).
        logits: `(batch, steps, output_size)`, one logit per output bit.
        read_weights, write_weights: `(batch, steps, heads, N)`, each head's weighting at each step (with
            `output_memory_access=True`).
        memory: `(batch, N, M)`, the memory after the last step (with `output_memory_access=True`).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    read_weights: torch.FloatTensor | None = None
    write_weights: torch.FloatTensor | None = None
    memory: torch.FloatTensor | None = None


class BitSequencePreTrainedModel(PreTrainedModel):
    """What the NTM and its LSTM baseline share as transformers models: bit-vector `inputs` in, a loss Trainer uses
    as it is."""

    main_input_name = "inputs"
    supports_gradient_checkpointing = False
    accepts_loss_kwargs = False  # the loss is a mean over scored bits; Trainer scales it for gradient accumulation

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        # No layer of these models has a Hub kernel; transformers 5.25 turns kernels on by default and then requires
        # the `kernels` package, so a load would fail where it is not installed.
        kwargs.setdefault("use_kernels", False)
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        # safetensors places each tensor at an arbitrary 8-byte offset of the file and transformers keeps the weights
        # there. MKL's GEMM kernels below AVX2 (which it may pick on non-Intel CPUs) sum in an order set by 64-byte
        # alignment, so such weights give outputs a few ULPs from the saved model's. Fresh copies are 64-byte aligned.
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.device.type != "meta":
                    parameter.data = parameter.data.clone()
        return loaded


class NTMPreTrainedModel(BitSequencePreTrainedModel):
    config_class = NTMConfig
    base_model_prefix = "ntm"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, NTMModel):
            nn.init.normal_(module.initial_read, std=0.01)
            if module.initial_memory is not None:
                nn.init.normal_(module.initial_memory, std=0.01)
            # Set here, not on each head: transformers skips custom modules that hold no parameters of their own.
            if self.config.initial_gate_bias is not None:
                for heads in (module.read_head, module.write_head):
                    heads.parameters_layer.bias.data[heads.gate_units] = self.config.initial_gate_bias


class NTMModel(NTMPreTrainedModel):
    """The NTM with its output layer: inputs `(batch, steps, input_size)` in, one logit per output bit and step out.

    Each sequence starts from the same memory (constant, or learned with `memory_init="learned"`), a learned read
    vector per read head, and every head on the first row.
    """

    def __init__(self, config: NTMConfig):
        super().__init__(config)
        reads_width = config.read_heads * config.memory_width  # the read vectors side by side
        controller_input = config.input_size + reads_width
        if config.controller == "lstm":
            self.controller = nn.LSTMCell(controller_input, config.controller_size)
        else:
            self.controller = nn.Sequential(nn.Linear(controller_input, config.controller_size), nn.ReLU())
        self.read_head = NTMHead(config, writes=False)
        self.write_head = NTMHead(config, writes=True)
        self.output_layer = nn.Linear(config.controller_size + reads_width, config.output_size)
        self.initial_read = nn.Parameter(torch.zeros(reads_width))
        if config.memory_init == "learned":
            self.initial_memory = nn.Parameter(torch.zeros(config.memory_rows, config.memory_width))
        else:
            self.initial_memory = None
        self.compiled_memory_step = None  # set by compile_memory_step
        self.post_init()

    def initial_state(self, batch_size: int, device, dtype):
        config = self.config
        if self.initial_memory is not None:
            memory = self.initial_memory.to(dtype)[None].expand(batch_size, -1, -1)
        else:
            memory = torch.full((batch_size, config.memory_rows, config.memory_width), config.memory_init_value,
                                device=device, dtype=dtype)
        first_row = torch.zeros(batch_size, config.read_heads + config.write_heads, config.memory_rows, device=device,
                                dtype=dtype)
        first_row[:, :, 0] = 1.0
        controller = None
        if config.controller == "lstm":
            zeros = torch.zeros(batch_size, config.controller_size, device=device, dtype=dtype)
            controller = (zeros, zeros)
        read = self.initial_read.to(dtype)[None].expand(batch_size, -1)
        # the heads' weightings, read heads first
        return memory, read, first_row, controller

    def memory_step(self, step_inputs: torch.Tensor, read: torch.Tensor, weights: torch.Tensor, memory: torch.Tensor,
                    controller: tuple[torch.Tensor, torch.Tensor] | None):
        """One time step: the controller reads the input and the last read vectors, every head addresses the memory as
        it stands, the read heads read, then the write heads erase and add.

        Args:
            step_inputs: `(batch, input_size)`, this step's input vectors.
            read: `(batch, read_heads * M)`, the last read vectors side by side.
            weights: `(batch, read_heads + write_heads, N)`, every head's last weighting, read heads first.
            memory: `(batch, N, M)`.
            controller: the LSTM controller's `(h, c)`, or None for the feedforward controller.

        Returns `(logits, read, weights, memory, controller)`: this step's output logits `(batch, output_size)` and
        the new state, laid out as it came in (`initial_state` gives the state before the first step).
        """
        config = self.config
        controller_input = torch.cat([step_inputs, read], dim=-1)
        if config.controller == "lstm":
            controller = self.controller(controller_input, controller)
            state = controller[0]
        else:
            state = self.controller(controller_input)
        # Every head addresses the memory as it stands; the reads come first and the writes after them (the new read
        # vectors reach this step's output).
        addressing_size = sum(self.read_head.addressing_sizes)
        write_parameters = self.write_head.head_parameters(state)
        addressing = torch.cat([self.read_head.head_parameters(state), write_parameters[..., :addressing_size]], dim=1)
        weights = address(memory, addressing, weights)
        read = read_memory(memory, weights[:, : config.read_heads]).flatten(1)
        erase, add = torch.split(write_parameters[..., addressing_size:], config.memory_width, dim=-1)
        memory = write_memory(memory, weights[:, config.read_heads :], torch.sigmoid(erase), torch.tanh(add))
        return self.output_layer(torch.cat([state, read], dim=-1)), read, weights, memory, controller

    def compile_memory_step(self, **compile_options) -> None:
        """Run `memory_step` through `torch.compile` from now on (`compile_options` go to it; the weights and what
        the model computes stay the same, up to float rounding).

        A forward pass is a Python loop of `memory_step` calls of a few dozen small tensor operations each, so on a
        CPU its time goes to running operations one by one; compiled, each step's operations are fused into a few
        kernels, and a training step takes 0.34-0.56 of the time (benchmarks/RESULTS.md, section 15). The step is
        compiled rather than the whole forward because the loop's length varies with the sequence: compiling the
        forward would unroll it into a graph per length. The first call compiles (tens of seconds).
        """
        # the function, not the bound method, so that a deep copy of the model runs its own weights through it
        self.compiled_memory_step = torch.compile(type(self).memory_step, **compile_options)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None, output_memory_access: bool = False,
                return_dict: bool | None = None, **kwargs) -> NTMOutput | tuple:
        """
        Args:
            inputs: `(batch, steps, input_size)` float vectors.
            labels: `(batch, steps, output_size)` target bits (0 or 1) for the loss; -100 at the steps that are not
                scored (the input phase and padding), as the collator of the copy task lays them out.
            output_memory_access: also return every head's weighting at every step and the final memory.
        """
        check_bit_sequences(self, inputs, labels)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        batch_size, steps, _ = inputs.shape
        memory, read, weights, controller = self.initial_state(batch_size, inputs.device, inputs.dtype)
        step_function = self.compiled_memory_step or type(self).memory_step
        logits, weights_seen = [], []
        for step in range(steps):
            step_logits, read, weights, memory, controller = step_function(self, inputs[:, step], read, weights,
                                                                           memory, controller)
            logits.append(step_logits)
            if output_memory_access:
                weights_seen.append(weights)
        logits = torch.stack(logits, dim=1)
        read_heads = self.config.read_heads
        access = (None, None, None)
        if output_memory_access:
            weights_seen = torch.stack(weights_seen, dim=1)
            access = (weights_seen[:, :, :read_heads], weights_seen[:, :, read_heads:], memory)
        output = NTMOutput(loss=bit_loss(logits, labels), logits=logits, read_weights=access[0],
                           write_weights=access[1], memory=access[2])
        return output if return_dict else output.to_tuple()


# ---------------------------------------------------------------------------------------------------------------
# The LSTM baseline (section 4: the paper compares the NTM with LSTM networks on every task)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class LSTMBaselineOutput(ModelOutput):
    """
    Args:
        loss: per-bit binary cross-entropy over the scored steps (when `labels` are given).
        logits: `(batch, steps, output_size)`, one logit per output bit.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class LSTMBaselinePreTrainedModel(BitSequencePreTrainedModel):
    config_class = LSTMBaselineConfig
    base_model_prefix = "lstm_baseline"


class LSTMBaselineModel(LSTMBaselinePreTrainedModel):
    """A stacked LSTM with a sigmoid output per bit: the same inputs, labels and loss as `NTMModel`, without the
    memory. Its state is all it can remember, so copying a sequence means holding all of it in `hidden_size` units."""

    def __init__(self, config: LSTMBaselineConfig):
        super().__init__(config)
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, num_layers=config.num_layers, batch_first=True)
        self.output_layer = nn.Linear(config.hidden_size, config.output_size)
        self.post_init()

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None,
                **kwargs) -> LSTMBaselineOutput | tuple:
        """`inputs` `(batch, steps, input_size)`; `labels` as for `NTMModel.forward` (-100 at unscored steps)."""
        check_bit_sequences(self, inputs, labels)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        logits = self.output_layer(self.lstm(inputs)[0])
        output = LSTMBaselineOutput(loss=bit_loss(logits, labels), logits=logits)
        return output if return_dict else output.to_tuple()


# ---------------------------------------------------------------------------------------------------------------
# Shared by both models: input checks, loss and metric
# ---------------------------------------------------------------------------------------------------------------

UNSCORED = -100  # a label value that is not scored, as in transformers' token models


def check_bit_sequences(model, inputs: torch.Tensor, labels: torch.Tensor | None) -> None:
    """Shapes, dtypes and values a model of bit sequences can read: NaN in, NaN loss out, with no word of why."""
    config, dtype = model.config, model.dtype
    if not isinstance(inputs, torch.Tensor) or inputs.dtype != dtype:
        raise TypeError(f"inputs must be a {dtype} tensor, as the model's weights are; got "
                        f"{getattr(inputs, 'dtype', type(inputs).__name__)} (convert with inputs.to({dtype})).")
    if inputs.dim() != 3 or inputs.shape[-1] != config.input_size or 0 in inputs.shape[:2]:
        raise ValueError(f"inputs must have shape (batch, steps, input_size={config.input_size}) with at least one "
                         f"step, got {tuple(inputs.shape)}.")
    if not torch.isfinite(inputs).all():
        raise ValueError("inputs hold NaN or infinite values; give finite vectors (bits are 0 or 1).")
    if labels is None:
        return
    if labels.shape != (*inputs.shape[:2], config.output_size):
        raise ValueError(f"labels must have shape {(*inputs.shape[:2], config.output_size)}, got "
                         f"{tuple(labels.shape)}.")
    if not ((labels == 0) | (labels == 1) | (labels == UNSCORED)).all():
        raise ValueError(f"labels must be 0 or 1 (or {UNSCORED} at unscored steps); they hold other values "
                         "(NaN, fractions, ...).")


def bit_loss(logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Per-bit binary cross-entropy, averaged over the scored bits (labels other than -100); None without labels."""
    if labels is None:
        return None
    scored = labels != UNSCORED
    targets = torch.where(scored, labels, 0).to(logits.dtype)
    per_bit = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (per_bit * scored).sum() / scored.sum().clamp(min=1)


def bit_errors_per_sequence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The copy task's metric: wrong output bits (logit > 0 read as 1) at the scored steps (labels other than -100),
    per sequence `(batch,)`."""
    scored = labels != UNSCORED
    wrong = ((logits > 0).to(labels.dtype) != labels) & scored
    return wrong.flatten(1).sum(dim=-1).float()


__all__ = ["LSTMBaselineModel", "LSTMBaselineOutput", "LSTMBaselinePreTrainedModel", "NTMModel", "NTMOutput",
           "NTMPreTrainedModel", "UNSCORED", "bit_errors_per_sequence", "bit_loss", "circular_shift",
           "content_weights", "interpolate", "read_memory", "sharpen", "write_memory"]
