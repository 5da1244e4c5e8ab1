"""sublearn: run, reproduce and audit subliminal learning.

Subliminal learning (Cloud, Le et al., arXiv 2507.14805) is the transfer of a hidden trait from a teacher model
to a student that shares its initialisation, through data that never mentions the trait.
"""

__version__ = "0.1.0"
