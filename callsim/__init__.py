"""Development tools outside the wheel: the call simulator (the test oracle, ``callsim.simulate``)
and the evaluation helpers that score an analysis against its ground truth (``callsim.evaluation``).

Used by tests/, scripts/ and the benchmarks; needs the shared corpora, which do not ship.
"""
