"""check_answer: right, wrong, missing and odd answers; the message it prints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panda_viz.widgets.teaching import answers_match, check_answer


@pytest.mark.parametrize("answer, expected, kwargs, ok", [
    ((64, 512), (64, 512), {}, True),
    ([64, 512], torch.Size([64, 512]), {}, True),
    ((512, 64), (64, 512), {}, False),
    ((64,), (64, 512), {}, False),
    (0.501, 0.5, {"rtol": 1e-2}, True),
    (0.6, 0.5, {"rtol": 1e-2}, False),
    (True, 1, {}, False),                       # a bool is not a count
    (" Above ", "above", {}, True),
    ("below", "above", {}, False),
    (3, "above", {}, False),
    ("x", 3, {}, False),
    (np.ones(3), torch.ones(3), {}, True),
    (False, False, {}, True),
    (0, False, {}, False),
    (object(), (1, 2), {}, False),
])
def test_answers_match(answer, expected, kwargs, ok):
    assert answers_match(answer, expected, **kwargs) is ok


def test_messages(capsys):
    assert check_answer(None, 3, name="Exercise 1", hint="count the columns") is False
    assert capsys.readouterr().out == "… Exercise 1: not answered yet. Hint: count the columns\n"
    assert check_answer(2, 3, name="Exercise 1", hint="count the columns") is False
    assert capsys.readouterr().out == "✗ Exercise 1: not yet (you gave 2). Hint: count the columns\n"
    assert check_answer(3, 3, name="Exercise 1") is True
    assert capsys.readouterr().out == "✓ Exercise 1: correct.\n"
    assert check_answer(3, 3, quiet=True) is True
    assert capsys.readouterr().out == ""
