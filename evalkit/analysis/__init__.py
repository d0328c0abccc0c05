"""analysis stage.

The built-in metrics that live in their own modules register themselves on import; importing
them here, in this order, gives the metric registry (and results.json) one fixed order
whichever analysis module a program imports first.
"""

from evalkit.analysis import fields, memorisation, reference, style  # noqa: F401
