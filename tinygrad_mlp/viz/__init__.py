"""Pictures of computation graphs, with Graphviz: what backprop walks.

    draw_graph(loss, params=dict(model.named_parameters()))   # a graphviz.Digraph: shows inline in Jupyter
    to_dot(loss)                                              # its DOT source
    render_graph(loss, "step.svg")                            # a file (svg, png at 2x, pdf or dot)
    render_backward_steps(loss, "steps/")                     # backward step by step: an HTML viewer
    frames, captions = backward_frames(loss)                  # the same steps, inline in Jupyter

``graph`` draws one picture (its docstring is the legend); ``steps`` records backward
node by node and writes the step viewer, whose page is ``page``.
"""

from .graph import (
    DEFAULT_MAX_NODES,
    FORMATS,
    LEGEND,
    PNG_DPI,
    STYLE,
    GraphvizMissing,
    Picture,
    draw_graph,
    render_graph,
    to_dot,
)
from .steps import CURRENT_STROKE, DONE_MARK, DONE_STROKE, StepFrame, backward_frames, render_backward_steps

__all__ = [
    "CURRENT_STROKE",
    "DEFAULT_MAX_NODES",
    "DONE_MARK",
    "DONE_STROKE",
    "FORMATS",
    "LEGEND",
    "PNG_DPI",
    "STYLE",
    "GraphvizMissing",
    "Picture",
    "StepFrame",
    "backward_frames",
    "draw_graph",
    "render_backward_steps",
    "render_graph",
    "to_dot",
]
