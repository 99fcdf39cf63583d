"""derive: a verified correction sheet for the December 2019 deep-learning exam.

What a script may use (each call imports only what it needs):

- :func:`load_spec`, :func:`parse_spec`: the architecture, from a TOML file or text (default: the exam's);
- :func:`count_params`: Exercise 1, Q3;
- :func:`derive`, :func:`gradients`: the symbolic gradients of Q1, Q2 and Q7, and their report;
- :func:`certify`: every printed formula checked on real tensors;
- :func:`run_experiment`: one of the experiments behind the conceptual answers;
- :func:`build_sheet`: the correction sheet itself;
- :func:`grade_answers`: students' answers to Q1, Q2, Q3 and Q7, graded against the certified results.

Every result that a command prints has a ``render(fmt)`` method giving what it prints.
"""

from derive.version import __version__

__all__ = ["__version__", "build_sheet", "certify", "count_params", "derive", "grade_answers", "gradients", "load_spec",
           "parse_spec", "run_experiment"]


def load_spec(path=None, shared=None, prelu=None):
    """Read and validate a spec file (None: the exam's reconstruction), overriding sharing or PReLU slopes.

    >>> spec = load_spec()
    >>> spec.input, [layer.name for layer in spec.layers][-2:]
    ((32, 32, 3), ['L5', 'L6'])
    >>> load_spec(shared=True).shared_weights
    True
    """
    from derive import spec

    return spec.load(path).with_options(shared=shared, prelu=prelu)


def parse_spec(text: str, source: str = "<spec>"):
    """Validate the TOML text of a spec; a bad one raises DeriveError with one line per problem.

    >>> small = parse_spec('input = [8, 8, 1]\\n[[layer]]\\nname = "F1"\\ntype = "dense"\\nunits = 4\\n'
    ...                    'activation = "prelu"\\n[[layer]]\\nname = "F2"\\ntype = "dense"\\nunits = 2\\n'
    ...                    'activation = "linear"\\n')
    >>> small.shapes()
    [(4,), (2,)]
    """
    from derive import spec

    return spec.parse(text, source)


def count_params(spec=None):
    """The parameter count of Exercise 1, Q3, per layer and under every convention.

    >>> report = count_params()
    >>> report["branch_params"], report["total_params"]
    (1122880, 2245760)
    >>> print(report.render("text").splitlines()[-2])
      unshared weights           2245250         2245760         2245760
    """
    from derive import count

    return count.report(spec or load_spec())


def derive(spec=None, layer: str = "L6", shared=None):
    """The derivation of one layer's gradients ("L6", "L5", the spec's own names, "prelu" or "kl").

    >>> d = derive(layer="L6")
    >>> [case.name for case in d.cases]
    ['same', 'different_inside_margin', 'different_outside_margin']
    >>> d.cases[2].expr
    0
    """
    from derive.symbolic import derivation

    return derivation.derive(spec or load_spec(), layer, shared)


def gradients(spec=None, layer: str = "all", shared=None):
    """What ``derive gradients`` prints, as an object with ``render("text" | "latex" | "markdown" | "json")``.

    >>> print(gradients(layer="L6").render("text").splitlines()[0])
    == L6: upper dense layer (the exam's L6, question 1) ==
    """
    from derive.symbolic import report

    return report.gradients(spec or load_spec(), layer, shared)


def certify(spec=None, data: str = "shapeset", seed: int = 0, *, exhaustive: bool = True, use_torch: bool = True):
    """Check every printed formula on real tensors (finite differences, backprop, autograd); ``.ok`` says all passed.

    >>> small = parse_spec('input = [8, 8, 1]\\n[[layer]]\\nname = "F1"\\ntype = "dense"\\nunits = 4\\n'
    ...                    'activation = "prelu"\\n[[layer]]\\nname = "F2"\\ntype = "dense"\\nunits = 2\\n'
    ...                    'activation = "linear"\\n')
    >>> report = certify(small, use_torch=False)
    >>> report.ok, all(t["checked"] == t["total"] for t in report["tensors"])
    (True, True)
    """
    from derive.certify import certificate

    return certificate.run(spec or load_spec(), data, seed, exhaustive=exhaustive, use_torch=use_torch)


def run_experiment(name: str, spec=None, seed: int = 0, quick: bool = False, cache_dir=None):
    """One experiment (reused from the cache when nothing it depends on has changed).

    >>> import tempfile
    >>> result = run_experiment("vanishing", quick=True, cache_dir=tempfile.mkdtemp())
    >>> result.question, sorted(result.sizes)
    ('Ex. 2 Q4', ['examples', 'hidden_layers', 'width'])
    """
    from derive import experiments

    return experiments.run(name, spec=spec, seed=seed, quick=quick, cache_dir=cache_dir)


def build_sheet(spec=None, lang: str = "fr", formats=("md", "tex", "pdf"), out="build", *, engine: str = "typst",
                cache_dir=None, workers=None, editions=("student", "teacher")):
    """Build the correction sheet, student and teacher editions, into ``out`` (atomically); returns the paths.

    With ``cache_dir`` holding the stored results (``docs/evidence`` has those of the default spec),
    a build only renders:

    >>> import shutil, tempfile
    >>> store = shutil.copytree("docs/evidence", tempfile.mkdtemp() + "/store")
    >>> written = build_sheet(lang="en", formats=("md",), out=tempfile.mkdtemp(), cache_dir=store, workers=0)
    >>> sorted(path.name for path in written if path.suffix in (".md", ".json"))
    ['claims.json', 'corrige-teacher.en.md', 'corrige.en.md']
    """
    from derive.sheet import build

    return build.build(spec or load_spec(), lang, formats, engine, out, cache_dir=cache_dir, workers=workers,
                       editions=editions)


def grade_answers(path, spec=None, shared=None, lang: str = "en", out=None, *, seed: int = 0, time_box: float = 5.0):
    """Grade a CSV (student,question,answer[,case]) or JSON-lines file; with ``out``, write pages and grades.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "copies.csv"
    >>> _ = path.write_text("student,question,answer\\nana,ex1.q3,2 245 760\\nbob,ex1.q3,2244800\\n")
    >>> [(r["verdict"], r["misconceptions"], r["points"]) for r in grade_answers(path).rows()]
    [('correct', [], 1.0), ('incorrect', ['biases_forgotten'], 0.5)]
    """
    from derive.grade import report

    return report.grade(path, spec or load_spec(), shared, lang, seed, time_box, out)
