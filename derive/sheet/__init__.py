"""The correction sheet: answer units loaded from answers/, their inputs, Markdown, LaTeX, Typst and PDF."""
