"""Accuracy and speed, computed the same way for every model: localization IoU, COCO AP, latency statistics."""
