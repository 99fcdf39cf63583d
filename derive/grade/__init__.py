"""Grading students' answers to Q1, Q2, Q3 and Q7 against the certified results (``derive grade``)."""
