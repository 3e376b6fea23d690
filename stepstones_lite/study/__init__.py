"""The study: the paper's claims measured on the course's runs, and the side studies behind ``results/``.

``recipe``          the recipe written once: stage 1 → priors → stage 2 → end-to-end, and the scores read
                    from them (every study below builds its runs through it)
``reproduce``       the arms × seeds study (``stepstones reproduce``) -> ``results/reproduce_<profile>.json``
``knobs``           benchmark-regime knobs, each rerunning the key comparison
``stage1_levers``   levers towards a better stage 1; ``stage2_levers``: stage 2's training prior
``stage1_errors``   stage 1's error split; ``stage2_errors``: stage 2's, object by object
                    (``semantic_errors``)
``noise``           build-to-build noise of one configuration
``tables``          the markdown tables and README blocks, written from the committed JSON
``cli``             ``stepstones study reproduce|knobs|levers|errors|noise|tables``

Every run is a cached :class:`~stepstones_lite.train.Course` artifact: studies share runs with each other and
with the notebooks.
"""

from .reproduce import (
    ALL_ARMS,
    ARM_GROUPS,
    CORE_ARMS,
    PAPER_NUMBERS,
    PRIOR_LEVELS,
    markdown_table,
    per_seed_diff,
    run_study,
    stage1_metrics,
    summarise,
    write_figures,
)

__all__ = [
    "ALL_ARMS",
    "ARM_GROUPS",
    "CORE_ARMS",
    "PAPER_NUMBERS",
    "PRIOR_LEVELS",
    "run_study",
    "summarise",
    "markdown_table",
    "per_seed_diff",
    "write_figures",
    "stage1_metrics",
]
