"""Specs and graders shared by the grading tests (built once per session: derivations take a tenth of a second)."""

import pytest

from derive import spec
from derive.grade import grader, questions


def small(top=("L5", "L6"), prelu="channel", shared=False, lower="prelu", upper="linear"):
    """A small two-branch network: one conv layer, then two dense layers named ``top``."""
    text = (f'input = [8, 8, 3]\nprelu = "{prelu}"\nshared_weights = {str(shared).lower()}\n'
            '[[layer]]\nname = "L1"\ntype = "conv"\nkernel = 3\nfilters = 4\nstride = 2\nactivation = "relu"\n'
            f'[[layer]]\nname = "{top[0]}"\ntype = "dense"\nunits = 6\nactivation = "{lower}"\n'
            f'[[layer]]\nname = "{top[1]}"\ntype = "dense"\nunits = 3\nactivation = "{upper}"\n')
    return spec.parse(text, "small")


@pytest.fixture(scope="session")
def exam():
    """The default spec (the exam's reconstruction), untied weights."""
    return questions.Exam(spec.default_spec())


@pytest.fixture(scope="session")
def marker(exam):
    """A grader of the default spec."""
    return grader.Grader(exam)


@pytest.fixture(scope="session")
def named():
    """A grader of a small spec whose dense layers are called fc1 and fc2."""
    return grader.Grader(questions.Exam(small(("fc1", "fc2"))))


@pytest.fixture(scope="session")
def tied():
    """A grader of a small spec with shared weights and one PReLU slope per layer."""
    return grader.Grader(questions.Exam(small(prelu="scalar", shared=True)))
