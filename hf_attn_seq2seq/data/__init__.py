"""Data: the tasks as `datasets` pipelines (`tasks`), the date generator (`dates`), the memory tasks (`ntm_tasks`) and
the tokenizers (`tokenization`)."""

from .tasks import DataFileError, load_task, load_translation


__all__ = ["DataFileError", "load_task", "load_translation"]
