"""`attn-seq2seq`, the one console script: a subcommand per job, each with its module's own options and errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from training.cli import COMMANDS, main


ROOT = Path(__file__).resolve().parent.parent


def test_the_console_script_is_declared_for_the_one_entry_point():
    scripts = re.search(r"\[project\.scripts\]\n((?:.+\n)+)", (ROOT / "pyproject.toml").read_text()).group(1)
    assert scripts.strip().splitlines() == ['attn-seq2seq = "training.cli:main"']


def test_without_a_subcommand_it_lists_them_and_fails(capsys):
    assert main([]) == 2
    listed = capsys.readouterr().err
    assert all(name in listed for name in ("train", "export", "push", "demo", "compare"))
    assert main(["--help"]) == 0 and "subcommands:" in capsys.readouterr().out


def test_an_unknown_subcommand_is_named(capsys):
    assert main(["trian"]) == 2
    assert "unknown subcommand 'trian'" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_subcommand_shows_its_modules_own_options(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: attn-seq2seq {name} ")


def test_a_subcommand_returns_its_modules_status(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "onnx")]) == 2
    assert "missing" in capsys.readouterr().err


def test_the_programs_ask_torch_for_huge_pages_before_torch_is_imported():
    """Importing `training` sets THP_MEM_ALLOC_ENABLE=1 before torch reads it, and a value the user set wins. torch
    shows that it read it: buffers of 2 MB or more then start on a page boundary (to be advised as huge pages), where
    they otherwise start 64 bytes in."""
    probe = ("import os, training.train, torch; "
             "buffers = [torch.empty(3 << 20, dtype=torch.uint8) for _ in range(4)]; "
             "print(os.environ['THP_MEM_ALLOC_ENABLE'], all(b.data_ptr() % 4096 == 0 for b in buffers))")
    environment = {key: value for key, value in os.environ.items() if key != "THP_MEM_ALLOC_ENABLE"}

    def run(**extra) -> str:
        return subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**environment, **extra},
                              capture_output=True, text=True, check=True).stdout.strip()

    assert run() == "1 True"
    assert run(THP_MEM_ALLOC_ENABLE="0") == "0 False"
