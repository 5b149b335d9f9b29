"""R-CNN (2014) and Fast R-CNN (2015): selective-search proposals with torchvision's COCO Faster R-CNN parts.

``models.py`` builds the two detectors, ``selective_search.py`` the region proposals (Uijlings et al. 2013).
"""

from __future__ import annotations

import zoo

from .models import RCNN, FastRCNN


@zoo.hookimpl
def register_models(register):
    register(RCNN)
    register(FastRCNN)
