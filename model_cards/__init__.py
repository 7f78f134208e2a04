"""Model card templates and the generator that fills them from training results."""

from .generate import render_model_card


__all__ = ["render_model_card"]
