"""`attn-seq2seq`, the one console script: a subcommand per job, each with its module's own options and errors."""

import re
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
