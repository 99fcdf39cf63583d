"""Exam papers and variants: the paper itself, seeded variants with certified corrigés, the Moodle export."""
