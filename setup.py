"""The wheel carries answers/ and templates/ (content at the project's top) inside the package.

Every question folder under answers/ is listed, so that a new question ships without editing
pyproject.toml; everything else is configured there.
"""

from setuptools import find_namespace_packages, setup

CODE = ["derive", *(f"derive.{p}" for p in find_namespace_packages("derive", exclude=["*__pycache__*"]))]
CONTENT = {"derive.answers": "answers", "derive.templates": "templates"}
QUESTIONS = [f"derive.answers.{p}" for p in find_namespace_packages("answers", exclude=["*__pycache__*"])]

setup(packages=CODE + list(CONTENT) + QUESTIONS, package_dir=CONTENT)
