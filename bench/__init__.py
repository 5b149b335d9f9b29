"""zoo measures itself: four ratios, each measured side by side in one run (``python -m bench``).

- fidelity: zoo's median inference latency ÷ a bare ``torch.inference_mode()`` loop over the same module;
- overhead: ``zoo run`` wall time ÷ the time inside the models (their ``load`` and ``predict`` calls);
- scoring: zoo's scoring of a run (COCO AP twice, IoU matching twice) ÷ pycocotools' COCOeval, class-aware;
- memory: peak RSS of a run at 5,000 ``shapes`` images ÷ at 50.

Not part of the installed package; nothing here is asserted in a test (tests/test_bench.py only checks it runs).
"""
