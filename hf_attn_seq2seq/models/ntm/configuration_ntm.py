"""Configurations of the Neural Turing Machine and of its LSTM baseline."""

import transformers
from packaging.version import Version


# The oldest transformers this code runs on (pyproject.toml's floor). Checked before importing names that older
# releases lack, so that a process with transformers 4.x gets this message rather than an ImportError from inside.
TRANSFORMERS_FLOOR = "5.5.0"
if Version(transformers.__version__) < Version(TRANSFORMERS_FLOOR):
    raise ImportError(
        f"This model's code needs transformers>={TRANSFORMERS_FLOOR}, and this process has transformers "
        f"{transformers.__version__}. Upgrade it: pip install --upgrade 'transformers>={TRANSFORMERS_FLOOR}'"
    )

from transformers import PreTrainedConfig  # noqa: E402 (after the version check)


CONTROLLERS = ("lstm", "feedforward")
MEMORY_INITS = ("constant", "learned")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _finite_number(name: str, value, what: str = "a finite number") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e3:
        raise ValueError(f"{name} must be {what}, got {value!r}.")


class _CheckedConfig(PreTrainedConfig):
    """Validates its options when made, and refuses to load a folder of another model type (transformers would only
    warn, and build a model from defaults)."""

    def __post_init__(self, **kwargs):
        self.validate_options()
        super().__post_init__(**kwargs)

    @classmethod
    def get_config_dict(cls, *args, **kwargs):
        config_dict, kwargs = super().get_config_dict(*args, **kwargs)
        model_type = config_dict.get("model_type")
        if model_type is not None and model_type != cls.model_type:
            raise ValueError(f"The config is for model type {model_type!r}, not {cls.model_type!r}: this folder holds "
                             "another model. Load it with its own class (AutoConfig picks it).")
        return config_dict, kwargs

    def validate_options(self) -> None:
        raise NotImplementedError


class NTMConfig(_CheckedConfig):
    r"""
    Configuration of a Neural Turing Machine (Graves, Wayne and Danihelka, 2014): a controller network that reads
    from and writes to an external memory of `memory_rows` x `memory_width` numbers through read heads and write
    heads, each addressing the memory by content and by location.

    Args:
        input_size (`int`): width of each input vector (the copy task: 8 bits and a delimiter channel, 9).
        output_size (`int`): width of each output vector; every output unit is one bit (a sigmoid).
        controller (`str`): `"lstm"` (a one-layer LSTM) or `"feedforward"` (one ReLU layer), reading the input and
            the previous read vector.
        controller_size (`int`): width of the controller's state.
        memory_rows (`int`): N, the number of memory locations.
        memory_width (`int`): M, the width of each location.
        read_heads (`int`): read heads; their read vectors reach the controller and the output side by side.
        write_heads (`int`): write heads; at each step their erasures multiply and their adds sum (section 3.2).
            The paper's priority sort uses 8 of each; its other tasks 1.
        shift_range (`int`): the location shifts a head can take per step run from `-shift_range` to
            `+shift_range` (the paper's copy experiments: 1).
        memory_init (`str`): `"constant"` starts every sequence from memory filled with `memory_init_value`, which
            makes training reliable (Collier and Beel, 2018); `"learned"` starts from a trained memory.
        memory_init_value (`float`): the constant memory value.
        initial_gate_bias (`float`, *optional*): the bias each head's interpolation gate g (equation 7) starts
            from. g near 0 keeps the head's previous weighting (addressing by location), near 1 takes the content
            weighting; a bias of -3 starts g at 0.05. `None` leaves the bias to the layer's random initialisation.
    """

    model_type = "ntm"

    input_size: int = 9
    output_size: int = 8
    controller: str = "lstm"
    controller_size: int = 100
    memory_rows: int = 128
    memory_width: int = 20
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    memory_init: str = "constant"
    memory_init_value: float = 1e-6
    initial_gate_bias: float | None = None

    def validate_options(self) -> None:
        """Raise `ValueError` naming the option for every bad value."""
        for name in ("input_size", "output_size", "controller_size", "memory_rows", "memory_width", "read_heads",
                     "write_heads"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.shift_range, bool) or not isinstance(self.shift_range, int) or self.shift_range < 0:
            raise ValueError(f"shift_range must be a whole number >= 0, got {self.shift_range!r}.")
        if 2 * self.shift_range + 1 > self.memory_rows:
            raise ValueError(f"shift_range={self.shift_range} allows {2 * self.shift_range + 1} shifts, more than the "
                             f"{self.memory_rows} memory rows; lower it or add rows.")
        if self.controller not in CONTROLLERS:
            raise ValueError(f"Unknown controller {self.controller!r}; expected one of 'lstm', 'feedforward'.")
        if self.memory_init not in MEMORY_INITS:
            raise ValueError(f"Unknown memory_init {self.memory_init!r}; expected one of 'constant', 'learned'.")
        _finite_number("memory_init_value", self.memory_init_value)
        if self.initial_gate_bias is not None:
            _finite_number("initial_gate_bias", self.initial_gate_bias, "a finite number or None")


class LSTMBaselineConfig(_CheckedConfig):
    r"""
    Configuration of the LSTM baseline the Neural Turing Machine paper compares with (section 4): a stack of LSTM
    layers reading the same input vectors and giving one sigmoid output per bit, with no external memory.

    Args:
        input_size (`int`): width of each input vector (the copy task: 8 bits and a delimiter channel, 9).
        output_size (`int`): width of each output vector.
        hidden_size (`int`): units per LSTM layer. The default, 120 in one layer, gives about as many parameters as
            the default `NTMConfig` (64k against 63k), so the two differ in the memory, not in size.
        num_layers (`int`): LSTM layers (the paper's baseline has 3).
    """

    model_type = "ntm_lstm_baseline"

    input_size: int = 9
    output_size: int = 8
    hidden_size: int = 120
    num_layers: int = 1

    def validate_options(self) -> None:
        for name in ("input_size", "output_size", "hidden_size", "num_layers"):
            _positive_int(name, getattr(self, name))


__all__ = ["LSTMBaselineConfig", "NTMConfig"]
